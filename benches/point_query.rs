//! Criterion benches of the per-point queries on the default data, over seeded random points in the
//! basin (lon 60–78, lat 38–47), so runs are comparable.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tailings_atlas::analysis::Analyzer;

fn points(n: usize) -> Vec<[f64; 2]> {
    let mut rng = StdRng::seed_from_u64(7);
    (0..n)
        .map(|_| [rng.random_range(60.0..78.0), rng.random_range(38.0..47.0)])
        .collect()
}

fn bench(c: &mut Criterion) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let reference = tailings_atlas::io::layers::load_reference_dir(&data).expect("default data");
    let analyzer = Analyzer::new(&reference);
    let pts = points(1_024);
    let mut i = 0;
    let mut next = move || {
        i = (i + 1) % pts.len();
        pts[i]
    };
    c.bench_function("proximity (country, river, border, downstream)", |b| {
        b.iter(|| {
            let p = next();
            analyzer.proximity(p[0], p[1], None)
        })
    });
    let pts = points(1_024);
    let mut j = 0;
    c.bench_function("point_analysis (proximity + runout, as flat fields)", |b| {
        b.iter(|| {
            j = (j + 1) % pts.len();
            analyzer.point_analysis(pts[j], None, Some(1e6), Some(20.0))
        })
    });
}

/// Karney's inverse problem alone, on pairs 1–75 km apart in the basin (the distances the analysis
/// prints): the floor under the per-point cost, as every printed distance is one of these.
fn geodesic(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(11);
    let pairs: Vec<([f64; 2], [f64; 2])> = points(1_024)
        .into_iter()
        .map(|p| {
            let (d_deg, azi) = (
                rng.random_range(0.01..0.7),
                rng.random_range(0.0..std::f64::consts::TAU),
            );
            (p, [p[0] + d_deg * azi.cos(), p[1] + d_deg * azi.sin()])
        })
        .collect();
    let mut k = 0;
    c.bench_function("geodesic inverse (Karney), 1-75 km", |b| {
        b.iter(|| {
            k = (k + 1) % pairs.len();
            let (p, q) = pairs[k];
            tailings_atlas::geodesy::distance_m(p, q)
        })
    });
}

criterion_group!(benches, bench, geodesic);
criterion_main!(benches);
