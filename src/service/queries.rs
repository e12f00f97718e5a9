//! Queries over the published inventory, as library functions: typed inputs, typed outputs, and an
//! error naming the input at fault. Nothing here knows HTTP; the API parses a request into a query,
//! runs it on the blocking pool and shapes the answer.
//!
//! Distances are geodesic metres on WGS 84.

use thiserror::Error;

use crate::catalog::SiteTable;
use crate::model::{Iso3, SiteKind};
use crate::service::{Live, Service};

/// The largest `k` of [`nearest_sites`].
pub const MAX_K: usize = 1_000;

/// A query that cannot run as given.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum QueryError {
    /// An input is outside its domain; `param` names it as the caller spelled it.
    #[error("parameter `{param}`: {reason}")]
    BadParameter { param: &'static str, reason: String },
    /// The catalog has no sites collection to search.
    #[error("no sites collection")]
    NoSites,
}

impl QueryError {
    fn bad(param: &'static str, reason: impl Into<String>) -> Self {
        QueryError::BadParameter {
            param,
            reason: reason.into(),
        }
    }
}

/// The sites near an international border.
#[derive(Debug, Clone, PartialEq)]
pub struct NearBorderQuery {
    /// Only sites within this distance of the border (metres, finite, not negative).
    pub within_m: f64,
    /// Only sites declared in this country.
    pub country: Option<Iso3>,
    /// The border between each site's country and this one, rather than the site's nearest border.
    pub neighbour: Option<Iso3>,
    /// Only sites of this kind.
    pub kind: Option<SiteKind>,
}

/// A site found by a query, with its published GeoJSON feature (as the catalog serves it).
#[derive(Debug, Clone)]
pub struct SiteHit {
    pub id: String,
    /// Geodesic metres from the site to what was asked (a border, a point), unrounded.
    pub distance_m: f64,
    /// The country across the border measured, if any.
    pub neighbour: Option<String>,
    /// The GeoJSON Feature text.
    pub geojson: String,
}

/// The k sites nearest a point.
#[derive(Debug, Clone, PartialEq)]
pub struct NearestQuery {
    /// Longitude and latitude, WGS 84 degrees.
    pub point: [f64; 2],
    /// How many sites, in `[1, MAX_K]`.
    pub k: usize,
}

/// The answer to a [`NearestQuery`]: nearest first.
#[derive(Debug, Clone)]
pub struct Nearest {
    pub hits: Vec<SiteHit>,
    /// How many sites were searched.
    pub searched: usize,
}

fn sites(live: &Live) -> Result<&SiteTable, QueryError> {
    live.sites().ok_or(QueryError::NoSites)
}

