//! How long the risk layers take to follow one edit, against computing them in full, in one run.
//!
//! `cargo bench --bench risk_recompute -- [N]` (default 100,000 seeded sites over the basin, plus the
//! default data's seed sites alone). Prints min / median / max of each over repeats.
//!
//! - full: score every site and compute every risk layer from scratch (what start-up does);
//! - one edit: `Service::publish` of one changed site (its analysis, its score, and the recompute of
//!   every risk layer that follows).

use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tailings_atlas::catalog::SiteTable;
use tailings_atlas::model::{Site, SiteDraft, SiteId};
use tailings_atlas::risk::{RiskModel, SiteRisk};
use tailings_atlas::service::{Atlas, Service, Update};

fn sites(n: usize, seed: u64) -> Vec<Site> {
    let mut rng = StdRng::seed_from_u64(seed);
    let activities = [
        "uranium processing legacy",
        "gold processing",
        "lead-zinc mining",
        "coal mining",
        "oil refining",
        "fertiliser plant",
    ];
    let statuses = ["active", "inactive", "legacy", "remediated", "unknown"];
    let countries = ["KAZ", "KGZ", "TJK", "UZB"];
    (0..n)
        .map(|i| {
            let draft = SiteDraft {
                id: Some(format!("bench_{i:07}")),
                name: Some(format!("Site {i}")),
                kind: Some(
                    if rng.random_bool(0.6) {
                        "tailings"
                    } else {
                        "hazardous_site"
                    }
                    .into(),
                ),
                activity: Some(activities[rng.random_range(0..activities.len())].into()),
                country: Some(countries[rng.random_range(0..countries.len())].into()),
                status: Some(statuses[rng.random_range(0..statuses.len())].into()),
                lon: Some(rng.random_range(63.0..76.0)),
                lat: Some(rng.random_range(37.0..45.0)),
                precision: Some("site".into()),
                volume_m3: rng.random_bool(0.5).then(|| rng.random_range(1e3..5e7)),
                dam_height_m: rng.random_bool(0.3).then(|| rng.random_range(2.0..80.0)),
                sources: vec!["bench".into()],
                ..Default::default()
            };
            Site::try_from(draft).expect("a valid site")
        })
        .collect()
}

fn stats(mut t: Vec<Duration>) -> (f64, f64, f64) {
    t.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(t[0]), ms(t[t.len() / 2]), ms(t[t.len() - 1]))
}

fn full(atlas: &Atlas, table: &SiteTable) -> Duration {
    let model: &RiskModel = &atlas.risk;
    let t = Instant::now();
    use rayon::prelude::*;
    let scored: Vec<SiteRisk> = table
        .records()
        .par_iter()
        .map(|r| SiteRisk::of(model, &r.site, &r.analysis))
        .collect();
    std::hint::black_box(&scored);
    let layers = tailings_atlas::service::risk::risk_collections(
        model,
        &atlas.analyzer,
        &atlas.countries,
        table,
    )
    .expect("layers");
    std::hint::black_box(layers);
    t.elapsed()
}

fn run(label: &str, sites: Vec<Site>, reference: &tailings_atlas::reference::ReferenceData) {
    let n = sites.len();
    let atlas = Atlas::build(&sites, reference).expect("atlas");
    let fulls: Vec<Duration> = (0..5)
        .map(|_| full(&atlas, atlas.catalog.sites().expect("sites")))
        .collect();
    let service = Service::new(atlas);
    let mut rng = StdRng::seed_from_u64(99);
    let edits: Vec<Duration> = (0..10)
        .map(|k| {
            let mut site = sites[rng.random_range(0..n)].clone();
            site.quantities.volume_m3 = Some(1e6 * (k + 2) as f64);
            let update = Update {
                id: SiteId::parse(site.id.as_str()).expect("an id"),
                site: Some(site),
                revision: 1_000 + k,
                updated: None,
            };
            let t = Instant::now();
            service.publish(&[update]);
            t.elapsed()
        })
        .collect();
    let (f0, f1, f2) = stats(fulls);
    let (e0, e1, e2) = stats(edits);
    println!(
        "{label}: {n} sites | full recompute min {f0:.1} / median {f1:.1} / max {f2:.1} ms | \
         one edit min {e0:.1} / median {e1:.1} / max {e2:.1} ms | edit/full (medians) {:.1} %",
        100.0 * e1 / f1
    );
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let reference = tailings_atlas::io::layers::load_reference_dir(&data).expect("data/");
    let seed = tailings_atlas::reference::seed::read_seed_sites(
        &data.join(tailings_atlas::reference::SITES_SPEC.file),
    )
    .expect("seed sites");
    run("default data", seed, &reference);
    run("seeded", sites(n, 12), &reference);
}
