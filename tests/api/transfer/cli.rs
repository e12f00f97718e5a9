//! The CLI: `import` reports, `token` create/list/revoke, and QGIS opening the store and exports.

use super::*;

#[test]
fn cli_import_reports_rows_and_honours_skip_invalid_and_dry_run() {
    let dir = temp_dir("cli-import");
    let store = dir.join("atlas.gpkg");
    let gtp = repo_path("tests/fixtures/import/gtp_sample.csv");
    let mapping = repo_path("config/mappings/global-tailings-portal.json");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "import",
            gtp.to_str().unwrap(),
            "--mapping",
            mapping.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = cli(&refs, &store);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Invalid rows: exit 1, each named, nothing written.
    let (ok, text) = run(&[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("row 4: field `lat`") && text.contains("row 5: field `status`"),
        "{text}"
    );
    assert!(text.contains("nothing was written"), "{text}");
    assert_eq!(count_sites(&store), SEED_SITES);
    // Dry run: a report, nothing written.
    let (ok, text) = run(&["--skip-invalid", "--dry-run"]);
    assert!(ok, "{text}");
    assert!(text.contains("dry run"), "{text}");
    assert_eq!(count_sites(&store), SEED_SITES);
    // Skip the invalid rows: the three valid ones are written, by the named actor, with the reason.
    let (ok, text) = run(&[
        "--skip-invalid",
        "--actor",
        "Basin secretariat",
        "--reason",
        "GTP 2024 sheet",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("3 created"), "{text}");
    assert_eq!(count_sites(&store), SEED_SITES + 3);
    let s = tailings_atlas::service::open_store(&store, &repo_path("data")).unwrap();
    let ids: Vec<String> = s
        .load_sites()
        .unwrap()
        .into_iter()
        .map(|x| x.site.id.to_string())
        .filter(|id| id.starts_with("gtp-"))
        .collect();
    let h = s
        .history(&tailings_atlas::model::SiteId::parse(&ids[0]).unwrap())
        .unwrap();
    assert_eq!(h[0].actor, "Basin secretariat");
    assert_eq!(
        h[0].reason.as_deref(),
        Some("GTP 2024 sheet (import of gtp_sample.csv)")
    );
    // Flags instead of a mapping file: a column mapped and a constant set.
    let csv = dir.join("sheet.csv");
    std::fs::write(
        &csv,
        "Site,Lon,Lat,Code\nAk-Tuz tailings,75.79,42.88,kgz_ak_tuz_flags\n",
    )
    .unwrap();
    let out = cli(
        &[
            "import",
            csv.to_str().unwrap(),
            "--map",
            "name=Site",
            "--map",
            "id=Code",
            "--map",
            "lon=Lon",
            "--map",
            "lat=Lat",
            "--set",
            "kind=tailings",
            "--set",
            "activity=lead mining legacy",
            "--set",
            "country=KGZ",
            "--set",
            "precision=site_approx",
            "--set",
            "sources=field notes",
        ],
        &store,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let site = s
        .get(&tailings_atlas::model::SiteId::parse("kgz_ak_tuz_flags").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(site.site.name, "Ak-Tuz tailings");
    assert_eq!(site.site.location.lon(), 75.79);
    // A file GDAL cannot open: a clear error, exit 1.
    let bad = dir.join("broken.gpkg");
    std::fs::write(&bad, "not a geopackage").unwrap();
    let out = cli(&["import", bad.to_str().unwrap()], &store);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.gpkg"));
    drop(s);
    std::fs::remove_dir_all(&dir).ok();
}

/// A file with no id column imports (ids from country and name, as `POST` makes them), and
/// importing it again changes nothing.
#[test]
fn cli_import_without_an_id_column_is_idempotent() {
    let dir = temp_dir("cli-import-no-id");
    let store = dir.join("atlas.gpkg");
    let file = repo_path("tests/fixtures/import/sites_no_id.csv");
    let run = || {
        let out = cli(&["import", file.to_str().unwrap()], &store);
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{text}");
        text
    };
    let first = run();
    assert!(
        first.contains("4 created, 0 updated, 0 unchanged"),
        "{first}"
    );
    assert_eq!(count_sites(&store), SEED_SITES + 4);
    let second = run();
    assert!(
        second.contains("0 created, 0 updated, 4 unchanged"),
        "{second}"
    );
    assert_eq!(count_sites(&store), SEED_SITES + 4);
}

#[test]
fn token_cli_creates_lists_and_revokes_without_keeping_secrets() {
    let dir = temp_dir("token-cli");
    let store = dir.join("atlas.gpkg");
    let out = cli(
        &[
            "token",
            "create",
            "--role",
            "editor",
            "--countries",
            "KGZ,tjk",
            "--name",
            "Ainura",
        ],
        &store,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("ta_"), "{token}");
    let id = token.split('_').nth(1).unwrap().to_owned();
    let list = cli(&["token", "list"], &store);
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(
        text.contains(&id) && text.contains("editor") && text.contains("KGZ,TJK"),
        "{text}"
    );
    let secret = token.rsplit('_').next().unwrap();
    assert!(!text.contains(secret));
    // The secret is nowhere in the store file.
    let bytes = std::fs::read(&store).unwrap();
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    // Bad flags are refused, naming the flag.
    for (args, needle) in [
        (
            vec!["token", "create", "--role", "king", "--name", "x"],
            "--role",
        ),
        (
            vec!["token", "create", "--role", "editor", "--name", "x"],
            "--countries",
        ),
        (
            vec![
                "token",
                "create",
                "--role",
                "editor",
                "--countries",
                "KG",
                "--name",
                "x",
            ],
            "--countries",
        ),
    ] {
        let out = cli(&args, &store);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}"
        );
    }
    let out = cli(&["token", "revoke", &id], &store);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&cli(&["token", "list"], &store).stdout).into_owned();
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with(&id) && l.ends_with("\t-")),
        "{text}"
    );
    assert!(
        !cli(&["token", "revoke", &id], &store).status.success(),
        "revoking twice is an error"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn qgis_opens_the_store_and_every_export() {
    let dir = temp_dir("qgis-files");
    let store = dir.join("atlas.gpkg");
    let mut uris = vec![format!("{}|layername=sites", store.display())];
    for f in ["gpkg", "shp", "kml", "csv", "fgb", "geojson"] {
        let out = dir.join(match f {
            "shp" => "sites.shp.zip".to_owned(),
            other => format!("sites.{other}"),
        });
        let o = cli(
            &["export", "--format", f, "--out", out.to_str().unwrap()],
            &store,
        );
        assert!(
            o.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        uris.push(match f {
            "shp" => format!("/vsizip/{}", out.display()),
            "csv" => format!(
                "file://{}?type=csv&xField=lon&yField=lat&crs=EPSG:4326",
                out.display()
            ),
            _ => out.display().to_string(),
        });
    }
    // Debian's python3-qgis belongs to the system interpreter, not to any other python3 on PATH.
    let out = Command::new("/usr/bin/python3")
        .arg(repo_path("tests/qgis/check_files.py"))
        .arg(SEED_SITES.to_string())
        .arg("id,name,kind,country,status,sources")
        .args(&uris)
        .output()
        .expect("/usr/bin/python3 with python3-qgis (installed by scripts/setup.sh)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches(": valid,").count(), uris.len(), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `export --filter` writes the sites the same CQL2 filter selects on the items, in `--sortby`
/// order; a bad filter is refused by name, with nothing written.
#[test]
fn cli_export_takes_a_filter_and_an_order() {
    let dir = temp_dir("cli-export-filter");
    let store = dir.join("atlas.gpkg");
    let out = dir.join("kgz.geojson");
    let filter = "country = 'KGZ' AND river_distance_m < 30000";
    let o = cli(
        &[
            "export",
            "--format",
            "geojson",
            "--out",
            out.to_str().unwrap(),
            "--filter",
            filter,
            "--sortby=-risk_score",
        ],
        &store,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let features = doc["features"].as_array().unwrap();
    assert!(
        !features.is_empty() && features.len() < SEED_SITES,
        "{}",
        features.len()
    );
    for f in features {
        assert_eq!(f["properties"]["country"], "KGZ");
        assert!(f["properties"]["river_distance_m"].as_f64().unwrap() < 30_000.0);
    }
    let scores: Vec<f64> = features
        .iter()
        .map(|f| f["properties"]["risk_score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    // Every KGZ site near a river is there: the same count as the whole export filtered here.
    let all = dir.join("all.geojson");
    let o = cli(
        &[
            "export",
            "--format",
            "geojson",
            "--out",
            all.to_str().unwrap(),
        ],
        &store,
    );
    assert!(o.status.success());
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&all).unwrap()).unwrap();
    let want = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["properties"]["country"] == "KGZ"
                && f["properties"]["river_distance_m"]
                    .as_f64()
                    .is_some_and(|d| d < 30_000.0)
        })
        .count();
    assert_eq!(features.len(), want);

    let bad = dir.join("bad.geojson");
    let o = cli(
        &[
            "export",
            "--format",
            "geojson",
            "--out",
            bad.to_str().unwrap(),
            "--filter",
            "country = ",
        ],
        &store,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--filter") && err.contains("character"),
        "{err}"
    );
    assert!(!bad.exists());
}
