//! The map's colours and line weights, in one place. Sites by risk class (a colour-blind-safe
//! sequential ramp from green to dark red), rivers by downstream hazard load on a yellow–red ramp
//! over a thin blue network, countries in light pastel fills (the four basin countries each their
//! own, neighbours one neutral tone).

/// An sRGB colour with straight (not premultiplied) alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgba(pub u8, pub u8, pub u8, pub u8);

impl Rgba {
    /// An opaque colour.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Rgba(r, g, b, 255)
    }

    /// The same colour with alpha `a`.
    pub const fn with_alpha(self, a: u8) -> Self {
        Rgba(self.0, self.1, self.2, a)
    }

    /// `#rrggbb` (SVG), without the alpha.
    pub fn hex(&self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// Whether this colour is within `tolerance` of `other` in every channel (alpha included).
    pub fn near(&self, other: Rgba, tolerance: u8) -> bool {
        let d = |a: u8, b: u8| a.abs_diff(b) <= tolerance;
        d(self.0, other.0) && d(self.1, other.1) && d(self.2, other.2) && d(self.3, other.3)
    }
}

/// Outside every country polygon (the data's clip frame and beyond).
pub const BACKGROUND: Rgba = Rgba::rgb(0xe3, 0xea, 0xef);
/// Lakes and reservoirs.
pub const LAKE: Rgba = Rgba::rgb(0xa6, 0xd0, 0xec);
/// Their shorelines, and the dashed historic shoreline of the Aral Sea.
pub const LAKE_EDGE: Rgba = Rgba::rgb(0x5e, 0x9c, 0xc8);
/// The plain river network.
pub const RIVER: Rgba = Rgba::rgb(0x4a, 0x8c, 0xcc);
/// International borders.
pub const BORDER: Rgba = Rgba::rgb(0x3d, 0x2c, 0x4f);
/// Border-crossing hotspots.
pub const HOTSPOT: Rgba = Rgba::rgb(0x8e, 0x24, 0xaa);
/// The outline of a hotspot and of a site marker.
pub const HALO: Rgba = Rgba::rgb(0xff, 0xff, 0xff);
/// A site without a `risk_class` property.
pub const UNSCORED: Rgba = Rgba::rgb(0x8a, 0x8a, 0x8a);
/// Text.
pub const INK: Rgba = Rgba::rgb(0x1e, 0x1e, 0x1e);
/// Secondary text (subtitle, attribution).
pub const INK_SOFT: Rgba = Rgba::rgb(0x4a, 0x4a, 0x4a);
/// The boxes behind the title, legend and attribution.
pub const PANEL: Rgba = Rgba(0xff, 0xff, 0xff, 0xe6);
/// Their frames.
pub const PANEL_EDGE: Rgba = Rgba::rgb(0xa0, 0xa0, 0xa0);

/// The risk classes, lowest first (the draw order: the highest on top), with their legend labels
/// and colours.
pub const CLASSES: [(&str, &str, Rgba); 4] = [
    ("low", "Low", Rgba::rgb(0x1a, 0x98, 0x50)),
    ("medium", "Medium", Rgba::rgb(0xf2, 0xc2, 0x0f)),
    ("high", "High", Rgba::rgb(0xf0, 0x6c, 0x1a)),
    ("very_high", "Very high", Rgba::rgb(0xb5, 0x10, 0x1e)),
];

/// The colour of a site of `class` (grey when it has none or an unknown one).
pub fn class_colour(class: Option<&str>) -> Rgba {
    class
        .and_then(|c| CLASSES.iter().find(|(id, _, _)| *id == c))
        .map_or(UNSCORED, |(_, _, colour)| *colour)
}

/// The position of `class` in the draw order (unscored sites first, below the scored ones).
pub fn class_rank(class: Option<&str>) -> usize {
    class
        .and_then(|c| CLASSES.iter().position(|(id, _, _)| *id == c))
        .map_or(0, |i| i + 1)
}

