//! The risk model on the seed sites (hand-checked scores), the effect of each factor, and the loads
//! of the reach graph against a brute-force walk of every site's reaches.

#![cfg(test)]

use super::layers::{self, RiskSite};
use super::model::{RiskClass, RiskModel, Toxicity};
use super::score::{FACTORS, SiteRisk};
use crate::analysis::tests_support::seed_analyzer;
use crate::analysis::{AnalysisRecord, runout::ReachesBorder};
use crate::model::{Interner, Site, SiteStatus};
use crate::service::test_sites::{seed_sites, seeded_sites};

fn analysed(sites: Vec<Site>) -> Vec<(Site, AnalysisRecord)> {
    let a = seed_analyzer();
    let interner = Interner::new();
    sites
        .into_iter()
        .map(|s| {
            let r = a.site_record(&s, &interner);
            (s, r)
        })
        .collect()
}

fn seed(id: &str) -> (Site, AnalysisRecord) {
    analysed(seed_sites())
        .into_iter()
        .find(|(s, _)| s.id.as_str() == id)
        .expect("a seed site")
}

fn points(r: &SiteRisk) -> Vec<(&'static str, f64, bool)> {
    (0..FACTORS.len())
        .map(|i| (FACTORS[i], r.points(i), r.is_assumed(i)))
        .collect()
}

/// Degmay (TJK): uranium tailings of 20 million m³, legacy, with a runout that reaches the border.
/// By hand: kind 10 (tailings); river 15 × 0.7 (a `near` snap) × 0.5^(km / 25); toxicity 20 ("uranium"); quantity 15 × (log10 2e7 − 4) / 4 =
/// 12.38 → 12.4; status 10 (legacy); border 20 × 0.5^(43.408 / 100) = 14.80 → 14.8; runout 10.
#[test]
fn degmay_scores_as_computed_by_hand() {
    let m = RiskModel::default_model();
    let (site, a) = seed("tjk_degmay");
    let r = SiteRisk::of(&m, &site, &a);
    let d = a
        .downstream
        .as_deref()
        .expect("Degmay drains to the network");
    assert!((d.downstream_border_km.unwrap() - 43.408).abs() < 0.01);
    assert_eq!(a.runout.reaches_border, ReachesBorder::Yes);
    let river_km = a.river.as_ref().unwrap().distance_m / 1000.0;
    assert_eq!(
        d.drainage_confidence,
        crate::analysis::DrainageConfidence::Near
    );
    let river = 15.0 * 0.7 * 0.5f64.powf(river_km / 25.0);
    assert_eq!(
        points(&r),
        vec![
            ("kind", 10.0, false),
            ("toxicity", 20.0, false),
            ("quantity", 12.4, false),
            ("status", 10.0, false),
            ("river", (river * 10.0).round() / 10.0, false),
            ("border", 14.8, false),
            ("runout", 10.0, false),
        ]
    );
    assert_eq!(r.toxicity, Toxicity::Radioactive);
    assert_eq!(r.matched.as_deref(), Some("uranium"));
    assert_eq!(r.hazard(), 52.4);
    assert_eq!(r.class, RiskClass::VeryHigh);
}

/// Shymkent refinery (KAZ): no quantity, status active, its water never leaves Kazakhstan, runout
/// unknown. By hand: kind 6 + 2 ("refining": it processes) = 8; toxicity 9 ("oil"); quantity
/// assumed 1e6 m³ → 15 × 2 / 4 = 7.5; status 7; border 0 (no crossing downstream); runout 4
/// (assumed).
#[test]
fn shymkent_refinery_scores_as_computed_by_hand() {
    let m = RiskModel::default_model();
    let (site, a) = seed("kaz_shymkent_refinery");
    let r = SiteRisk::of(&m, &site, &a);
    let p = points(&r);
    assert_eq!(p[0], ("kind", 8.0, false));
    assert_eq!(p[1], ("toxicity", 9.0, false));
    assert_eq!(p[2], ("quantity", 7.5, true));
    assert_eq!(p[3], ("status", 7.0, false));
    assert_eq!(p[5], ("border", 0.0, false));
    assert_eq!(p[6], ("runout", 4.0, true));
    let f = r.factors(&site, &a);
    assert_eq!(f["border"]["basis"], "no_crossing_downstream");
    assert_eq!(f["quantity"]["from"], "default");
    assert_eq!(f["toxicity"]["matched"], "oil");
}

/// On the seed and 3,000 seeded sites: the factors add up to the score, the class follows the
/// thresholds, and a missing attribute is never scored 0.
#[test]
fn factors_add_up_and_missing_values_are_assumed_not_zero() {
    let m = RiskModel::default_model();
    let mut sites = seed_sites();
    sites.extend(seeded_sites(3_000, 31));
    for (site, a) in analysed(sites) {
        let r = SiteRisk::of(&m, &site, &a);
        let sum: f64 = (0..7).map(|i| r.points(i)).sum();
        assert!((sum - r.score()).abs() < 1e-9, "{}", site.id);
        assert!((0.0..=100.0).contains(&r.score()));
        assert_eq!(r.class, m.class_of(r.score()));
        let f = r.factors(&site, &a);
        assert_eq!(f.len(), 7);
        // In FACTORS order, each with its points first and `assumed` last, as the writers write
        // them straight from the typed factors.
        let names: Vec<&str> = f.keys().map(String::as_str).collect();
        assert_eq!(names, FACTORS);
        for v in f.values() {
            let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
            assert_eq!(keys.first().map(|k| k.as_str()), Some("points"));
            assert_eq!(keys.last().map(|k| k.as_str()), Some("assumed"));
        }
        assert_eq!(
            serde_json::to_string(&r.factor_view(&site, &a)).unwrap(),
            serde_json::Value::Object(f.clone()).to_string()
        );
        for (i, name) in FACTORS.iter().enumerate() {
            assert_eq!(f[*name]["points"], r.points(i), "{} {name}", site.id);
            if r.is_assumed(i) {
                assert!(r.points(i) > 0.0, "{} {name}: assumed as 0", site.id);
            }
        }
        let q = &site.quantities;
        assert_eq!(
            r.is_assumed(2),
            q.volume_m3.is_none() && q.tonnage_t.is_none()
        );
        assert_eq!(r.is_assumed(3), site.status == SiteStatus::Unknown);
    }
}

