//! The analysis endpoints on the default data, through the real router.

use actix_web::http::StatusCode;

use crate::common::*;

#[actix_web::test]
async fn proximity_of_a_point() {
    let state = default_state();
    // Mailuu-Suu, Kyrgyzstan, about 20 km from the Uzbek border.
    let r = get(&state, "/analysis/proximity?lon=72.448&lat=41.246").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let doc = r.json();
    assert_eq!(doc["country"], "KGZ");
    assert_eq!(doc["country_match"], "inside");
    assert_eq!(doc["border"]["neighbour_country"], "UZB");
    let d = doc["border"]["distance_m"].as_f64().unwrap();
    assert!((10_000.0..40_000.0).contains(&d), "{d}");
    // The reported nearest point is at the reported distance.
    let q = &doc["border"]["point"];
    let back = tailings_atlas::geodesy::distance_m(
        [72.448, 41.246],
        [q[0].as_f64().unwrap(), q[1].as_f64().unwrap()],
    );
    assert!((back - d).abs() < 0.01);
    assert!(doc["river"]["distance_m"].as_f64().unwrap() > 0.0);
    assert!(doc["river"]["id"].as_str().is_some());
}

#[actix_web::test]
async fn analysis_parameters_are_checked() {
    let state = default_state();
    for (uri, param) in [
        ("/analysis/proximity?lon=200&lat=41", "lon"),
        ("/analysis/proximity?lon=72&lat=-95", "lat"),
        ("/analysis/proximity?lon=abc&lat=41", "lon"),
        ("/analysis/proximity?lon=72", "lat"),
        ("/analysis/proximity?lon=72&lat=41&radius=3", "radius"),
        ("/analysis/near-border?within_km=-1", "within_km"),
        ("/analysis/near-border?within_km=1001", "within_km"),
        ("/analysis/near-border?within_km=ten", "within_km"),
        ("/analysis/near-border?kind=mine", "kind"),
        ("/analysis/near-border?country=KG", "country"),
        ("/analysis/near-border?neighbour=U2B", "neighbour"),
        ("/analysis/nearest?lon=72&lat=41&k=1001", "k"),
        ("/analysis/nearest?lon=72&lat=41&k=0", "k"),
        ("/analysis/nearest?lon=72&lat=41&k=-2", "k"),
        ("/analysis/nearest?lon=-181&lat=41", "lon"),
    ] {
        let r = get(&state, uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        let d = r.json()["description"].as_str().unwrap().to_owned();
        assert!(d.contains(&format!("`{param}`")), "{uri}: {d}");
    }
}

#[actix_web::test]
async fn sites_near_a_border_nearest_first() {
    let state = default_state();
    let doc = get(&state, "/analysis/near-border?within_km=10")
        .await
        .json();
    let features = doc["features"].as_array().unwrap();
    assert!(!features.is_empty());
    let distances: Vec<f64> = features
        .iter()
        .map(|f| f["properties"]["border_distance_m"].as_f64().unwrap())
        .collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{distances:?}");
    assert!(distances.iter().all(|&d| d <= 10_000.0));
    // Every site of the collection within 10 km is there.
    let all = get(&state, "/collections/sites/items?limit=1000")
        .await
        .json();
    let expected = all["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["border_distance_m"].as_f64().unwrap() <= 10_000.0)
        .count();
    assert_eq!(features.len(), expected);

    let doc = get(
        &state,
        "/analysis/near-border?within_km=30&country=kgz&neighbour=UZB&kind=tailings",
    )
    .await
    .json();
    let features = doc["features"].as_array().unwrap();
    assert!(!features.is_empty());
    for f in features {
        let p = &f["properties"];
        assert_eq!(
            (
                p["country"].as_str(),
                p["neighbour"].as_str(),
                p["kind"].as_str()
            ),
            (Some("KGZ"), Some("UZB"), Some("tailings"))
        );
        // No border is nearer than the nearest of all.
        let d = p["distance_m"].as_f64().unwrap();
        assert!(d <= 30_000.0 && d >= p["border_distance_m"].as_f64().unwrap() - 0.1);
    }

    // The distance to the named neighbour's border, not to the nearest border: Degmay's nearest
    // border is Kyrgyzstan's, 10 km away; Uzbekistan's is 34 km away.
    let doc = get(
        &state,
        "/analysis/near-border?within_km=35&country=TJK&neighbour=UZB",
    )
    .await
    .json();
    let features = doc["features"].as_array().unwrap();
    let degmay = features
        .iter()
        .find(|f| f["id"] == "tjk_degmay")
        .expect("Degmay is within 35 km of Uzbekistan");
    let p = &degmay["properties"];
    assert_eq!(p["neighbour_country"], "KGZ");
    assert_eq!(p["neighbour"], "UZB");
    let d = p["distance_m"].as_f64().unwrap();
    assert!((30_000.0..35_000.0).contains(&d), "{d}");
    let distances: Vec<f64> = features
        .iter()
        .map(|f| f["properties"]["distance_m"].as_f64().unwrap())
        .collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{distances:?}");
    // Where the nearest border is the neighbour's, both distances agree.
    for f in features {
        let p = &f["properties"];
        if p["neighbour_country"] == "UZB" {
            let (a, b) = (
                p["distance_m"].as_f64().unwrap(),
                p["border_distance_m"].as_f64().unwrap(),
            );
            assert!((a - b).abs() <= 0.1, "{}: {a} vs {b}", f["id"]);
        }
    }
    // Within 10 km of Uzbekistan, Degmay is not.
    let doc = get(
        &state,
        "/analysis/near-border?within_km=10&country=TJK&neighbour=uzb",
    )
    .await
    .json();
    assert!(
        doc["features"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] != "tjk_degmay")
    );
}

#[actix_web::test]
async fn nearest_sites_to_a_point() {
    let state = default_state();
    let doc = get(&state, "/analysis/nearest?lon=72.448039&lat=41.2457479&k=3")
        .await
        .json();
    let features = doc["features"].as_array().unwrap();
    assert_eq!(features.len(), 3);
    assert_eq!(features[0]["id"], "kgz_mailuu_suu_complex");
    let d: Vec<f64> = features
        .iter()
        .map(|f| f["properties"]["distance_m"].as_f64().unwrap())
        .collect();
    assert!(d[0] < 1.0 && d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");
    let doc = get(&state, "/analysis/nearest?lon=72.4&lat=41.2")
        .await
        .json();
    assert_eq!(
        doc["features"].as_array().unwrap().len(),
        5,
        "k defaults to 5"
    );
}

#[actix_web::test]
async fn every_site_carries_its_exposure() {
    let doc = get(&default_state(), "/collections/sites/items?limit=100")
        .await
        .json();
    for f in doc["features"].as_array().unwrap() {
        let p = &f["properties"];
        let id = p["id"].as_str().unwrap();
        for key in [
            "located_country",
            "river_distance_m",
            "nearest_river_lon",
            "nearest_river_lat",
            "border_distance_m",
            "nearest_border_lon",
            "nearest_border_lat",
            "nearest_river_id",
            "border_countries",
            "neighbour_country",
        ] {
            assert!(!p[key].is_null(), "{id} lacks {key}");
        }
        // The nearest points printed are at the distances printed, from the site: 1e-6° of
        // coordinate rounding is at most about 0.11 m, the distance's rounding 0.05 m.
        let site = [p["lon"].as_f64().unwrap(), p["lat"].as_f64().unwrap()];
        for what in ["river", "border"] {
            let at = [
                p[format!("nearest_{what}_lon")].as_f64().unwrap(),
                p[format!("nearest_{what}_lat")].as_f64().unwrap(),
            ];
            let printed = p[format!("{what}_distance_m")].as_f64().unwrap();
            let measured = tailings_atlas::geodesy::distance_m(site, at);
            assert!(
                (measured - printed).abs() < 0.2,
                "{id}: {what} point {at:?} is {measured} m away, printed {printed} m"
            );
        }
        // The seed's declared countries are all confirmed by the polygons.
        assert_eq!(p["country_check"], "matches", "{id}");
    }
}

/// The first crossing reported always leaves the site's own country, also when the site is snapped
/// to a river across a border (before the fix, Kadamjai's first crossing was UZB -> TJK, 142 km down
/// a river it reaches in Uzbekistan).
#[actix_web::test]
async fn the_first_crossing_leaves_the_sites_own_country() {
    let doc = get(&default_state(), "/collections/sites/items?limit=100")
        .await
        .json();
    let mut across = 0;
    for f in doc["features"].as_array().unwrap() {
        let p = &f["properties"];
        let id = p["id"].as_str().unwrap();
        let Some(countries) = p["downstream_countries"].as_str() else {
            continue;
        };
        let countries: Vec<&str> = countries.split(',').collect();
        assert_eq!(Some(countries[0]), p["located_country"].as_str(), "{id}");
        if countries.len() < 2 {
            assert!(p["first_crossing_from"].is_null(), "{id}");
            continue;
        }
        assert_eq!(
            p["first_crossing_from"].as_str(),
            Some(countries[0]),
            "{id}"
        );
        assert_eq!(p["first_crossing_to"].as_str(), Some(countries[1]), "{id}");
        if p["downstream_border_km"] == 0.0 {
            across += 1;
        }
    }
    // Kadamjai, Khaidarkan, Shekaftar, Sumsar, Adrasman, Angren coal mine, Yangiabad.
    assert!(across >= 5, "{across} sites snapped across a border");

    let p = &site("kgz_kadamjai_tmf").await;
    assert_eq!(p["first_crossing_from"], "KGZ");
    assert_eq!(p["first_crossing_to"], "UZB");
    assert_eq!(p["downstream_border_km"], 0.0);
    // The crossing lies between the site and the river point, on the KGZ-UZB border.
    let d = |q: [f64; 2]| {
        let s = [p["lon"].as_f64().unwrap(), p["lat"].as_f64().unwrap()];
        tailings_atlas::geodesy::distance_m(s, q)
    };
    let crossing = [
        p["first_crossing_lon"].as_f64().unwrap(),
        p["first_crossing_lat"].as_f64().unwrap(),
    ];
    assert!(
        d(crossing) < p["snap_distance_m"].as_f64().unwrap(),
        "{crossing:?}"
    );

    // Adrasman's snap line enters Uzbekistan by the Kayrakkum reservoir, where the border lines
    // leave a gap: the crossing is placed by the polygons, still first and from Tajikistan.
    let r = get(
        &default_state(),
        "/collections/sites/items/tjk_adrasman/downstream",
    )
    .await
    .json();
    let features = r["features"].as_array().unwrap();
    let path = &features[0]["geometry"]["coordinates"];
    assert_eq!(path[0][0], 69.98472, "the path starts at the site");
    let first = features
        .iter()
        .find(|f| f["properties"]["kind"] == "crossing")
        .unwrap();
    assert_eq!(first["properties"]["from"], "TJK");
    assert_eq!(first["properties"]["to"], "UZB");
    assert_eq!(first["properties"]["along_km"], 0.0);
}

async fn site(id: &str) -> serde_json::Value {
    let r = get(&default_state(), &format!("/collections/sites/items/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{id}");
    r.json()["properties"].clone()
}

/// The Syr Darya leaves the Fergana Valley through Tajikistan.
#[actix_web::test]
async fn downstream_countries_on_the_default_data() {
    let p = site("kgz_mailuu_suu_complex").await;
    assert_eq!(p["downstream_countries"], "KGZ,UZB,TJK,UZB,KAZ");
    assert_eq!(
        (
            p["first_crossing_from"].as_str(),
            p["first_crossing_to"].as_str()
        ),
        (Some("KGZ"), Some("UZB"))
    );
    assert_eq!(p["terminal_water_body"], "Aral Sea");

    let p = site("tjk_taboshar").await;
    assert_eq!(p["downstream_countries"], "TJK,UZB,KAZ");
    assert_eq!(
        (
            p["first_crossing_from"].as_str(),
            p["first_crossing_to"].as_str()
        ),
        (Some("TJK"), Some("UZB"))
    );

    // On the lower Syr Darya in Kazakhstan: no crossing, and the water ends in the Aral Sea.
    let p = site("kaz_karamurun_isl").await;
    assert_eq!(p["downstream_countries"], "KAZ");
    assert!(p["first_crossing_to"].is_null() && p["downstream_border_km"].is_null());
    assert_eq!(p["terminal_water_body"], "Aral Sea");
    assert_eq!(p["drainage_confidence"], "near");

    // Every site of the seed gets a result, with a confidence that matches its snap distance.
    let all = get(&default_state(), "/collections/sites/items?limit=100")
        .await
        .json();
    for f in all["features"].as_array().unwrap() {
        let p = &f["properties"];
        assert_eq!(p["downstream_status"], "ok", "{}", p["id"]);
        let snap = p["snap_distance_m"].as_f64().unwrap();
        let expected = if snap <= 2_000.0 {
            "direct"
        } else if snap <= 15_000.0 {
            "near"
        } else {
            "regional"
        };
        assert_eq!(p["drainage_confidence"], expected, "{}", p["id"]);
    }
}

#[actix_web::test]
async fn downstream_path_endpoint() {
    let state = default_state();
    let r = get(
        &state,
        "/collections/sites/items/kgz_mailuu_suu_complex/downstream",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/geo+json")
    );
    let doc = r.json();
    let features = doc["features"].as_array().unwrap();
    for f in features {
        crate::geojson_rules::check_geometry(&f["geometry"]).unwrap();
    }
    let path = &features[0];
    assert_eq!(path["geometry"]["type"], "LineString");
    assert_eq!(
        path["properties"]["downstream_countries"],
        "KGZ,UZB,TJK,UZB,KAZ"
    );
    let crossings: Vec<&serde_json::Value> = features
        .iter()
        .filter(|f| f["properties"]["kind"] == "crossing")
        .collect();
    assert_eq!(crossings.len(), 4);
    let along: Vec<f64> = crossings
        .iter()
        .map(|c| c["properties"]["along_km"].as_f64().unwrap())
        .collect();
    assert!(along.windows(2).all(|w| w[0] < w[1]), "{along:?}");
    let waters: Vec<&str> = features
        .iter()
        .filter(|f| f["properties"]["kind"] == "water_body")
        .filter_map(|f| f["properties"]["name"].as_str())
        .collect();
    for w in ["Obanbori Qayroqum", "Shardara Bögeni", "Aral Sea"] {
        assert!(waters.contains(&w), "{waters:?} lacks {w}");
    }
    let r = get(&state, "/collections/sites/items/nope/downstream").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn runout_screening_on_the_seed() {
    // Degmay: 20 million m3 behind a 40 m dam, Rico et al. (2008).
    let p = site("tjk_degmay").await;
    let vf = 0.354 * 20f64.powf(1.01);
    let dmax = 1.61 * (40.0 * vf).powf(0.66);
    assert!((p["runout_distance_km"].as_f64().unwrap() - dmax).abs() < 1e-3);
    let border_km = p["downstream_border_km"].as_f64().unwrap();
    assert_eq!(
        p["runout_reaches_border"],
        if dmax >= border_km { "true" } else { "false" }
    );
    // Missing inputs are unknown, never 0.
    let p = site("kgz_kumtor_tmf").await;
    assert_eq!(p["runout_reaches_border"], "unknown");
    assert!(p["runout_distance_km"].is_null());
    assert_eq!(p["runout_note"], "missing volume_m3");
}

#[actix_web::test]
async fn integers_beyond_the_range_are_out_of_range() {
    let state = default_state();
    for k in [
        "18446744073709551616",
        "99999999999999999999999999999999999999999999",
        "1001",
        "0",
        "-2",
        "-18446744073709551616",
    ] {
        let r = get(&state, &format!("/analysis/nearest?lon=72&lat=41&k={k}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{k}");
        let d = r.json()["description"].as_str().unwrap().to_owned();
        assert!(
            d.contains("`k`") && d.contains("out of range [1, 1000]"),
            "{k}: {d}"
        );
    }
    for k in ["ten", "1.5", "", "1e3"] {
        let r = get(&state, &format!("/analysis/nearest?lon=72&lat=41&k={k}")).await;
        let d = r.json()["description"].as_str().unwrap().to_owned();
        assert!(d.contains("not a positive integer"), "{k}: {d}");
    }
    // A number too large for a float is out of range too, not "not a number".
    let huge = "9".repeat(400);
    for uri in [
        format!("/analysis/proximity?lon={huge}&lat=41"),
        "/analysis/proximity?lon=72&lat=-1e400".to_owned(),
        format!("/analysis/near-border?within_km={huge}"),
    ] {
        let r = get(&state, &uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        let d = r.json()["description"].as_str().unwrap().to_owned();
        assert!(d.contains("is outside ["), "{uri}: {d}");
    }
}
