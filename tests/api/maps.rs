//! The rendered basin risk map: `GET /maps/basin-risk.png|svg` through the in-process router, and the
//! real binary's `map` subcommand.

use std::process::Command;

use crate::common::*;

/// The width and height in a PNG's IHDR chunk.
fn png_size(body: &[u8]) -> (u32, u32) {
    assert_eq!(&body[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&body[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&body[16..20]), be(&body[20..24]))
}

#[actix_web::test]
async fn the_map_is_a_png_of_the_width_asked_for_and_revalidates() {
    let state = default_state();
    let r = get(&state, "/maps/basin-risk.png?width=640").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type").as_deref(), Some("image/png"));
    let (w, h) = png_size(&r.body);
    assert_eq!(w, 640);
    assert!(h > 100 && h < 2000, "{h}");
    let tag = r.header("etag").expect("an ETag");
    assert!(r.header("cache-control").is_some());
    // The same request: the same bytes.
    let again = get(&state, "/maps/basin-risk.png?width=640").await;
    assert!(again.body == r.body, "two renders differ");
    assert_eq!(again.header("etag").as_deref(), Some(tag.as_str()));
    // The client holds it: 304, no body.
    let req = actix_web::test::TestRequest::get()
        .uri("/maps/basin-risk.png?width=640")
        .insert_header(("If-None-Match", tag.clone()));
    let r304 = call(&state, req).await;
    assert_eq!(r304.status, 304);
    assert!(r304.body.is_empty());
    // Other parameters: another validator.
    let other = get(&state, "/maps/basin-risk.png?width=641&bbox=68,39.5,76,43").await;
    assert_eq!(other.status, 200);
    assert_eq!(png_size(&other.body).0, 641);
    assert_ne!(other.header("etag"), Some(tag));
}

#[actix_web::test]
async fn the_map_is_an_svg_too() {
    let state = default_state();
    let r = get(&state, "/maps/basin-risk.svg?width=500").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type").as_deref(), Some("image/svg+xml"));
    let text = r.text();
    assert!(text.starts_with("<?xml") && text.contains("<svg") && text.contains("width=\"500\""));
    assert!(text.trim_end().ends_with("</svg>"));
}

#[actix_web::test]
async fn bad_map_parameters_are_400s_naming_the_parameter() {
    let state = default_state();
    for (query, param) in [
        ("width=9000", "`width`"),
        ("width=abc", "`width`"),
        ("width=0", "`width`"),
        ("bbox=1,2,3", "`bbox`"),
        ("bbox=70,40,60,45", "`bbox`"),
        ("bbox=60,40,70,89", "`bbox`"),
        ("bbox=60,40,70,x", "`bbox`"),
        // Too tall for the width.
        ("bbox=60,-80,61,80&width=2000", "`bbox`"),
        ("zoom=4", "zoom"),
        ("width=500&width=600", "`width`"),
    ] {
        let r = get(&state, &format!("/maps/basin-risk.png?{query}")).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        let body = r.json();
        let description = body["description"].as_str().unwrap();
        assert!(description.contains(param), "{query}: {description}");
        assert!(!description.contains("/work") && !description.contains("/tmp"));
    }
    let r = get(&state, "/maps/basin-risk.jpg").await;
    assert_eq!(r.status, 404);
    let r = get(&state, "/maps/other.png").await;
    assert_eq!(r.status, 404);
    let r = call(
        &state,
        actix_web::test::TestRequest::post().uri("/maps/basin-risk.png"),
    )
    .await;
    assert_eq!(r.status, 405);
}

#[actix_web::test]
async fn the_api_definition_lists_the_map() {
    let state = default_state();
    let api = get(&state, "/api").await.json();
    let path = &api["paths"]["/maps/basin-risk.png"]["get"];
    assert!(
        path["responses"]["200"]["content"]["image/png"].is_object(),
        "{path}"
    );
    assert!(api["paths"]["/maps/basin-risk.svg"].is_object());
}

#[test]
fn the_binary_renders_the_map_into_a_file() {
    let dir = temp_dir("map-cli");
    let out = dir.join("basin-risk.png");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tailings-atlas"))
            .arg("map")
            .args(extra)
            .arg("--store")
            .arg(dir.join("atlas.gpkg"))
            .arg("--data")
            .arg(repo_path("data"))
            .output()
            .expect("binary runs")
    };
    let ok = run(&["--out", out.to_str().unwrap(), "--width", "700"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(png_size(&bytes).0, 700);
    // SVG by the extension, with a box.
    let svg = dir.join("map.svg");
    let ok = run(&[
        "--out",
        svg.to_str().unwrap(),
        "--bbox",
        "68,39.5,76,43",
        "--width",
        "400",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    // Bad options: the flag is named, nothing is written, the earlier file stays as it was.
    for (args, flag) in [
        (vec!["--width", "9000"], "--width"),
        (vec!["--bbox", "70,40,60,45"], "--bbox"),
        (vec!["--format", "gif"], "--format"),
    ] {
        let mut a = vec!["--out", out.to_str().unwrap()];
        a.extend(args);
        let bad = run(&a);
        assert!(!bad.status.success());
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(err.contains(flag), "{a:?}: {err}");
    }
    let bad = run(&["--out", dir.join("map.jpg").to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--out"));
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("atlas.gpkg"))
        .collect();
    names.sort();
    assert_eq!(names, ["basin-risk.png", "map.svg"]);
}