/// More volume, a more toxic class, a closer border downstream, a runout that reaches it: none of
/// them ever lowers the score (seeded variations of every seed site).
#[test]
fn each_factor_moves_the_score_the_right_way() {
    let m = RiskModel::default_model();
    for (site, a) in analysed(seed_sites()) {
        let score = |s: &Site, a: &AnalysisRecord| SiteRisk::of(&m, s, a).score();
        // Volume.
        let mut last = -1.0;
        for e in 2..10 {
            let mut s = site.clone();
            s.quantities.volume_m3 = Some(10f64.powi(e));
            let v = score(&s, &a);
            assert!(v >= last, "{}: volume 1e{e}", site.id);
            last = v;
        }
        // Toxicity: substances naming each class, least toxic first.
        let mut last = -1.0;
        for word in ["ammonia", "oil", "acid", "lead", "cyanide", "uranium"] {
            let mut s = site.clone();
            s.substances = vec![word.into()];
            s.activity = "x".into();
            let v = score(&s, &a);
            assert!(v >= last, "{}: {word}", site.id);
            last = v;
        }
        // Border distance and runout, where the site has a downstream path.
        if a.downstream.is_some() {
            let mut last = -1.0;
            for km in [800.0, 400.0, 100.0, 10.0, 0.0] {
                let mut b = a.clone();
                if let Some(d) = b.downstream.as_deref_mut() {
                    d.downstream_border_km = Some(km);
                }
                let v = score(&site, &b);
                assert!(v >= last, "{}: border at {km} km", site.id);
                last = v;
            }
            let mut last = -1.0;
            for rb in [
                ReachesBorder::No,
                ReachesBorder::Unknown,
                ReachesBorder::Yes,
            ] {
                let mut b = a.clone();
                b.runout.reaches_border = rb;
                let v = score(&site, &b);
                assert!(v >= last, "{}: runout {rb:?}", site.id);
                last = v;
            }
        }
    }
}

/// The loads of the one-pass computation against a brute force: every site's hazard added, with
/// its decay, to each reach its water passes; the top contributors likewise.
#[test]
fn loads_equal_a_walk_of_every_sites_reaches() {
    let m = RiskModel::default_model();
    let analyzer = seed_analyzer();
    let graph = analyzer.reaches();
    let mut sites = seed_sites();
    sites.extend(seeded_sites(2_000, 5));
    let analysed = analysed(sites);
    let risks: Vec<SiteRisk> = analysed
        .iter()
        .map(|(s, a)| SiteRisk::of(&m, s, a))
        .collect();
    let rs: Vec<RiskSite> = analysed
        .iter()
        .zip(&risks)
        .map(|((s, a), r)| RiskSite {
            id: s.id.as_str(),
            name: &s.name,
            country: &s.country,
            point: [s.location.lon(), s.location.lat()],
            risk: r,
            start: a.downstream.as_ref().map(|d| d.start),
        })
        .collect();
    let local = layers::local_sites(graph, &rs);
    let loads = layers::loads(&m, graph, &rs, &local);
    let n = graph.reaches.len();
    let mut load = vec![0.0; n];
    let mut count = vec![0u32; n];
    let mut per: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n];
    for (i, s) in rs.iter().enumerate() {
        let Some(p) = s.start else { continue };
        let (r0, offset) = graph.locate(p.line, p.along_m).unwrap();
        for (r, d_m) in graph.downstream_of(r0) {
            let km = if r == r0 {
                0.0
            } else {
                (d_m - offset) / 1000.0
            };
            let c = s.risk.hazard() * m.load_decay(km);
            load[r] += c;
            count[r] += 1;
            per[r].push((i as u32, c));
        }
    }
    let mut loaded = 0;
    for r in 0..n {
        assert_eq!(loads.sites[r], count[r], "reach {r}");
        assert!(
            (loads.load[r] - load[r]).abs() <= 1e-9 * load[r].max(1.0),
            "reach {r}: {} vs {}",
            loads.load[r],
            load[r]
        );
        per[r].sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let want: Vec<u32> = per[r].iter().take(5).map(|x| x.0).collect();
        let got: Vec<u32> = loads.top[r].iter().map(|x| x.0).collect();
        // Ties within rounding may swap places; the contributions must agree.
        for (g, w) in loads.top[r].iter().zip(per[r].iter()) {
            assert!(
                (g.1 - w.1).abs() <= 1e-9 * w.1.max(1.0),
                "reach {r}: {got:?} vs {want:?}"
            );
        }
        assert_eq!(got.len(), want.len());
        loaded += usize::from(count[r] > 0);
    }
    assert!(loaded > 50, "only {loaded} reaches carry load");
}
