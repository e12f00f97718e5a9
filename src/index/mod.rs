//! R-trees over features (by envelope, refined exactly) and over the segments of line layers.
//!
//! Coordinates are WGS 84 degrees. These trees answer "which features touch this box" and give
//! candidates for nearest searches; any decision in metres is made by the caller on those candidates.

use std::borrow::Borrow;

use geo::{BoundingRect, Intersects, Rect, coord};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Line as RLine, Rectangle};
use rstar::{AABB, RTree};
use thiserror::Error;

/// Why a bounding box is not acceptable.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{0}")]
pub struct BBoxError(String);

/// A WGS 84 bounding box in the OGC/RFC 7946 sense: `west` may exceed `east`, meaning the box crosses
/// the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

impl BBox {
    /// Checks ranges: longitudes in [-180, 180], latitudes in [-90, 90], south <= north.
    ///
    /// ```
    /// use tailings_atlas::index::BBox;
    /// let b = BBox::new(170.0, -10.0, -170.0, 10.0).unwrap();
    /// assert!(b.crosses_antimeridian());
    /// assert!(BBox::new(0.0, 10.0, 1.0, 5.0).is_err());
    /// ```
    pub fn new(west: f64, south: f64, east: f64, north: f64) -> Result<Self, BBoxError> {
        for (name, v, lim) in [
            ("west", west, 180.0),
            ("south", south, 90.0),
            ("east", east, 180.0),
            ("north", north, 90.0),
        ] {
            if !v.is_finite() || v < -lim || v > lim {
                return Err(BBoxError(format!(
                    "{name} = {v} is outside [-{lim}, {lim}]"
                )));
            }
        }
        if south > north {
            return Err(BBoxError(format!(
                "south ({south}) is greater than north ({north})"
            )));
        }
        Ok(BBox {
            west,
            south,
            east,
            north,
        })
    }

    /// Whether the box wraps across the 180° meridian.
    pub fn crosses_antimeridian(&self) -> bool {
        self.west > self.east
    }

    /// The box as one or two ordinary rectangles (split at the antimeridian).
    pub fn rects(&self) -> Vec<Rect<f64>> {
        if self.crosses_antimeridian() {
            vec![
                Rect::new(
                    coord! { x: self.west, y: self.south },
                    coord! { x: 180.0, y: self.north },
                ),
                Rect::new(
                    coord! { x: -180.0, y: self.south },
                    coord! { x: self.east, y: self.north },
                ),
            ]
        } else {
            vec![Rect::new(
                coord! { x: self.west, y: self.south },
                coord! { x: self.east, y: self.north },
            )]
        }
    }

    /// Whether a point lies in the box, boundary included.
    pub fn contains_point(&self, lon: f64, lat: f64) -> bool {
        let in_lat = lat >= self.south && lat <= self.north;
        let in_lon = if self.crosses_antimeridian() {
            lon >= self.west || lon <= self.east
        } else {
            lon >= self.west && lon <= self.east
        };
        in_lat && in_lon
    }
}

/// The rstar envelope of a rectangle.
pub(crate) fn aabb(r: &Rect<f64>) -> AABB<[f64; 2]> {
    AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y])
}

/// An R-tree over the envelopes of a list of geometries, answering exact box-intersection queries.
#[derive(Debug, Clone)]
pub struct FeatureIndex {
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
}

impl FeatureIndex {
    /// Bulk-loads the envelopes of `geoms`; entry `i` refers to `geoms[i]`. Empty geometries are left out.
    pub fn new<G: Borrow<geo::Geometry<f64>> + Sync>(geoms: &[G]) -> Self {
        let entries = geoms
            .par_iter()
            .enumerate()
            .filter_map(|(i, g)| {
                let r = g.borrow().bounding_rect()?;
                Some(GeomWithData::new(
                    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                    i,
                ))
            })
            .collect();
        FeatureIndex {
            tree: RTree::bulk_load(entries),
        }
    }

    /// Indexes of the geometries that intersect `bbox` (boundary included), ascending. `geometry_of(i)`
    /// must return the geometry entry `i` was built from.
    pub fn query<'g>(
        &self,
        bbox: &BBox,
        geometry_of: impl Fn(usize) -> &'g geo::Geometry<f64>,
    ) -> Vec<usize> {
        let mut hits: Vec<usize> = Vec::new();
        for rect in bbox.rects() {
            for entry in self.tree.locate_in_envelope_intersecting(&aabb(&rect)) {
                let i = entry.data;
                // The envelope test is only a filter: a river's envelope may touch the box while the
                // river itself does not.
                if geometry_of(i).intersects(&rect) {
                    hits.push(i);
                }
            }
        }
        hits.sort_unstable();
        hits.dedup();
        hits
    }

    /// Number of indexed geometries.
    pub fn len(&self) -> usize {
        self.tree.size()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    /// Removes entry `i`, whose geometry is `g`.
    pub fn remove(&mut self, i: usize, g: &geo::Geometry<f64>) {
        if let Some(r) = g.bounding_rect() {
            self.tree.remove(&GeomWithData::new(
                Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                i,
            ));
        }
    }

    /// Re-indexes entry `i`: drops its old envelope (`old`, if it had one) and adds `new`'s.
    pub fn replace(
        &mut self,
        i: usize,
        old: Option<&geo::Geometry<f64>>,
        new: &geo::Geometry<f64>,
    ) {
        let entry = |r: Rect<f64>| {
            GeomWithData::new(
                Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                i,
            )
        };
        if let Some(r) = old.and_then(|g| g.bounding_rect()) {
            self.tree.remove(&entry(r));
        }
        if let Some(r) = new.bounding_rect() {
            self.tree.insert(entry(r));
        }
    }
}

