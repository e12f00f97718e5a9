//! Seeded inventories for tests: sites over the Syr Darya basin with every kind of value the schema
//! allows (missing quantities, lists, free attributes, texts that need quoting or escaping).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::model::{Site, SiteDraft};
use crate::reference::ReferenceData;

/// The reference layers of the repository's `data/`, read once per test binary.
pub fn reference() -> &'static ReferenceData {
    static REFERENCE: std::sync::OnceLock<ReferenceData> = std::sync::OnceLock::new();
    REFERENCE.get_or_init(|| {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        crate::io::layers::load_reference_dir(&data).expect("the repository's data/")
    })
}

/// The seed sites of the repository's `data/`.
pub fn seed_sites() -> Vec<Site> {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    crate::reference::seed::read_seed_sites(&data.join(crate::reference::SITES_SPEC.file))
        .expect("the seed sites")
}

/// `n` sites, the same for the same `seed`.
pub fn seeded_sites(n: usize, seed: u64) -> Vec<Site> {
    let mut rng = StdRng::seed_from_u64(seed);
    let countries = ["KAZ", "KGZ", "TJK", "UZB"];
    let kinds = ["tailings", "hazardous_site"];
    let statuses = ["active", "legacy", "remediated", "inactive", "unknown"];
    let precisions = ["site", "site_approx", "town"];
    let activities = [
        "uranium legacy",
        "gold; cyanide leaching",
        "coal \"open pit\"",
        "lead-zinc, barite",
        "антимон / ртуть",
    ];
    (0..n)
        .map(|i| {
            let pick =
                |rng: &mut StdRng, list: &[&str]| list[rng.random_range(0..list.len())].to_owned();
            let maybe = |rng: &mut StdRng, v: f64| rng.random_bool(0.5).then_some(v);
            let volume = rng.random_range(1e3..5e7);
            let height = rng.random_range(2.0..80.0);
            let draft = SiteDraft {
                id: Some(format!("gen_{i:06}")),
                name: Some(format!("Site {i}, \"generated\"")),
                local_name: rng.random_bool(0.3).then(|| format!("Объект №{i}")),
                kind: Some(pick(&mut rng, &kinds)),
                activity: Some(pick(&mut rng, &activities)),
                country: Some(pick(&mut rng, &countries)),
                status: Some(pick(&mut rng, &statuses)),
                status_note: rng.random_bool(0.2).then(|| "closed\nin 1995".to_owned()),
                lon: Some(rng.random_range(63.0..76.0)),
                lat: Some(rng.random_range(37.0..45.0)),
                precision: Some(pick(&mut rng, &precisions)),
                volume_m3: maybe(&mut rng, volume),
                tonnage_t: maybe(&mut rng, volume * 1.6),
                dam_height_m: maybe(&mut rng, height),
                area_m2: maybe(&mut rng, 0.1 + 0.2),
                substances: (0..rng.random_range(0..3))
                    .map(|k| format!("substance {k}"))
                    .collect(),
                receiving_river: rng.random_bool(0.4).then(|| "Mailuu-Suu".to_owned()),
                sources: vec![format!("https://example.org/report?id={i}&x=1")],
                attributes: if rng.random_bool(0.2) {
                    json!({ "survey": 2023, "note": "a;b" })
                        .as_object()
                        .cloned()
                        .unwrap_or_default()
                } else {
                    Default::default()
                },
            };
            Site::try_from(draft).expect("a valid generated site")
        })
        .collect()
}
