//! Plain, readable HTML pages for browsers: every page links to its JSON twin.

use serde_json::{Map, Value};

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page with a title, a trail of (href, label) links, the body, and a link to the JSON version.
pub fn page(title: &str, trail: &[(String, String)], body: &str, json_href: &str) -> String {
    let crumbs: Vec<String> = trail
        .iter()
        .map(|(href, label)| format!("<a href=\"{}\">{}</a>", esc(href), esc(label)))
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} – tailings-atlas</title><link rel=\"icon\" href=\"data:,\">\
         <style>body{{font-family:system-ui,sans-serif;max-width:70rem;margin:1rem auto;padding:0 1rem;color:#222}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}}\
         nav{{margin-bottom:1rem}}code{{background:#f4f4f4}}</style></head><body>\
         <nav>{crumbs} · <a href=\"{json}\">JSON</a></nav><h1>{title}</h1>\n{body}\n</body></html>\n",
        title = esc(title),
        crumbs = crumbs.join(" / "),
        json = esc(json_href),
    )
}

/// A value as table-cell text: strings bare, null empty, anything else as JSON.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => esc(s),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|s| {
                if s.starts_with("http://") || s.starts_with("https://") {
                    format!("<a href=\"{0}\">{0}</a>", esc(s))
                } else {
                    esc(s)
                }
            })
            .collect::<Vec<_>>()
            .join("<br>"),
        other => format!("<code>{}</code>", esc(&other.to_string())),
    }
}

/// A two-column table of properties.
pub fn properties_table(props: &Map<String, Value>) -> String {
    let rows: String = props
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), cell(v)))
        .collect();
    format!("<table>{rows}</table>")
}