/// The position of cell `(x, y)` along a Z-order (Morton) curve: cells near each other in both
/// directions come near each other in the order, which keeps work on one place together in memory.
pub fn z_order(x: u16, y: u16) -> u32 {
    let spread = |v: u16| {
        let mut v = u32::from(v);
        v = (v | (v << 8)) & 0x00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333;
        (v | (v << 1)) & 0x5555_5555
    };
    spread(x) | (spread(y) << 1)
}

/// Which feature, and which segment of it, an indexed segment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentRef {
    /// Index of the parent feature in its layer.
    pub feature: usize,
    /// Index of the part (for multi-lines; 0 for a line string).
    pub part: usize,
    /// Index of the segment within the part: it joins vertex `segment` and `segment + 1`.
    pub segment: usize,
}

/// An R-tree over the individual segments of line features (rivers, borders), each knowing its parent.
#[derive(Debug, Clone)]
pub struct SegmentIndex {
    tree: RTree<GeomWithData<RLine<[f64; 2]>, SegmentRef>>,
}

fn line_parts(g: &geo::Geometry<f64>) -> Vec<&geo::LineString<f64>> {
    match g {
        geo::Geometry::LineString(l) => vec![l],
        geo::Geometry::MultiLineString(m) => m.0.iter().collect(),
        geo::Geometry::GeometryCollection(c) => c.0.iter().flat_map(line_parts).collect(),
        _ => Vec::new(),
    }
}

