//! Criterion benches of the per-point queries on the default data, over seeded random points in the
//! basin (lon 60–78, lat 38–47), so runs are comparable.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tailings_atlas::analysis::Analyzer;
use tailings_atlas::reference::ReferenceData;

fn points(n: usize) -> Vec<[f64; 2]> {
    let mut rng = StdRng::seed_from_u64(7);
    (0..n)
        .map(|_| [rng.random_range(60.0..78.0), rng.random_range(38.0..47.0)])
        .collect()
}

fn bench(c: &mut Criterion) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let reference = ReferenceData::load(&data).expect("default data");
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

criterion_group!(benches, bench);
criterion_main!(benches);
