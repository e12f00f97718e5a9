//! The map's frame: a WGS 84 box drawn in Web Mercator (EPSG:3857, the projection of the web map and
//! the vector tiles, conformal, so shapes and the north arrow hold everywhere on the map), its size
//! in pixels, and the ground distance a pixel covers at the map's centre latitude (for the scale
//! bar; Mercator's scale varies with latitude, by about ±10 % over the basin's 37–47° N).

use super::RenderError;

/// The most a map may be wide or tall, in pixels (an 8,000 × 8,000 RGBA canvas is 256 MB).
pub const MAX_SIDE: u32 = 8000;
/// The least a map may be wide, in pixels: below it the legend no longer fits.
pub const MIN_WIDTH: u32 = 200;
/// The least a map may be tall, in pixels.
pub const MIN_HEIGHT: u32 = 100;
/// Web Mercator's latitude limit.
pub const MAX_LAT: f64 = 85.051_128_779_806_59;
/// The least span of a box, in degrees (about 1 km).
pub const MIN_SPAN_DEG: f64 = 0.01;

/// Half the equator of the WGS 84 sphere Web Mercator uses, in metres per radian.
const R: f64 = 6_378_137.0;

/// A box in WGS 84 degrees: west < east (maps do not cross the antimeridian), south < north.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

fn bad_bbox(reason: impl Into<String>) -> RenderError {
    RenderError::BadParameter {
        param: "bbox",
        reason: reason.into(),
    }
}

impl Bounds {
    /// A checked box.
    pub fn new(west: f64, south: f64, east: f64, north: f64) -> Result<Self, RenderError> {
        if ![west, south, east, north].iter().all(|v| v.is_finite()) {
            return Err(bad_bbox("every value must be a finite number"));
        }
        if !(-180.0..=180.0).contains(&west) || !(-180.0..=180.0).contains(&east) {
            return Err(bad_bbox(format!(
                "longitudes must lie in [-180, 180], got west {west} and east {east}"
            )));
        }
        if !(-MAX_LAT..=MAX_LAT).contains(&south) || !(-MAX_LAT..=MAX_LAT).contains(&north) {
            return Err(bad_bbox(format!(
                "latitudes must lie in [-85.05, 85.05] (Web Mercator), got south {south} and north {north}"
            )));
        }
        if west >= east {
            return Err(bad_bbox(format!(
                "west ({west}) must be less than east ({east}); a map does not cross the antimeridian"
            )));
        }
        if south >= north {
            return Err(bad_bbox(format!(
                "south ({south}) must be less than north ({north})"
            )));
        }
        if east - west < MIN_SPAN_DEG || north - south < MIN_SPAN_DEG {
            return Err(bad_bbox(format!(
                "the box must span at least {MIN_SPAN_DEG}° each way"
            )));
        }
        Ok(Bounds {
            west,
            south,
            east,
            north,
        })
    }

    /// Parses `W,S,E,N` (degrees, WGS 84).
    pub fn parse(text: &str) -> Result<Self, RenderError> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        if parts.len() != 4 {
            return Err(bad_bbox(format!(
                "expected 4 comma-separated numbers (west,south,east,north), got {}",
                parts.len()
            )));
        }
        let mut v = [0.0; 4];
        for (slot, part) in v.iter_mut().zip(&parts) {
            *slot = part
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad_bbox(format!("{part:?} is not a number")))?;
        }
        Bounds::new(v[0], v[1], v[2], v[3])
    }

    /// `W,S,E,N` as given to [`Bounds::parse`] (shortest round-trip form of each number).
    pub fn text(&self) -> String {
        format!("{},{},{},{}", self.west, self.south, self.east, self.north)
    }
}

fn merc_y(lat: f64) -> f64 {
    R * (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0)
        .tan()
        .ln()
}

fn merc_x(lon: f64) -> f64 {
    R * lon.to_radians()
}

/// The frame: a box at a width; the height follows from the box's aspect in Web Mercator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    pub bounds: Bounds,
    pub width: u32,
    pub height: u32,
    x0: f64,
    y1: f64,
    /// Projected metres per pixel (equal in x and y).
    res: f64,
}

