//! Limits: every site the store accepts exports in every format; texts, rows, zips and views that
//! would make an import or an export fail are refused, naming the user's file only.

use super::*;

// --- Text limits: every site the store accepts exports in every format --------------------------

/// Text of exactly `n` bytes: Cyrillic and Latin words with blanks, no blank at either end.
fn text_of_bytes(n: usize) -> String {
    let phrase = "Хвостохранилище № 3 — uranium tailings; ";
    let mut t = String::new();
    for c in phrase.chars().cycle() {
        if t.len() + c.len_utf8() > n {
            break;
        }
        t.push(c);
    }
    while t.ends_with(char::is_whitespace) {
        t.pop();
    }
    let pad = n - t.len();
    t.push_str(&"x".repeat(pad));
    t
}

/// Items of at most `item_max` bytes whose JSON array is exactly `whole_max` bytes.
fn list_of_bytes(item_max: usize, whole_max: usize) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    let mut len = 2; // []
    loop {
        let overhead = if items.is_empty() { 2 } else { 3 }; // "", and a comma
        let room = whole_max - len;
        if room <= overhead {
            break;
        }
        let k = (room - overhead).min(item_max);
        // Leave no remainder too small for another item: the last two share it.
        let k = if room - overhead - k > 0 && room - overhead - k < 4 {
            k - 4
        } else {
            k
        };
        items.push(text_of_bytes(k));
        len += k + overhead;
    }
    assert_eq!(serde_json::to_string(&items).unwrap().len(), whole_max);
    items
}

/// A site with every text field at its limit in `tailings_atlas::model::limits`.
fn site_at_every_limit(id: &str) -> Value {
    use tailings_atlas::model::limits::{max_bytes, max_item_bytes};
    let max = |f: &str| max_bytes(f).unwrap();
    // {"note":"…"}
    let attributes_text = text_of_bytes(max("attributes") - 11);
    let f = serde_json::json!({
        "type": "Feature",
        "id": id,
        "geometry": { "type": "Point", "coordinates": [72.45, 41.25] },
        "properties": {
            "name": text_of_bytes(max("name")),
            "local_name": text_of_bytes(max("local_name")),
            "kind": "tailings",
            "activity": text_of_bytes(max("activity")),
            "country": "KGZ",
            "status": "legacy",
            "status_note": text_of_bytes(max("status_note")),
            "precision": "site",
            "volume_m3": 250000.0,
            "receiving_river": text_of_bytes(max("receiving_river")),
            "substances": list_of_bytes(max_item_bytes("substances").unwrap(), max("substances")),
            "sources": list_of_bytes(max_item_bytes("sources").unwrap(), max("sources")),
            "attributes": { "note": attributes_text },
        }
    });
    assert_eq!(
        f["properties"]["attributes"].to_string().len(),
        max("attributes")
    );
    f
}

async fn post_site(e: &Env, body: &Value) -> crate::common::Reply {
    call(
        &e.state,
        atest::TestRequest::post()
            .uri("/collections/sites/items")
            .insert_header(("Authorization", format!("Bearer {}", e.admin)))
            .insert_header(("Content-Type", "application/geo+json"))
            .set_payload(body.to_string()),
    )
    .await
}

