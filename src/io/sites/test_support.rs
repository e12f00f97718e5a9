//! What the tests of the inventory files share: temporary directories, the fixtures and sample sites.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{ExportFeature, ImportRead, Mapping, read_sites};
use crate::model::{Site, SiteDraft};

/// A directory under the system temp dir, removed when dropped (also when the test fails).
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new(name: &str) -> Self {
        let p =
            std::env::temp_dir().join(format!("atlas-sites-file-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub(super) fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub(super) fn fixture(name: &str) -> PathBuf {
    repo("tests/fixtures/import").join(name)
}

pub(super) fn no_progress(_: usize) {}

pub(super) fn read_ok(path: &Path, mapping: &Mapping) -> (Vec<Site>, ImportRead) {
    let read = read_sites(path, mapping, &no_progress)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let sites = read
        .rows
        .iter()
        .map(|r| {
            r.site
                .clone()
                .unwrap_or_else(|e| panic!("{}: row {}: {e}", path.display(), r.row))
        })
        .collect();
    (sites, read)
}

pub(super) fn site(d: SiteDraft) -> Site {
    Site::try_from(d).unwrap()
}

pub(super) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The Mailuu-Suu pile as both the sample and the fixtures have it.
fn mailuu() -> SiteDraft {
    SiteDraft {
        id: Some("kgz_mailuu_suu_tp3".into()),
        name: Some("Mailuu-Suu tailings pile 3".into()),
        local_name: Some("Майлуу-Суу хвостохранилище № 3".into()),
        kind: Some("tailings".into()),
        activity: Some("uranium legacy".into()),
        country: Some("KGZ".into()),
        status: Some("legacy".into()),
        lon: Some(72.448039),
        lat: Some(41.2457479),
        precision: Some("site".into()),
        volume_m3: Some(1.5e6),
        dam_height_m: Some(12.5),
        receiving_river: Some("Mailuu-Suu".into()),
        ..SiteDraft::default()
    }
}

/// The Degmay tailings as both the sample and the fixtures have them.
fn degmay() -> SiteDraft {
    SiteDraft {
        id: Some("tjk_degmay".into()),
        name: Some("Degmay tailings".into()),
        local_name: Some("Дигмай".into()),
        kind: Some("tailings".into()),
        activity: Some("uranium processing legacy".into()),
        country: Some("TJK".into()),
        status: Some("inactive".into()),
        lon: Some(69.75),
        lat: Some(40.25),
        precision: Some("site_approx".into()),
        volume_m3: Some(2e7),
        tonnage_t: Some(3.6e7),
        dam_height_m: Some(40.0),
        area_m2: Some(9e5),
        substances: strings(&["U", "Th", "Ra-226"]),
        receiving_river: Some("Syr Darya".into()),
        ..SiteDraft::default()
    }
}

/// Five sites with every field used somewhere, long texts that a shapefile must split, and one
/// site with every optional field empty.
pub(super) fn sample_sites() -> Vec<Site> {
    let attributes = serde_json::json!({
        "founded": 1946,
        "note": "the pile sits on a landslide-prone slope above the Mailuu-Suu river; a 1958 \
                 dam failure released about 600 000 m³ of tailings into the river, which \
                 flows into the Fergana Valley and on to Uzbekistan",
        "risk": {"level": "high", "score": 0.75},
        "tags": ["uranium", "legacy", "landslide"]
    });
    vec![
        site(SiteDraft {
            status_note: Some("remediated 2013–2017 under the EU programme".into()),
            tonnage_t: Some(2.7e6),
            area_m2: Some(31_000.0),
            substances: strings(&["U", "Ra-226", "Th-230"]),
            sources: strings(&[
                "https://www.iaea.org/sites/default/files/central-asia-uranium-legacy-sites.pdf",
                "https://example.org/reports/mailuu-suu tailings pile 3 (2014 survey).pdf",
                "Министерство чрезвычайных ситуаций Кыргызской Республики, 2019",
                "https://www.unece.org/fileadmin/DAM/env/epr/epr_studies/kyrgyzstan.pdf",
                "https://example.org/a/very/long/path/to/another/report/about/the/same/pile",
            ]),
            attributes: attributes.as_object().unwrap().clone(),
            ..mailuu()
        }),
        site(SiteDraft {
            // Cyrillic text longer than a DBF field: cut at character boundaries.
            status_note: Some(
                "Хвостохранилище Дигмай — одно из крупнейших в Центральной Азии; \
                 работы по консервации начаты, но не завершены, пыление с поверхности \
                 продолжается, мониторинг ведётся нерегулярно."
                    .into(),
            ),
            sources: strings(&["https://example.org/degmay"]),
            attributes: Map::new(),
            ..degmay()
        }),
        site(SiteDraft {
            id: Some("uzb_almalyk_tsf2".into()),
            name: Some("Almalyk MMC tailings storage 2".into()),
            local_name: Some("Олмалиқ КМК".into()),
            kind: Some("tailings".into()),
            activity: Some("copper-gold processing".into()),
            country: Some("UZB".into()),
            status: Some("active".into()),
            status_note: Some("active (expanding)".into()),
            lon: Some(69.608),
            lat: Some(40.852),
            precision: Some("site_approx".into()),
            volume_m3: Some(7.25e8),
            tonnage_t: Some(1.5e9),
            dam_height_m: Some(65.5),
            area_m2: Some(7.5e6),
            substances: strings(&["Cu", "Mo", "As"]),
            receiving_river: Some("Akhangaran".into()),
            sources: strings(&["https://example.org/almalyk"]),
            attributes: serde_json::json!({"operator": "АГМК"})
                .as_object()
                .unwrap()
                .clone(),
        }),
        site(SiteDraft {
            id: Some("kaz_kentau_achisai".into()),
            name: Some("Кентау «Ачисай» tailings".into()),
            local_name: Some("Ачисай".into()),
            kind: Some("hazardous_site".into()),
            activity: Some("lead-zinc legacy".into()),
            country: Some("KAZ".into()),
            status: Some("remediated".into()),
            lon: Some(68.50463),
            lat: Some(43.51672),
            precision: Some("town".into()),
            sources: strings(&["http://greenwomen.kz/xxi_pollut2_eng.htm"]),
            ..SiteDraft::default()
        }),
        site(SiteDraft {
            id: Some("kgz_minimal".into()),
            name: Some("Unnamed dump near Shekaftar".into()),
            kind: Some("hazardous_site".into()),
            activity: Some("uranium legacy".into()),
            country: Some("KGZ".into()),
            lon: Some(71.33),
            lat: Some(41.46),
            precision: Some("town".into()),
            sources: strings(&["https://example.org/shekaftar"]),
            ..SiteDraft::default()
        }),
    ]
}

/// Site properties followed by analysis-like fields, as the exporter receives them.
pub(super) fn export_properties(sites: &[Site]) -> Vec<Map<String, Value>> {
    sites
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut p = s.properties();
            p.insert(
                "river_distance_m".into(),
                (i != 3).then_some(1234.5 * i as f64).into(),
            );
            p.insert("downstream_countries".into(), "KGZ,UZB,KAZ".into());
            p.insert("runout_reaches_border".into(), (i % 2 == 0).into());
            p.insert("nearest_river_id".into(), format!("ne-{i}-1").into());
            p
        })
        .collect()
}

