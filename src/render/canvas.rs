//! Where a scene is painted: a small trait with a raster canvas (tiny-skia, encoded as PNG) and a
//! vector one (SVG text). The map is drawn once into a list of operations ([`Op`]) and replayed on
//! either, so both show the same shapes in the same order.

use std::fmt::Write as _;

use tiny_skia::{
    FillRule, LineCap, LineJoin, Paint, PathSegment, Pixmap, Stroke, StrokeDash, Transform,
};

use super::style::Rgba;

/// How a path is outlined.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub colour: Rgba,
    /// Width in px.
    pub width: f32,
    /// Dash and gap lengths in px (`None`: solid).
    pub dash: Option<Vec<f32>>,
}

/// One drawing operation, in canvas pixels.
#[derive(Debug, Clone)]
pub enum Op {
    /// Fills a path (non-zero winding, or even-odd for polygons with holes).
    Fill {
        path: tiny_skia::Path,
        colour: Rgba,
        even_odd: bool,
    },
    /// Outlines a path with round joins and caps.
    Stroke { path: tiny_skia::Path, line: Line },
}

/// A surface the operations are painted on.
pub trait Canvas {
    fn fill(&mut self, path: &tiny_skia::Path, colour: Rgba, even_odd: bool);
    fn stroke(&mut self, path: &tiny_skia::Path, line: &Line);

    /// Paints `ops` in order.
    fn paint(&mut self, ops: &[Op]) {
        for op in ops {
            match op {
                Op::Fill {
                    path,
                    colour,
                    even_odd,
                } => self.fill(path, *colour, *even_odd),
                Op::Stroke { path, line } => self.stroke(path, line),
            }
        }
    }
}

fn paint_of(c: Rgba) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color_rgba8(c.0, c.1, c.2, c.3);
    paint.anti_alias = true;
    paint
}

/// A raster canvas.
#[derive(Debug)]
pub struct PngCanvas {
    pub pixmap: Pixmap,
}

impl PngCanvas {
    /// A canvas of `width` × `height` px filled with `background`; `None` if the size is zero or
    /// too large to allocate.
    pub fn new(width: u32, height: u32, background: Rgba) -> Option<Self> {
        let mut pixmap = Pixmap::new(width, height)?;
        pixmap.fill(tiny_skia::Color::from_rgba8(
            background.0,
            background.1,
            background.2,
            background.3,
        ));
        Some(PngCanvas { pixmap })
    }
}

impl Canvas for PngCanvas {
    fn fill(&mut self, path: &tiny_skia::Path, colour: Rgba, even_odd: bool) {
        let rule = if even_odd {
            FillRule::EvenOdd
        } else {
            FillRule::Winding
        };
        self.pixmap
            .fill_path(path, &paint_of(colour), rule, Transform::identity(), None);
    }

    fn stroke(&mut self, path: &tiny_skia::Path, line: &Line) {
        let stroke = Stroke {
            width: line.width,
            line_cap: LineCap::Round,
            line_join: LineJoin::Round,
            dash: line
                .dash
                .as_ref()
                .and_then(|d| StrokeDash::new(d.clone(), 0.0)),
            ..Stroke::default()
        };
        self.pixmap.stroke_path(
            path,
            &paint_of(line.colour),
            &stroke,
            Transform::identity(),
            None,
        );
    }
}

/// A vector canvas: an SVG document with one `<path>` per operation.
#[derive(Debug)]
pub struct SvgCanvas {
    out: String,
}

/// A coordinate to two decimals (a hundredth of a pixel), without a trailing `.00`.
fn num(out: &mut String, v: f32) {
    let r = (v * 100.0).round() / 100.0;
    // `-0` prints as `0`.
    let r = if r == 0.0 { 0.0 } else { r };
    let _ = write!(out, "{r}");
}