impl View {
    /// The frame of `bounds` at `width` px; the height (from the box's aspect) must lie in
    /// [[`MIN_HEIGHT`], [`MAX_SIDE`]].
    pub fn new(bounds: Bounds, width: u32) -> Result<Self, RenderError> {
        check_width(width)?;
        let (x0, x1) = (merc_x(bounds.west), merc_x(bounds.east));
        let (y0, y1) = (merc_y(bounds.south), merc_y(bounds.north));
        let res = (x1 - x0) / width as f64;
        let height = ((y1 - y0) / res).round();
        if height > MAX_SIDE as f64 {
            return Err(bad_bbox(format!(
                "at width {width} this box makes a map {height} px tall; the most is {MAX_SIDE} \
                 (widen the box east–west or ask for a smaller width)"
            )));
        }
        if height < MIN_HEIGHT as f64 {
            return Err(bad_bbox(format!(
                "at width {width} this box makes a map {height} px tall; the least is {MIN_HEIGHT} \
                 (widen the box north–south or ask for a larger width)"
            )));
        }
        Ok(View {
            bounds,
            width,
            height: height as u32,
            x0,
            y1,
            res,
        })
    }

    /// The pixel position (x right, y down, from the top-left corner) of a WGS 84 point.
    pub fn px(&self, lon: f64, lat: f64) -> (f32, f32) {
        let lat = lat.clamp(-MAX_LAT, MAX_LAT);
        (
            ((merc_x(lon) - self.x0) / self.res) as f32,
            ((self.y1 - merc_y(lat)) / self.res) as f32,
        )
    }

    /// The WGS 84 point at a pixel position (the inverse of [`View::px`]).
    pub fn lonlat(&self, x: f64, y: f64) -> (f64, f64) {
        let mx = self.x0 + x * self.res;
        let my = self.y1 - y * self.res;
        let lat = (2.0 * (my / R).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees();
        ((mx / R).to_degrees(), lat)
    }

    /// How much larger than at the reference width (2,000 px) lines, markers and text are drawn:
    /// a map twice as wide is the same map at twice the resolution.
    pub fn scale(&self) -> f32 {
        (self.width as f32 / super::DEFAULT_WIDTH as f32).clamp(0.35, 4.0)
    }

    /// The geodesic ground distance (WGS 84) one pixel covers east–west at the centre latitude,
    /// in metres.
    pub fn ground_m_per_px(&self) -> f64 {
        let lat = (self.bounds.south + self.bounds.north) / 2.0;
        let lon = (self.bounds.west + self.bounds.east) / 2.0;
        let deg_per_px = (self.bounds.east - self.bounds.west) / self.width as f64;
        // Ten pixels: short enough that the geodesic and the parallel agree to far below a pixel.
        let half = 5.0 * deg_per_px;
        crate::geodesy::distance_m([lon - half, lat], [lon + half, lat]) / 10.0
    }
}

/// Checks a width in px.
pub fn check_width(width: u32) -> Result<(), RenderError> {
    if (MIN_WIDTH..=MAX_SIDE).contains(&width) {
        Ok(())
    } else {
        Err(RenderError::BadParameter {
            param: "width",
            reason: format!("{width} is outside [{MIN_WIDTH}, {MAX_SIDE}] (pixels)"),
        })
    }
}

/// Parses a width in px: an integer in [[`MIN_WIDTH`], [`MAX_SIDE`]].
pub fn parse_width(text: &str) -> Result<u32, RenderError> {
    let t = text.trim();
    let bad = |reason: String| RenderError::BadParameter {
        param: "width",
        reason,
    };
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!("{text:?} is not a positive integer")));
    }
    // All digits: a parse failure is an overflow, out of range like any other too large number.
    let w = t
        .parse::<u32>()
        .map_err(|_| bad(format!("{t} is outside [{MIN_WIDTH}, {MAX_SIDE}] (pixels)")))?;
    check_width(w)?;
    Ok(w)
}