pub(super) fn features<'a>(
    sites: &[Site],
    props: &'a [Map<String, Value>],
) -> Vec<ExportFeature<'a>> {
    sites
        .iter()
        .zip(props)
        .map(|(s, p)| ExportFeature {
            lon: s.location.lon(),
            lat: s.location.lat(),
            properties: p,
        })
        .collect()
}

/// The three sites of the `tests/fixtures/import/sites_*` files.
pub(super) fn fixture_sites() -> Vec<Site> {
    vec![
        site(SiteDraft {
            status_note: Some("remediated 2013-2017, monitored".into()),
            substances: strings(&["U", "Ra-226"]),
            sources: strings(&["https://example.org/mailuu-report"]),
            attributes: serde_json::json!({"founded": 1946})
                .as_object()
                .unwrap()
                .clone(),
            ..mailuu()
        }),
        site(SiteDraft {
            sources: strings(&[
                "https://example.org/degmay",
                "https://example.org/iaea-2020",
            ]),
            ..degmay()
        }),
        site(SiteDraft {
            id: Some("uzb_angren_tsf".into()),
            name: Some("Angren ash and tailings".into()),
            kind: Some("hazardous_site".into()),
            activity: Some("coal and gold processing".into()),
            country: Some("UZB".into()),
            // "Active" in the files: our vocabulary, spelled in another case.
            status: Some("active".into()),
            lon: Some(70.1436),
            lat: Some(41.0167),
            precision: Some("town".into()),
            receiving_river: Some("Akhangaran".into()),
            sources: strings(&["https://example.org/angren"]),
            attributes: serde_json::json!({"note": "coordinate is the town"})
                .as_object()
                .unwrap()
                .clone(),
            ..SiteDraft::default()
        }),
    ]
}
