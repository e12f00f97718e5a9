//! Plain, readable HTML pages for browsers, from the templates in `templates/` (askama: checked
//! when the crate compiles, every value escaped unless a template marks a nested template `safe`).
//! Every page links to its JSON twin. The page structs that fill a template live beside their
//! handlers; what several pages share is here.

use askama::Template;
use serde_json::Value;

use super::error::ApiError;
use crate::catalog::Collection;
use crate::schema::FieldDef;

/// What every page has: a title, a trail of (href, label) links, and the link to its JSON version.
pub struct Page {
    pub title: String,
    pub trail: Vec<(String, String)>,
    pub json_href: String,
    /// The pages' style sheet (a file: the Content-Security-Policy allows no inline style).
    pub css: String,
}

impl Page {
    pub fn new(
        title: impl Into<String>,
        trail: Vec<(String, String)>,
        json_href: impl Into<String>,
    ) -> Self {
        Page {
            title: title.into(),
            trail,
            json_href: json_href.into(),
            css: super::webmap::asset("pages.css"),
        }
    }
}

/// The trail of a page just below the landing page.
pub fn home() -> Vec<(String, String)> {
    vec![("/".to_owned(), "Home".to_owned())]
}

/// The trail of a collection's page.
pub fn collections_trail() -> Vec<(String, String)> {
    let mut trail = home();
    trail.push(("/collections?f=html".to_owned(), "Collections".to_owned()));
    trail
}

/// The trail of the pages below a collection's (its items, its queryables).
pub fn collection_trail(c: &Collection) -> Vec<(String, String)> {
    let mut trail = collections_trail();
    trail.push((
        format!("/collections/{}?f=html", c.id()),
        c.spec.title.to_owned(),
    ));
    trail
}

/// Renders a page. Writing a template's values cannot fail short of a bug; if it does, that is an
/// internal error, logged with its cause.
pub fn render(template: &impl Template) -> Result<String, ApiError> {
    template.render().map_err(ApiError::internal_from)
}

/// One line of a list cell; a link when it is an http(s) URL.
pub struct Line {
    pub text: String,
    pub link: bool,
}

/// A value as a table cell: strings bare, a list of strings one per line (URLs as links), null
/// empty, anything else as JSON.
#[derive(Template, Default)]
#[template(path = "cell.html")]
pub struct Cell {
    pub text: Option<String>,
    pub lines: Vec<Line>,
    pub code: Option<String>,
}

impl Cell {
    pub fn of(v: &Value) -> Cell {
        match v {
            Value::Null => Cell::default(),
            Value::String(s) => Cell {
                text: Some(s.clone()),
                ..Cell::default()
            },
            Value::Array(items) if items.iter().all(Value::is_string) => Cell {
                lines: items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|s| Line {
                        text: s.to_owned(),
                        link: s.starts_with("http://") || s.starts_with("https://"),
                    })
                    .collect(),
                ..Cell::default()
            },
            other => Cell {
                code: Some(other.to_string()),
                ..Cell::default()
            },
        }
    }
}

/// A field's unit and meaning, as the one schema gives them, for a table's third column or a
/// column head's tooltip.
pub fn about(f: &FieldDef) -> String {
    match f.unit {
        Some(unit) => format!("{unit} · {}", f.description),
        None => f.description.to_owned(),
    }
}

/// The small map of a page's own features (read from `src`, the page's GeoJSON twin).
#[derive(Template)]
#[template(path = "feature_map.html")]
pub struct FeatureMap {
    pub css: String,
    pub src: String,
    pub maplibre: String,
    pub script: String,
}

/// Escapes text for HTML where no template writes it: the attribution that MapLibre shows as HTML
/// from inside the style's JSON.
pub fn escape(text: &str) -> String {
    askama::filters::escape(text, askama::filters::Html)
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Template)]
    #[template(path = "conformance.html")]
    struct Probe<'a> {
        page: Page,
        classes: &'a [&'a str],
    }

    #[test]
    fn every_value_is_escaped() {
        let trail = [("/?a=1&b=\"2\"".to_owned(), "<Home>".to_owned())];
        let html = render(&Probe {
            page: Page::new("<script>alert(1)</script>", trail.to_vec(), "/x?f=json&y=1"),
            classes: &["<b>&</b>"],
        })
        .unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{html}"
        );
        assert!(
            html.contains("<li>&#60;b&#62;&#38;&#60;/b&#62;</li>"),
            "{html}"
        );
        assert!(html.contains("href=\"/?a=1&#38;b=&#34;2&#34;\""), "{html}");
        assert!(html.contains("&#60;Home&#62;"), "{html}");
        assert!(html.starts_with("<!DOCTYPE html>"));
    }

    #[test]
    fn cells_link_only_web_urls() {
        let v = serde_json::json!([
            "https://example.org/a?b=1&c=2",
            "javascript:alert(1)",
            "<i>"
        ]);
        let html = Cell::of(&v).render().unwrap();
        assert_eq!(
            html,
            "<a href=\"https://example.org/a?b=1&#38;c=2\">https://example.org/a?b=1&#38;c=2</a>\
             <br>javascript:alert(1)<br>&#60;i&#62;"
        );
        let obj = Cell::of(&serde_json::json!({"k": "<v>"})).render().unwrap();
        assert_eq!(obj, "<code>{&#34;k&#34;:&#34;&#60;v&#62;&#34;}</code>");
        assert_eq!(Cell::of(&Value::Null).render().unwrap(), "");
    }
}