/// The round length for a scale bar of at most `max_m` metres: 1, 2 or 5 times a power of ten.
pub fn round_length_m(max_m: f64) -> f64 {
    if max_m <= 0.0 || !max_m.is_finite() {
        return 0.0;
    }
    let p = 10f64.powf(max_m.log10().floor());
    [5.0, 2.0, 1.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&l| l <= max_m)
        .unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basin() -> Bounds {
        Bounds::new(60.0, 37.0, 78.0, 47.0).unwrap()
    }

    #[test]
    fn pixels_and_points_round_trip_and_corners_map_to_corners() {
        let v = View::new(basin(), 2000).unwrap();
        assert_eq!(v.px(60.0, 47.0), (0.0, 0.0));
        let (x, y) = v.px(78.0, 37.0);
        assert!((x - 2000.0).abs() < 1e-3 && (y - v.height as f32).abs() < 1.0);
        let (lon, lat) = v.lonlat(700.0, 400.0);
        let (x, y) = v.px(lon, lat);
        assert!((x - 700.0).abs() < 1e-3 && (y - 400.0).abs() < 1e-3);
        // Mercator stretches the north: 10° of latitude at 37–47° N take more pixels than
        // 10° of longitude's 1,111 px.
        assert!(v.height > 1111 && v.height < 1600, "{}", v.height);
    }

    #[test]
    fn a_pixel_covers_the_geodesic_distance_at_the_centre_latitude() {
        let v = View::new(basin(), 2000).unwrap();
        // 18° of longitude at 42° N on WGS 84: 111.32 km · cos 42° ≈ 82.9 km per degree (pyproj's
        // Geod gives 82.95 km); 2,000 px over 18°.
        let m = v.ground_m_per_px();
        assert!((m - 82_950.0 * 18.0 / 2000.0).abs() < 20.0, "{m}");
        assert_eq!(round_length_m(180_000.0), 100_000.0);
        assert_eq!(round_length_m(250_000.0), 200_000.0);
        assert_eq!(round_length_m(600.0), 500.0);
        assert_eq!(round_length_m(1.0), 1.0);
    }

    #[test]
    fn bad_boxes_and_widths_are_refused_naming_the_parameter() {
        let bbox = |t: &str| match Bounds::parse(t) {
            Err(RenderError::BadParameter { param, reason }) => format!("{param}: {reason}"),
            other => panic!("{t}: {other:?}"),
        };
        assert!(bbox("1,2,3").contains("expected 4"));
        assert!(bbox("a,2,3,4").contains("\"a\" is not a number"));
        assert!(bbox("10,40,5,45").contains("antimeridian"));
        assert!(bbox("60,45,70,40").contains("south"));
        assert!(bbox("60,40,190,45").contains("[-180, 180]"));
        assert!(bbox("60,40,70,89").contains("Web Mercator"));
        assert!(bbox("60,40,60.001,45").contains("at least"));
        assert!(bbox("nan,40,70,45").contains("not a number"));
        let width = |t: &str| match parse_width(t) {
            Err(RenderError::BadParameter { param, reason }) => format!("{param}: {reason}"),
            other => panic!("{t}: {other:?}"),
        };
        assert!(width("8001").contains("outside [200, 8000]"));
        assert!(width("99999999999999999999").contains("outside"));
        assert!(width("199").contains("outside"));
        assert!(width("-5").contains("not a positive integer"));
        assert!(width("2e3").contains("not a positive integer"));
        assert_eq!(parse_width(" 2000 ").unwrap(), 2000);
        // A box too flat or too tall for the width.
        let flat = Bounds::new(0.0, 40.0, 100.0, 40.5).unwrap();
        assert!(matches!(
            View::new(flat, 2000),
            Err(RenderError::BadParameter { param: "bbox", .. })
        ));
        let tall = Bounds::new(60.0, -80.0, 61.0, 80.0).unwrap();
        assert!(matches!(
            View::new(tall, 2000),
            Err(RenderError::BadParameter { param: "bbox", .. })
        ));
        assert!(matches!(
            View::new(basin(), 100),
            Err(RenderError::BadParameter { param: "width", .. })
        ));
    }
}