#[actix_web::test]
async fn a_site_at_every_text_limit_exports_in_every_format_and_reads_back() {
    let e = env("text-limits");
    let store = e.state.service.store.clone().unwrap();
    let r = post_site(&e, &site_at_every_limit("kgz_at_every_limit")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = tailings_atlas::model::SiteId::parse("kgz_at_every_limit").unwrap();
    let stored = off_runtime(|| store.get(&id).unwrap().unwrap().site);
    for f in ["gpkg", "shp", "kml", "csv", "fgb", "geojson"] {
        let r = get(&e.state, &format!("/collections/sites/items?f={f}")).await;
        assert_eq!(r.status, StatusCode::OK, "f={f}: {}", r.text());
        let file = e.dir.join(match f {
            "shp" => "export.shp.zip".to_owned(),
            other => format!("export.{other}"),
        });
        std::fs::write(&file, &r.body).unwrap();
        let read = tailings_atlas::io::sites::read_sites(
            &file,
            &tailings_atlas::io::sites::Mapping::default(),
            &|_| {},
        )
        .unwrap_or_else(|err| panic!("f={f}: {err}"));
        assert_eq!(read.rows.len(), SEED_SITES + 1, "f={f}");
        let back = read
            .rows
            .iter()
            .filter_map(|row| row.site.as_ref().ok())
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("f={f}: the site is not in the export"));
        assert_eq!(back, &stored, "f={f}");
    }
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn a_text_over_its_limit_is_refused_naming_the_field_and_the_limit() {
    let e = env("text-over-limit");
    // Create: 400 naming the field and its limit; the Shapefile export still works for everyone.
    let mut body = site_at_every_limit("kgz_over_limit");
    body["properties"]["name"] = text_of_bytes(61_000).into();
    let r = post_site(&e, &body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "the site was accepted");
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(d.contains("`name`") && d.contains("500 bytes"), "{d}");
    assert!(d.len() < 1000, "the message quotes an excerpt only: {d}");
    let r = get(&e.state, "/collections/sites/items?f=shp").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Import: the row is refused, naming the field and its limit.
    let csv = format!(
        "id,name,kind,activity,country,lon,lat,precision,sources,attributes\n\
         kgz_long_note,Long,tailings,t,KGZ,72.4,41.2,site,s,\"{{\"\"note\"\":\"\"{}\"\"}}\"\n",
        "n".repeat(9_000)
    );
    let r = upload(&e, "", &e.admin, &[("file", "long.csv", csv.as_bytes())]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(
        d.contains("row 1") && d.contains("`attributes`") && d.contains("8000 bytes"),
        "{d}"
    );
    std::fs::remove_dir_all(&e.dir).ok();
}

// --- Import errors name the user's file, and nothing of the server -----------------------------

/// Asserts that `text` names nothing of the server: no temporary path, process id or GDAL call.
fn assert_no_server_detail(text: &str) {
    let tmp = std::env::temp_dir().display().to_string();
    for leak in [
        tmp.as_str(),
        "atlas-import",
        "upload.",
        "/mapping.json",
        "GDAL method",
        "GDALOpenEx",
        "/vsizip/",
    ] {
        assert!(!text.contains(leak), "{leak:?} leaked: {text}");
    }
    assert!(
        !text.contains(&format!("-{}-", std::process::id())),
        "the process id leaked: {text}"
    );
}

#[actix_web::test]
async fn import_errors_name_the_users_file_and_nothing_of_the_server() {
    let e = env("import-errors");
    let csv = b"id,name,kind,activity,country,lon,lat,precision,sources\nkgz_x,X,tailings,t,KGZ,72.4,41.2,site,s\n";
    for (parts, names) in [
        // A file GDAL cannot open.
        (
            vec![("file", "broken.gpkg", &b"this is not a geopackage"[..])],
            vec!["broken.gpkg", "cannot open"],
        ),
        // A zip that is not one; a client that sends a whole path.
        (
            vec![(
                "file",
                "C:\\Users\\ainura\\sites.zip",
                &b"PK\x03\x04 truncated"[..],
            )],
            vec!["sites.zip"],
        ),
        // A mapping that is not valid JSON, and one that names a column the file lacks.
        (
            vec![
                ("file", "a.csv", &csv[..]),
                ("mapping", "my-mapping.json", &b"{\"colums\": {}}"[..]),
            ],
            vec!["my-mapping.json", "`colums`"],
        ),
        (
            vec![
                ("file", "sites-2024.csv", &csv[..]),
                (
                    "mapping",
                    "m.json",
                    &b"{\"columns\": {\"name\": \"TSF Name\"}}"[..],
                ),
            ],
            vec!["sites-2024.csv", "\"TSF Name\""],
        ),
    ] {
        let r = upload(&e, "", &e.admin, &parts).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        let d = r.json()["description"].as_str().unwrap().to_owned();
        for name in names {
            assert!(d.contains(name), "{d} should name {name}");
        }
        assert_no_server_detail(&d);
    }
    std::fs::remove_dir_all(&e.dir).ok();
}

// --- The size of an upload bounds the work of importing it --------------------------------------

/// A zip archive of `files`, deflated, as any zip tool writes it.
fn deflated_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    use flate2::write::DeflateEncoder;
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for (name, data) in files {
        let mut enc = DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        let packed = enc.finish().unwrap();
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let offset = out.len() as u32;
        let common = |h: &mut Vec<u8>| {
            h.extend_from_slice(&20u16.to_le_bytes()); // version needed
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&8u16.to_le_bytes()); // deflate
            h.extend_from_slice(&[0; 4]); // time, date
            h.extend_from_slice(&crc.sum().to_le_bytes());
            h.extend_from_slice(&(packed.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&packed);
        directory.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        directory.extend_from_slice(&20u16.to_le_bytes()); // made by
        common(&mut directory);
        directory.extend_from_slice(&[0; 6]); // comment, disk, internal attributes
        directory.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        directory.extend_from_slice(&offset.to_le_bytes());
        directory.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&directory);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(directory.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// `n` valid CSV rows with a header.
fn csv_rows(n: usize) -> String {
    let mut csv = String::from("id,name,kind,activity,country,lon,lat,precision,sources\n");
    for i in 0..n {
        csv.push_str(&format!(
            "kgz_row_{i},Row {i},tailings,t,KGZ,72.4,41.2,site,s\n"
        ));
    }
    csv
}

#[actix_web::test]
async fn a_zip_that_expands_past_ten_times_the_body_limit_is_refused_unread() {
    let e = env_limited("zip-bomb", 64 * 1024);
    // 2 MB of CSV in a few kilobytes.
    let big = csv_rows(1).into_bytes();
    let mut csv = big.clone();
    let line = b"kgz_row_0,Row 0,tailings,t,KGZ,72.4,41.2,site,s\n";
    while csv.len() < 2_000_000 {
        csv.extend_from_slice(line);
    }
    let zip = deflated_zip(&[("sites.csv", &csv)]);
    assert!(zip.len() < 64 * 1024, "{} bytes", zip.len());
    let r = upload(&e, "", &e.admin, &[("file", "sites.zip", &zip)]).await;
    let text: String = r.text().chars().take(500).collect();
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(
        d.contains("sites.zip") && d.contains(&(640 * 1024).to_string()),
        "{d}"
    );
    assert_no_server_detail(&d);
    // The same rows under the limit import.
    let zip = deflated_zip(&[("sites.csv", &big)]);
    let r = upload(&e, "", &e.admin, &[("file", "sites.zip", &zip)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn imports_stop_past_the_row_limit() {
    let e = env_with("row-limit", |s| s.with_max_import_rows(10));
    let r = upload(
        &e,
        "?dry_run=true",
        &e.admin,
        &[("file", "ten.csv", csv_rows(10).as_bytes())],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = upload(
        &e,
        "",
        &e.admin,
        &[("file", "eleven.csv", csv_rows(11).as_bytes())],
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(
        d.contains("eleven.csv")
            && d.contains("more than 10 features")
            && d.contains("--max-import-rows"),
        "{d}"
    );
    assert_eq!(
        get(&e.state, "/collections/sites/items/kgz_row_0")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The CLI's flag.
    let csv = e.dir.join("twelve.csv");
    std::fs::write(&csv, csv_rows(12)).unwrap();
    let out = cli(
        &[
            "import",
            csv.to_str().unwrap(),
            "--max-rows",
            "5",
            "--dry-run",
        ],
        &e.dir.join("cli.gpkg"),
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("more than 5 features") && text.contains("--max-rows"),
        "{text}"
    );
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn a_geopackage_with_a_view_or_a_virtual_table_is_refused_unread() {
    let e = env("gpkg-view");
    // A real GeoPackage of one site, then a recursive view of 5,000 rows registered as a layer.
    let gpkg = e.dir.join("made.gpkg");
    let props = serde_json::json!({
        "id": "kgz_one", "name": "One", "kind": "tailings", "activity": "t", "country": "KGZ",
        "precision": "site", "sources": "s",
    });
    tailings_atlas::io::sites::write_sites(
        &gpkg,
        tailings_atlas::io::sites::ExportFormat::Gpkg,
        &[tailings_atlas::io::sites::ExportFeature {
            lon: 72.4,
            lat: 41.2,
            properties: props.as_object().unwrap(),
        }],
    )
    .unwrap();
    let plain = std::fs::read(&gpkg).unwrap();
    let conn = rusqlite::Connection::open(&gpkg).unwrap();
    conn.execute_batch(
        "CREATE VIEW many AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
           SELECT n.i AS fid, s.geom AS geom, 'many_' || n.i AS id, s.name, s.kind, s.activity, \
                  s.country, s.precision, s.sources FROM n, sites s; \
         INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) \
           VALUES ('many', 'features', 'many', 4326); \
         INSERT INTO gpkg_geometry_columns VALUES ('many', 'geom', 'POINT', 4326, 0, 0);",
    )
    .unwrap();
    drop(conn);
    let with_view = std::fs::read(&gpkg).unwrap();
    let mapping = br#"{"layer": "many"}"#;
    for (name, bytes) in [
        ("inventory.gpkg", &with_view),
        ("inventory.dat", &with_view),
    ] {
        let r = upload(
            &e,
            "?dry_run=true",
            &e.admin,
            &[("file", name, bytes), ("mapping", "m.json", mapping)],
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.text());
        let d = r.json()["description"].as_str().unwrap().to_owned();
        assert!(
            d.contains(name) && d.contains("\"many\"") && d.contains("view"),
            "{d}"
        );
        assert_no_server_detail(&d);
    }
    // Zipped, it is checked once GDAL has opened it, before a layer is read.
    let zip = deflated_zip(&[("inventory.gpkg", &with_view)]);
    let r = upload(
        &e,
        "?dry_run=true",
        &e.admin,
        &[
            ("file", "inventory.zip", &zip),
            ("mapping", "m.json", mapping),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(d.contains("inventory.zip") && d.contains("\"many\""), "{d}");
    // A virtual table other than a spatial index.
    let conn = rusqlite::Connection::open(&gpkg).unwrap();
    conn.execute_batch("DROP VIEW many; CREATE VIRTUAL TABLE notes USING fts5(body);")
        .unwrap();
    drop(conn);
    let with_fts = std::fs::read(&gpkg).unwrap();
    let r = upload(
        &e,
        "?dry_run=true",
        &e.admin,
        &[("file", "notes.gpkg", &with_fts)],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(
        d.contains("\"notes\"") && d.contains("virtual table"),
        "{d}"
    );
    // The GeoPackage as GDAL wrote it (with its R-tree index) imports.
    let r = upload(
        &e,
        "?dry_run=true",
        &e.admin,
        &[("file", "plain.gpkg", &plain)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["report"]["valid"], 1, "{}", r.text());
    std::fs::remove_dir_all(&e.dir).ok();
}
