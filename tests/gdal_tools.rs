//! Exports and imports checked with GDAL's own command-line tools (`ogrinfo`, `ogr2ogr`): what a GIS
//! analyst's tools make of our files, and files made by their tools imported. Each test is skipped
//! (with a note) when the tool is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use tailings_atlas::io::sites::{ImportRead, Mapping, read_sites};
use tailings_atlas::model::Site;

/// A directory under the system temp dir, removed when dropped (also when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p =
            std::env::temp_dir().join(format!("atlas-gdal-tools-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn fixture(name: &str) -> PathBuf {
    repo("tests/fixtures/import").join(name)
}

/// Every row of `path` (default mapping), each a valid site.
fn read_ok(path: &Path) -> (Vec<Site>, ImportRead) {
    let read = read_sites(path, &Mapping::default(), &|_| {})
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

fn tool(name: &str) -> bool {
    let found = Command::new(name).arg("--version").output().is_ok();
    if !found {
        eprintln!("skipped: {name} is not installed");
    }
    found
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn gpkg_opens_in_ogrinfo() {
    if !tool("ogrinfo") {
        return;
    }
    let dir = TempDir::new("ogrinfo");
    // The served inventory (the seed sites, analysed), exported as the CLI and the API do.
    let atlas = tailings_atlas::service::load(&dir.path("atlas.gpkg"), &repo("data")).unwrap();
    let service = tailings_atlas::service::Service::new(atlas);
    let all =
        tailings_atlas::service::export::selected_ids(&service, &Default::default(), &[], None)
            .unwrap();
    let out = dir.path("sites.gpkg");
    tailings_atlas::service::export::write_file(
        &service,
        &all,
        tailings_atlas::io::sites::ExportFormat::Gpkg,
        &out,
    )
    .unwrap();
    let o = Command::new("ogrinfo")
        .args(["-so", "-ro"])
        .arg(&out)
        .arg("sites")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("Layer name: sites"), "{text}");
    assert!(
        text.contains(&format!("Feature Count: {}", all.len())),
        "{text}"
    );
    assert!(text.contains("EPSG\",4326"), "{text}");
}

#[test]
fn imports_xlsx_kml_and_zipped_shapefile_made_by_ogr2ogr() {
    if !tool("ogr2ogr") {
        return;
    }
    let dir = TempDir::new("ogr2ogr");
    let csv = fixture("sites_lonlat.csv");
    // The unit tests check these against the sites the fixture holds.
    let (expected, _) = read_ok(&csv);
    let as_points = [
        "-oo",
        "X_POSSIBLE_NAMES=lon",
        "-oo",
        "Y_POSSIBLE_NAMES=lat",
        "-a_srs",
        "EPSG:4326",
    ];
    let xlsx = dir.path("sites.xlsx");
    run(Command::new("ogr2ogr")
        .args(["-f", "XLSX"])
        .arg(&xlsx)
        .arg(&csv));
    let kml = dir.path("sites.kml");
    run(Command::new("ogr2ogr")
        .args(["-f", "KML"])
        .arg(&kml)
        .arg(&csv)
        .args(as_points));
    // GDAL truncates long names (status_note → status_not): the importer knows them.
    let shp = dir.path("sites.shp.zip");
    run(Command::new("ogr2ogr")
        .args([
            "-f",
            "ESRI Shapefile",
            "-lco",
            "ENCODING=UTF-8",
            "-nln",
            "sites",
        ])
        .arg(&shp)
        .arg(&csv)
        .args(as_points));
    let upload = dir.path("upload.zip");
    std::fs::copy(&shp, &upload).unwrap();
    for (path, driver) in [
        (&xlsx, "XLSX"),
        (&kml, "LIBKML"),
        (&shp, "ESRI Shapefile"),
        (&upload, "ESRI Shapefile"),
    ] {
        let (sites, read) = read_ok(path);
        assert_eq!(read.driver, driver, "{}", path.display());
        assert_eq!(sites, expected, "{}", path.display());
        assert!(
            read.ignored_columns.is_empty(),
            "{}: {:?}",
            path.display(),
            read.ignored_columns
        );
    }
}
