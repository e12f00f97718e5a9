//! Text as filled outlines: each glyph of the embedded DejaVu Sans (assets/fonts, Bitstream Vera
//! licence) is turned into a path, so the PNG and the SVG draw the same shapes and the binary
//! needs no font on the host.

use std::sync::LazyLock;

use ab_glyph::{Font, FontRef, GlyphId, OutlineCurve, PxScale, ScaleFont};
use tiny_skia::PathBuilder;

static REGULAR_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static BOLD_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// The two faces, parsed once. The files are part of the binary, so a failure is a build defect;
/// `None` then draws no text rather than failing the map.
static REGULAR: LazyLock<Option<FontRef<'static>>> =
    LazyLock::new(|| FontRef::try_from_slice(REGULAR_TTF).ok());
static BOLD: LazyLock<Option<FontRef<'static>>> =
    LazyLock::new(|| FontRef::try_from_slice(BOLD_TTF).ok());

/// The face of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    Regular,
    Bold,
}

fn font(weight: Weight) -> Option<&'static FontRef<'static>> {
    match weight {
        Weight::Regular => REGULAR.as_ref(),
        Weight::Bold => BOLD.as_ref(),
    }
}

/// Glyphs with their pen positions, the advance, and the face.
type Laid = (Vec<(GlyphId, f32)>, f32, &'static FontRef<'static>);

/// The glyphs of `text` with their pen positions (px from the text's start), and the advance.
fn layout(text: &str, size: f32, weight: Weight) -> Option<Laid> {
    let f = font(weight)?;
    let scaled = f.as_scaled(PxScale::from(size));
    let mut pen = 0.0;
    let mut prev: Option<GlyphId> = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        glyphs.push((id, pen));
        pen += scaled.h_advance(id);
        prev = Some(id);
    }
    Some((glyphs, pen, f))
}

/// The width of `text` at `size` px.
pub fn width(text: &str, size: f32, weight: Weight) -> f32 {
    layout(text, size, weight).map_or(0.0, |(_, w, _)| w)
}

/// The distance from the baseline to the top of the tallest letters at `size` px.
pub fn ascent(size: f32) -> f32 {
    font(Weight::Regular).map_or(size * 0.76, |f| f.as_scaled(PxScale::from(size)).ascent())
}

/// The outline of `text` at `size` px with its baseline starting at (`x`, `baseline`); `None` for
/// text with no visible glyph.
pub fn path(
    text: &str,
    x: f32,
    baseline: f32,
    size: f32,
    weight: Weight,
) -> Option<tiny_skia::Path> {
    let (glyphs, _, f) = layout(text, size, weight)?;
    let scaled = f.as_scaled(PxScale::from(size));
    let (sx, sy) = (scaled.h_scale_factor(), scaled.v_scale_factor());
    let mut pb = PathBuilder::new();
    for (id, pen) in glyphs {
        let Some(outline) = f.outline(id) else {
            continue;
        };
        let ox = x + pen;
        // Font units have y up; the canvas has y down.
        let p = |q: ab_glyph::Point| (ox + q.x * sx, baseline - q.y * sy);
        let mut last: Option<(f32, f32)> = None;
        for curve in &outline.curves {
            let start = match curve {
                OutlineCurve::Line(a, _)
                | OutlineCurve::Quad(a, _, _)
                | OutlineCurve::Cubic(a, ..) => p(*a),
            };
            if last != Some(start) {
                if last.is_some() {
                    pb.close();
                }
                pb.move_to(start.0, start.1);
            }
            let end = match curve {
                OutlineCurve::Line(_, b) => {
                    let b = p(*b);
                    pb.line_to(b.0, b.1);
                    b
                }
                OutlineCurve::Quad(_, c, b) => {
                    let (c, b) = (p(*c), p(*b));
                    pb.quad_to(c.0, c.1, b.0, b.1);
                    b
                }
                OutlineCurve::Cubic(_, c1, c2, b) => {
                    let (c1, c2, b) = (p(*c1), p(*c2), p(*b));
                    pb.cubic_to(c1.0, c1.1, c2.0, c2.1, b.0, b.1);
                    b
                }
            };
            last = Some(end);
        }
        if last.is_some() {
            pb.close();
        }
    }
    pb.finish()
}

/// Breaks `text` into lines of at most `max_width` px at `size` (at spaces; a word longer than the
/// line stands alone).
pub fn wrap(text: &str, size: f32, weight: Weight, max_width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if !line.is_empty() && width(&candidate, size, weight) > max_width {
            lines.push(std::mem::replace(&mut line, word.to_owned()));
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_fonts_load_and_draw_text() {
        assert!(REGULAR.is_some() && BOLD.is_some());
        let w = width("Syr Darya", 20.0, Weight::Regular);
        assert!(w > 60.0 && w < 140.0, "{w}");
        assert!(width("Syr Darya", 20.0, Weight::Bold) > w);
        let p = path("Syr Darya", 10.0, 30.0, 20.0, Weight::Regular).unwrap();
        let b = p.bounds();
        // Letters sit on the baseline, "y" descends below it.
        assert!(b.left() >= 10.0 && b.right() <= 10.0 + w + 1.0, "{b:?}");
        assert!(
            b.top() > 10.0 && b.top() < 30.0 && b.bottom() > 30.0,
            "{b:?}"
        );
        assert!(path("   ", 0.0, 0.0, 20.0, Weight::Regular).is_none());
        assert!(ascent(20.0) > 10.0);
    }

    #[test]
    fn long_text_wraps_at_spaces() {
        let lines = wrap("one two three four five six", 20.0, Weight::Regular, 120.0);
        assert!(lines.len() > 1, "{lines:?}");
        assert_eq!(lines.join(" "), "one two three four five six");
        for l in &lines {
            assert!(width(l, 20.0, Weight::Regular) <= 120.0 || !l.contains(' '));
        }
    }
}