/// A light fill for a country: the basin's four countries each their own, others one neutral tone.
pub fn country_fill(iso3: Option<&str>) -> Rgba {
    match iso3 {
        Some("KAZ") => Rgba::rgb(0xf4, 0xec, 0xcf),
        Some("KGZ") => Rgba::rgb(0xf5, 0xdc, 0xd6),
        Some("TJK") => Rgba::rgb(0xdf, 0xee, 0xd8),
        Some("UZB") => Rgba::rgb(0xe3, 0xe0, 0xf2),
        _ => Rgba::rgb(0xee, 0xec, 0xe6),
    }
}

/// The load ramp's stops, from no load to the layer's largest.
const LOAD_STOPS: [(f32, Rgba); 4] = [
    (0.0, Rgba::rgb(0x74, 0xad, 0xd1)),
    (0.35, Rgba::rgb(0xfe, 0xd9, 0x76)),
    (0.7, Rgba::rgb(0xf4, 0x6d, 0x43)),
    (1.0, Rgba::rgb(0xa5, 0x00, 0x26)),
];

/// The colour of a reach at `t` in [0, 1] on the load scale.
pub fn load_colour(t: f32) -> Rgba {
    let t = t.clamp(0.0, 1.0);
    let i = LOAD_STOPS
        .windows(2)
        .position(|w| t <= w[1].0)
        .unwrap_or(LOAD_STOPS.len() - 2);
    let ((t0, a), (t1, b)) = (LOAD_STOPS[i], LOAD_STOPS[i + 1]);
    let f = (t - t0) / (t1 - t0);
    let mix = |x: u8, y: u8| (x as f32 + (y as f32 - x as f32) * f).round() as u8;
    Rgba::rgb(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A reach's line width at `t` on the load scale, in px at the reference width (2,000 px).
pub fn load_width(t: f32) -> f32 {
    1.3 + 4.7 * t.clamp(0.0, 1.0)
}

/// Where `load` sits on the load scale whose top is `max`: logarithmic, so that the many small
/// loads stay apart while the few large ones stand out.
pub fn load_position(load: f64, max: f64) -> f32 {
    if max <= 0.0 || load <= 0.0 {
        return 0.0;
    }
    ((1.0 + load).ln() / (1.0 + max).ln()).clamp(0.0, 1.0) as f32
}

/// A hotspot's radius for `load` (the layer's largest is `max`), in px at the reference width:
/// the area grows with the load.
pub fn hotspot_radius(load: f64, max: f64) -> f32 {
    let share = if max > 0.0 {
        (load / max).clamp(0.0, 1.0)
    } else {
        0.0
    };
    3.5 + 12.5 * share.sqrt() as f32
}

/// A site marker's radius, in px at the reference width.
pub const SITE_RADIUS: f32 = 4.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_ramp_runs_from_its_first_stop_to_its_last() {
        assert_eq!(load_colour(0.0), LOAD_STOPS[0].1);
        assert_eq!(load_colour(1.0), LOAD_STOPS[3].1);
        assert_eq!(load_colour(0.35), LOAD_STOPS[1].1);
        assert_eq!(load_colour(-1.0), LOAD_STOPS[0].1);
        assert!(load_width(1.0) > load_width(0.5) && load_width(0.5) > load_width(0.0));
        assert!(load_position(10.0, 100.0) < load_position(50.0, 100.0));
        assert_eq!(load_position(100.0, 100.0), 1.0);
        assert_eq!(load_position(5.0, 0.0), 0.0);
        assert!(hotspot_radius(100.0, 100.0) > hotspot_radius(1.0, 100.0));
    }

    #[test]
    fn classes_have_their_colours_and_unknown_ones_are_grey() {
        assert_eq!(class_colour(Some("very_high")), CLASSES[3].2);
        assert_eq!(class_colour(Some("extreme")), UNSCORED);
        assert_eq!(class_colour(None), UNSCORED);
        assert!(class_rank(Some("very_high")) > class_rank(Some("low")));
        assert_eq!(class_rank(None), 0);
    }
}
