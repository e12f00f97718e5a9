//! Index and catalog benchmarks on deterministic data (seeded), so runs are comparable.
//!
//! `cargo bench --bench index` measures; under `cargo test --all-targets` (no `--bench` flag) the
//! same code runs once on small inputs, so it cannot rot.

use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tailings_atlas::index::{BBox, FeatureIndex, SegmentIndex};

fn time<T>(label: &str, reps: u32, mut f: impl FnMut() -> T) -> Duration {
    let t0 = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(f());
    }
    let per = t0.elapsed() / reps.max(1);
    println!("{label:<60} {per:>12.2?} per run");
    per
}

fn main() {
    let measure = std::env::args().any(|a| a == "--bench");
    let (n_points, n_boxes, reps) = if measure {
        (100_000, 1_000, 5)
    } else {
        (2_000, 20, 1)
    };
    let mut rng = StdRng::seed_from_u64(42);
    let points: Vec<geo::Geometry<f64>> = (0..n_points)
        .map(|_| {
            geo::Geometry::Point(geo::Point::new(
                rng.random_range(55.0..82.0),
                rng.random_range(34.0..50.0),
            ))
        })
        .collect();
    let boxes: Vec<BBox> = (0..n_boxes)
        .map(|_| {
            let w = rng.random_range(55.0..81.0);
            let s = rng.random_range(34.0..49.0);
            BBox::new(w, s, w + 0.5, s + 0.5).unwrap()
        })
        .collect();

    time(
        &format!("FeatureIndex::new, {n_points} points"),
        reps,
        || FeatureIndex::new(&points),
    );
    let index = FeatureIndex::new(&points);
    let tree = time(
        &format!("{n_boxes} bbox queries (0.5°), R-tree"),
        reps,
        || {
            boxes
                .iter()
                .map(|b| index.query(b, |i| &points[i]).len())
                .sum::<usize>()
        },
    );
    let scan = time(
        &format!("{n_boxes} bbox queries (0.5°), linear scan"),
        reps,
        || {
            boxes
            .iter()
            .map(|b| {
                points
                    .iter()
                    .filter(|g| matches!(g, geo::Geometry::Point(p) if b.contains_point(p.x(), p.y())))
                    .count()
            })
            .sum::<usize>()
        },
    );
    println!(
        "R-tree speed-up over scan: {:.0}x",
        scan.as_secs_f64() / tree.as_secs_f64()
    );

    let lines: Vec<geo::Geometry<f64>> = (0..n_points / 100)
        .map(|_| {
            let mut x = rng.random_range(55.0..82.0);
            let mut y = rng.random_range(34.0..50.0);
            let coords: Vec<(f64, f64)> = (0..100)
                .map(|_| {
                    x += rng.random_range(-0.01..0.01);
                    y += rng.random_range(-0.01..0.01);
                    (x, y)
                })
                .collect();
            geo::Geometry::LineString(coords.into())
        })
        .collect();
    time(
        &format!("SegmentIndex::new, {} segments", lines.len() * 99),
        reps,
        || SegmentIndex::new(&lines),
    );

    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let reference = tailings_atlas::io::layers::load_reference_dir(&data).unwrap();
    let sites =
        tailings_atlas::reference::seed::read_seed_sites(&data.join("sites/seed_sites.csv"))
            .unwrap();
    time("io::layers::load_reference_dir, default data", reps, || {
        tailings_atlas::io::layers::load_reference_dir(&data).unwrap()
    });
    time(
        "Atlas::build (analysis and catalog), default data",
        reps,
        || tailings_atlas::service::Atlas::build(&sites, &reference).unwrap(),
    );
}