fn path_data(path: &tiny_skia::Path) -> String {
    let mut d = String::with_capacity(path.len() * 12);
    let pt = |d: &mut String, p: tiny_skia::Point| {
        num(d, p.x);
        d.push(' ');
        num(d, p.y);
    };
    for seg in path.segments() {
        match seg {
            PathSegment::MoveTo(p) => {
                d.push('M');
                pt(&mut d, p);
            }
            PathSegment::LineTo(p) => {
                d.push('L');
                pt(&mut d, p);
            }
            PathSegment::QuadTo(c, p) => {
                d.push('Q');
                pt(&mut d, c);
                d.push(' ');
                pt(&mut d, p);
            }
            PathSegment::CubicTo(c1, c2, p) => {
                d.push('C');
                pt(&mut d, c1);
                d.push(' ');
                pt(&mut d, c2);
                d.push(' ');
                pt(&mut d, p);
            }
            PathSegment::Close => d.push('Z'),
        }
    }
    d
}

fn opacity(out: &mut String, attr: &str, c: Rgba) {
    if c.3 != 255 {
        let _ = write!(out, " {attr}=\"{:.3}\"", c.3 as f32 / 255.0);
    }
}

impl SvgCanvas {
    /// An SVG document of `width` × `height` px with a `background` rectangle.
    pub fn new(width: u32, height: u32, background: Rgba) -> Self {
        let mut out = String::new();
        let _ = write!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
             width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n\
             <rect width=\"{width}\" height=\"{height}\" fill=\"{}\"/>\n",
            background.hex()
        );
        SvgCanvas { out }
    }

    /// The finished document.
    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

impl Canvas for SvgCanvas {
    fn fill(&mut self, path: &tiny_skia::Path, colour: Rgba, even_odd: bool) {
        let _ = write!(
            self.out,
            "<path d=\"{}\" fill=\"{}\"",
            path_data(path),
            colour.hex()
        );
        opacity(&mut self.out, "fill-opacity", colour);
        if even_odd {
            self.out.push_str(" fill-rule=\"evenodd\"");
        }
        self.out.push_str("/>\n");
    }

    fn stroke(&mut self, path: &tiny_skia::Path, line: &Line) {
        let _ = write!(
            self.out,
            "<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"",
            path_data(path),
            line.colour.hex()
        );
        num(&mut self.out, line.width);
        self.out
            .push_str("\" stroke-linejoin=\"round\" stroke-linecap=\"round\"");
        opacity(&mut self.out, "stroke-opacity", line.colour);
        if let Some(dash) = &line.dash {
            self.out.push_str(" stroke-dasharray=\"");
            for (i, v) in dash.iter().enumerate() {
                if i > 0 {
                    self.out.push(' ');
                }
                num(&mut self.out, *v);
            }
            self.out.push('"');
        }
        self.out.push_str("/>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> tiny_skia::Path {
        tiny_skia::PathBuilder::from_rect(tiny_skia::Rect::from_ltrb(2.0, 2.0, 8.0, 8.0).unwrap())
    }

    #[test]
    fn both_canvases_paint_the_same_operations() {
        let ops = vec![
            Op::Fill {
                path: square(),
                colour: Rgba::rgb(255, 0, 0),
                even_odd: false,
            },
            Op::Stroke {
                path: square(),
                line: Line {
                    colour: Rgba(0, 0, 255, 128),
                    width: 1.5,
                    dash: Some(vec![3.0, 2.0]),
                },
            },
        ];
        let mut png = PngCanvas::new(10, 10, Rgba::rgb(255, 255, 255)).unwrap();
        png.paint(&ops);
        let p = png.pixmap.pixel(5, 5).unwrap();
        assert_eq!((p.red(), p.green(), p.blue()), (255, 0, 0));
        let p = png.pixmap.pixel(0, 0).unwrap();
        assert_eq!((p.red(), p.green(), p.blue()), (255, 255, 255));
        let mut svg = SvgCanvas::new(10, 10, Rgba::rgb(255, 255, 255));
        svg.paint(&ops);
        let text = svg.finish();
        assert!(
            text.contains("<path d=\"M2 2L8 2L8 8L2 8Z\" fill=\"#ff0000\"/>"),
            "{text}"
        );
        assert!(text.contains("stroke-dasharray=\"3 2\""), "{text}");
        assert!(text.contains("stroke-opacity=\"0.502\""), "{text}");
        assert!(text.ends_with("</svg>\n"));
    }
}