/// The sites within `q.within_m` of a border, nearest first (ties by id), each with its distance and
/// the country across. With `q.neighbour`, each site's distance to that neighbour's border is searched,
/// so the time grows with the inventory: run it off the executor threads. The published state is not
/// held during the search; a site removed meanwhile is left out.
pub fn near_border(service: &Service, q: &NearBorderQuery) -> Result<Vec<SiteHit>, QueryError> {
    if !q.within_m.is_finite() || q.within_m < 0.0 {
        return Err(QueryError::bad(
            "within_m",
            format!("{} is not a distance in metres", q.within_m),
        ));
    }
    // What the search needs, copied out: only the sites whose nearest border is close enough, as
    // the border to any one neighbour is never nearer than the nearest border.
    struct Candidate {
        id: String,
        point: [f64; 2],
        own: Option<Iso3>,
        border_m: Option<f64>,
        nearest_neighbour: Option<String>,
        /// The nearest border line's two sides and its unrounded distance: when they are the
        /// site's country and the neighbour asked for, that line is also the nearest of theirs.
        nearest_sides: [Option<Iso3>; 2],
        nearest_m: Option<f64>,
    }
    let max_m = q.within_m;
    let candidates: Vec<Candidate> = {
        let live = service.live();
        let t = sites(&live)?;
        // The published distance is rounded to 0.1 m: half of that more keeps every site whose
        // border to a given neighbour is within `max_m`.
        let reach_m = if q.neighbour.is_some() {
            max_m + 0.05
        } else {
            max_m
        };
        t.within_border_m(reach_m)
            .filter_map(|i| t.get(i))
            .filter(|r| {
                q.country.as_ref().is_none_or(|w| r.site.country == *w)
                    && q.kind.is_none_or(|k| r.site.kind == k)
            })
            .map(|r| {
                let a = &r.analysis;
                Candidate {
                    id: r.site.id.to_string(),
                    point: r.point(),
                    own: a.country.clone().or_else(|| Some(r.site.country.clone())),
                    border_m: a.border_distance_m(),
                    nearest_neighbour: a
                        .border
                        .as_ref()
                        .and_then(|b| b.neighbour_country.as_ref())
                        .map(|c| c.as_str().to_owned()),
                    nearest_sides: a
                        .border
                        .as_ref()
                        .map_or([None, None], |b| b.countries.clone()),
                    nearest_m: a.border.as_ref().map(|b| b.distance_m),
                }
            })
            .collect()
    };
    let mut hits: Vec<(f64, String, Option<String>)> = candidates
        .into_iter()
        .filter_map(|c| {
            let (distance, neighbour) = match &q.neighbour {
                None => (c.border_m, c.nearest_neighbour),
                // The border between the site's country and that neighbour, which need not be the
                // site's nearest border.
                Some(nb) => (
                    c.own.as_ref().and_then(|own| {
                        let [l, r] = &c.nearest_sides;
                        let same_pair = (l.as_ref() == Some(own) && r.as_ref() == Some(nb))
                            || (l.as_ref() == Some(nb) && r.as_ref() == Some(own));
                        // The nearest line of all is one of theirs: no line of theirs is nearer,
                        // so the search need look no further than it (a much smaller search).
                        let limit_m = match c.nearest_m {
                            Some(d) if same_pair => max_m.min(d * (1.0 + 1e-6) + 1e-3),
                            _ => max_m,
                        };
                        service
                            .analyzer
                            .border_distance_between(c.point, own, nb, limit_m)
                    }),
                    Some(nb.as_str().to_owned()),
                ),
            };
            distance
                .filter(|d| *d <= max_m)
                .map(|d| (d, c.id, neighbour))
        })
        .collect();
    hits.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let live = service.live();
    let t = sites(&live)?;
    Ok(hits
        .into_iter()
        .filter_map(|(distance_m, id, neighbour)| {
            let geojson = t.record(&id)?.geojson();
            Some(SiteHit {
                id,
                distance_m,
                neighbour,
                geojson,
            })
        })
        .collect())
}