/// Every segment of the lines and multi-lines of `geoms` (split in parallel), each with its parent;
/// other geometry types are ignored.
pub fn segments_of<G: Borrow<geo::Geometry<f64>> + Sync>(
    geoms: &[G],
) -> Vec<([f64; 2], [f64; 2], SegmentRef)> {
    geoms
        .par_iter()
        .enumerate()
        .flat_map_iter(|(feature, g)| {
            line_parts(g.borrow())
                .into_iter()
                .enumerate()
                .flat_map(move |(part, ls)| {
                    ls.lines().enumerate().map(move |(segment, l)| {
                        (
                            [l.start.x, l.start.y],
                            [l.end.x, l.end.y],
                            SegmentRef {
                                feature,
                                part,
                                segment,
                            },
                        )
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

impl SegmentIndex {
    /// Splits every line and multi-line of `geoms` into segments (in parallel) and bulk-loads them.
    /// Other geometry types are ignored.
    pub fn new<G: Borrow<geo::Geometry<f64>> + Sync>(geoms: &[G]) -> Self {
        let entries: Vec<_> = segments_of(geoms)
            .into_iter()
            .map(|(a, b, r)| GeomWithData::new(RLine::new(a, b), r))
            .collect();
        SegmentIndex {
            tree: RTree::bulk_load(entries),
        }
    }

    /// Number of indexed segments.
    pub fn len(&self) -> usize {
        self.tree.size()
    }

    /// Whether no segment is indexed.
    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    /// Segments whose envelope intersects `[west, south, east, north]`; the box may extend past ±180°
    /// (the overhang is searched on the other side).
    pub fn in_rect(
        &self,
        rect: [f64; 4],
    ) -> impl Iterator<Item = ([f64; 2], [f64; 2], SegmentRef)> + '_ {
        let [west, south, east, north] = rect;
        let mut boxes = vec![AABB::from_corners([west, south], [east, north])];
        if west < -180.0 {
            boxes.push(AABB::from_corners([west + 360.0, south], [180.0, north]));
        }
        if east > 180.0 {
            boxes.push(AABB::from_corners([-180.0, south], [east - 360.0, north]));
        }
        boxes
            .into_iter()
            .flat_map(move |b| {
                self.tree
                    .locate_in_envelope_intersecting(&b)
                    .collect::<Vec<_>>()
            })
            .map(|e| (e.geom().from, e.geom().to, e.data))
    }

    /// Every segment, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = ([f64; 2], [f64; 2], SegmentRef)> + '_ {
        self.tree
            .iter()
            .map(|e| (e.geom().from, e.geom().to, e.data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn random_points(rng: &mut StdRng, n: usize) -> Vec<geo::Geometry<f64>> {
        (0..n)
            .map(|_| {
                // Snap some coordinates to a coarse grid so that points on box edges occur.
                let mut c = || -> (f64, f64) {
                    let lon = rng.random_range(-180.0..=180.0f64);
                    let lat = rng.random_range(-90.0..=90.0f64);
                    if rng.random_bool(0.2) {
                        (lon.round(), lat.round())
                    } else {
                        (lon, lat)
                    }
                };
                let (lon, lat) = c();
                geo::Geometry::Point(geo::Point::new(lon, lat))
            })
            .collect()
    }

    fn random_bbox(rng: &mut StdRng) -> BBox {
        let w = rng.random_range(-180.0..=180.0f64).round();
        let e = rng.random_range(-180.0..=180.0f64).round();
        let a = rng.random_range(-90.0..=90.0f64).round();
        let b = rng.random_range(-90.0..=90.0f64).round();
        BBox::new(w, a.min(b), e, a.max(b)).unwrap()
    }

    #[test]
    fn bbox_query_equals_linear_scan() {
        let mut rng = StdRng::seed_from_u64(0x5eed_0001);
        let points = random_points(&mut rng, 20_000);
        let index = FeatureIndex::new(&points);
        assert_eq!(index.len(), points.len());
        let mut crossing = 0;
        for _ in 0..300 {
            let bbox = random_bbox(&mut rng);
            crossing += usize::from(bbox.crosses_antimeridian());
            let expected: Vec<usize> = points
                .iter()
                .enumerate()
                .filter(|(_, g)| match g {
                    geo::Geometry::Point(p) => bbox.contains_point(p.x(), p.y()),
                    _ => false,
                })
                .map(|(i, _)| i)
                .collect();
            assert_eq!(
                index.query(&bbox, |i| &points[i]),
                expected,
                "bbox {bbox:?}"
            );
        }
        assert!(crossing > 50, "the test must exercise antimeridian boxes");
    }

    #[test]
    fn line_query_is_exact_not_envelope() {
        // A diagonal line whose envelope covers the box corner but which passes far from it.
        let line = geo::Geometry::LineString(geo::LineString::from(vec![(0.0, 0.0), (10.0, 10.0)]));
        let geoms = vec![line];
        let index = FeatureIndex::new(&geoms);
        let corner = BBox::new(8.0, 0.0, 10.0, 2.0).unwrap();
        assert!(index.query(&corner, |i| &geoms[i]).is_empty());
        let on_line = BBox::new(4.0, 4.0, 6.0, 6.0).unwrap();
        assert_eq!(index.query(&on_line, |i| &geoms[i]), vec![0]);
    }

    #[test]
    fn segments_know_their_parent() {
        let geoms = vec![
            geo::Geometry::LineString(geo::LineString::from(vec![
                (0.0, 0.0),
                (1.0, 0.0),
                (2.0, 0.0),
            ])),
            geo::Geometry::Point(geo::Point::new(5.0, 5.0)),
            geo::Geometry::MultiLineString(geo::MultiLineString(vec![
                geo::LineString::from(vec![(10.0, 10.0), (11.0, 10.0)]),
                geo::LineString::from(vec![(20.0, 20.0), (21.0, 20.0), (21.0, 21.0)]),
            ])),
        ];
        let index = SegmentIndex::new(&geoms);
        assert_eq!(index.len(), 2 + 1 + 2);
        let hits: Vec<_> = index.in_rect([20.5, 20.5, 21.5, 21.5]).collect();
        assert_eq!(hits.len(), 1);
        let (from, to, r) = hits[0];
        assert_eq!((from, to), ([21.0, 20.0], [21.0, 21.0]));
        assert_eq!(
            r,
            SegmentRef {
                feature: 2,
                part: 1,
                segment: 1
            }
        );
    }

    #[test]
    fn z_order_interleaves_the_bits() {
        assert_eq!(z_order(0, 0), 0);
        assert_eq!(z_order(1, 0), 1);
        assert_eq!(z_order(0, 1), 2);
        assert_eq!(z_order(3, 3), 15);
        assert_eq!(z_order(u16::MAX, 0), 0x5555_5555);
        assert_eq!(z_order(0, u16::MAX), 0xAAAA_AAAA);
    }

    #[test]
    fn bbox_validation() {
        assert!(BBox::new(-181.0, 0.0, 0.0, 1.0).is_err());
        assert!(BBox::new(0.0, -91.0, 1.0, 1.0).is_err());
        assert!(BBox::new(0.0, f64::NAN, 1.0, 1.0).is_err());
        assert!(
            BBox::new(170.0, 0.0, -170.0, 1.0)
                .unwrap()
                .crosses_antimeridian()
        );
        let b = BBox::new(170.0, -5.0, -170.0, 5.0).unwrap();
        assert!(b.contains_point(175.0, 0.0) && b.contains_point(-175.0, 0.0));
        assert!(!b.contains_point(0.0, 0.0));
    }
}