/// The `q.k` sites nearest `q.point`, nearest first, with their geodesic distances.
pub fn nearest_sites(service: &Service, q: &NearestQuery) -> Result<Nearest, QueryError> {
    if q.k == 0 || q.k > MAX_K {
        return Err(QueryError::bad(
            "k",
            format!("{} is out of range [1, {MAX_K}]", q.k),
        ));
    }
    let [lon, lat] = q.point;
    if !(-180.0..=180.0).contains(&lon) {
        return Err(QueryError::bad(
            "lon",
            format!("{lon} is outside [-180, 180]"),
        ));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(QueryError::bad(
            "lat",
            format!("{lat} is outside [-90, 90]"),
        ));
    }
    let live = service.live();
    let t = sites(&live)?;
    let hits = t
        .nearest_k(q.point, q.k)
        .into_iter()
        .filter_map(|(i, distance_m)| {
            let r = t.get(i)?;
            Some(SiteHit {
                id: r.site.id.to_string(),
                distance_m,
                neighbour: None,
                geojson: r.geojson(),
            })
        })
        .collect();
    Ok(Nearest {
        hits,
        searched: t.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Site, SiteDraft};
    use crate::reference::ReferenceData;
    use crate::service::Atlas;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn site(i: usize, lon: f64, lat: f64, country: &str, kind: &str) -> Site {
        Site::try_from(SiteDraft {
            id: Some(format!("s{i:03}")),
            name: Some(format!("Site {i}")),
            kind: Some(kind.into()),
            activity: Some("test".into()),
            country: Some(country.into()),
            status: Some("unknown".into()),
            lon: Some(lon),
            lat: Some(lat),
            precision: Some("site".into()),
            sources: vec!["seeded test data".into()],
            ..Default::default()
        })
        .unwrap()
    }

    fn service(sites: &[Site]) -> Service {
        Service::new(Atlas::build(sites, &ReferenceData::default()).unwrap())
    }

    fn random_sites(seed: u64, n: usize) -> Vec<Site> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|i| {
                site(
                    i,
                    rng.random_range(60.0..78.0),
                    rng.random_range(38.0..47.0),
                    ["KAZ", "KGZ", "TJK", "UZB"][rng.random_range(0..4)],
                    ["tailings", "hazardous_site"][rng.random_range(0..2)],
                )
            })
            .collect()
    }

    fn iso3(s: &str) -> Option<Iso3> {
        Some(Iso3::parse(s, "country").unwrap())
    }

    #[test]
    fn nearest_sites_are_sorted_and_are_the_brute_force_nearest() {
        let sites = random_sites(0x5EED, 200);
        let svc = service(&sites);
        let p = [70.0, 41.0];
        let r = nearest_sites(&svc, &NearestQuery { point: p, k: 7 }).unwrap();
        assert_eq!(r.searched, 200);
        assert_eq!(r.hits.len(), 7);
        assert!(
            r.hits
                .windows(2)
                .all(|w| w[0].distance_m <= w[1].distance_m)
        );
        let mut brute: Vec<(f64, String)> = sites
            .iter()
            .map(|s| {
                let d = crate::geodesy::distance_m(p, [s.location.lon(), s.location.lat()]);
                (d, s.id.as_str().to_owned())
            })
            .collect();
        brute.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (hit, (d, id)) in r.hits.iter().zip(&brute) {
            assert_eq!(&hit.id, id);
            assert!(
                (hit.distance_m - d).abs() < 1e-6,
                "{} vs {d}",
                hit.distance_m
            );
            assert!(hit.geojson.contains(id.as_str()));
        }
    }

    /// Near-border answers, with and without a neighbour, equal a search of every site's distance
    /// to that neighbour's border, on the real borders and the seed plus 3,000 seeded sites.
    #[test]
    fn near_border_equals_searching_every_site() {
        let mut sites = crate::service::test_sites::seed_sites();
        sites.extend(crate::service::test_sites::seeded_sites(3_000, 21));
        let svc =
            Service::new(Atlas::build(&sites, crate::service::test_sites::reference()).unwrap());
        let countries = ["KAZ", "KGZ", "TJK", "UZB", "CHN", "AFG"];
        let mut found = 0;
        for within_m in [500.0, 5_000.0] {
            for own in countries.iter().take(4) {
                for nb in countries {
                    let q = NearBorderQuery {
                        within_m,
                        country: iso3(own),
                        neighbour: iso3(nb),
                        kind: None,
                    };
                    let got: Vec<(String, f64)> = near_border(&svc, &q)
                        .unwrap()
                        .into_iter()
                        .map(|h| (h.id, h.distance_m))
                        .collect();
                    let live = svc.live();
                    let t = live.sites().unwrap();
                    let mut brute: Vec<(String, f64)> = t
                        .records()
                        .iter()
                        .filter(|r| r.site.country.as_str() == *own)
                        .filter_map(|r| {
                            let o = r.analysis.country.clone().unwrap_or(r.site.country.clone());
                            let d = svc.analyzer.border_distance_between(
                                r.point(),
                                &o,
                                &iso3(nb).unwrap(),
                                within_m,
                            )?;
                            (d <= within_m).then(|| (r.site.id.to_string(), d))
                        })
                        .collect();
                    brute.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
                    assert_eq!(got, brute, "{own}-{nb} within {within_m} m");
                    found += got.len();
                }
            }
        }
        assert!(found > 50, "{found}");
    }

    #[test]
    fn bad_inputs_name_the_parameter() {
        let svc = service(&random_sites(1, 5));
        for (q, param) in [
            (
                NearestQuery {
                    point: [70.0, 41.0],
                    k: 0,
                },
                "k",
            ),
            (
                NearestQuery {
                    point: [70.0, 41.0],
                    k: MAX_K + 1,
                },
                "k",
            ),
            (
                NearestQuery {
                    point: [181.0, 41.0],
                    k: 1,
                },
                "lon",
            ),
            (
                NearestQuery {
                    point: [70.0, f64::NAN],
                    k: 1,
                },
                "lat",
            ),
        ] {
            match nearest_sites(&svc, &q) {
                Err(QueryError::BadParameter { param: p, .. }) => assert_eq!(p, param),
                other => panic!("{q:?}: {other:?}"),
            }
        }
        for within_m in [-1.0, f64::INFINITY, f64::NAN] {
            let q = NearBorderQuery {
                within_m,
                country: None,
                neighbour: None,
                kind: None,
            };
            assert!(matches!(
                near_border(&svc, &q),
                Err(QueryError::BadParameter {
                    param: "within_m",
                    ..
                })
            ));
        }
    }

    #[test]
    fn near_border_filters_and_orders() {
        // Without reference layers no site has a border distance: nothing is near a border.
        let svc = service(&random_sites(2, 50));
        let all = NearBorderQuery {
            within_m: 1e6,
            country: None,
            neighbour: None,
            kind: None,
        };
        assert!(near_border(&svc, &all).unwrap().is_empty());
        let with_neighbour = NearBorderQuery {
            neighbour: iso3("uzb"),
            ..all
        };
        assert!(near_border(&svc, &with_neighbour).unwrap().is_empty());
    }

    #[test]
    fn near_border_on_the_default_data() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let reference = crate::io::layers::load_reference_dir(&data).unwrap();
        let sites =
            crate::reference::seed::read_seed_sites(&data.join(crate::reference::SITES_SPEC.file))
                .unwrap();
        let svc = Service::new(Atlas::build(&sites, &reference).unwrap());
        let q = NearBorderQuery {
            within_m: 10_000.0,
            country: None,
            neighbour: None,
            kind: None,
        };
        let hits = near_border(&svc, &q).unwrap();
        assert!(!hits.is_empty());
        assert!(hits.windows(2).all(|w| w[0].distance_m <= w[1].distance_m));
        assert!(hits.iter().all(|h| h.distance_m <= 10_000.0));
        assert!(hits.iter().all(|h| h.neighbour.is_some()));
        // Filters only narrow the answer, and every hit passes them.
        let kgz = near_border(
            &svc,
            &NearBorderQuery {
                country: iso3("KGZ"),
                kind: Some(SiteKind::Tailings),
                ..q.clone()
            },
        )
        .unwrap();
        assert!(kgz.len() <= hits.len());
        for h in &kgz {
            let f: serde_json::Value = serde_json::from_str(&h.geojson).unwrap();
            assert_eq!(f["properties"]["country"], "KGZ");
            assert_eq!(f["properties"]["kind"], "tailings");
        }
        // Measured to a named neighbour: that neighbour, within the distance, nearest first.
        let uzb = near_border(
            &svc,
            &NearBorderQuery {
                neighbour: iso3("UZB"),
                ..q
            },
        )
        .unwrap();
        assert!(!uzb.is_empty());
        assert!(uzb.windows(2).all(|w| w[0].distance_m <= w[1].distance_m));
        for h in &uzb {
            assert_eq!(h.neighbour.as_deref(), Some("UZB"));
            assert!(h.distance_m <= 10_000.0);
        }
    }
}
