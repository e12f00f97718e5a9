//! The seed inventory file (`data/sites/seed_sites.csv`): one validated [`Site`] per row.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::ReferenceError;
use crate::model::{Site, SiteDraft};

/// A CSV row as written by `scripts/build_data.py`; lists are joined text there.
#[derive(Debug, Deserialize)]
struct Row {
    id: Option<String>,
    name: Option<String>,
    local_name: Option<String>,
    kind: Option<String>,
    activity: Option<String>,
    country: Option<String>,
    status: Option<String>,
    status_note: Option<String>,
    lon: Option<f64>,
    lat: Option<f64>,
    precision: Option<String>,
    volume_m3: Option<f64>,
    tonnage_t: Option<f64>,
    dam_height_m: Option<f64>,
    area_m2: Option<f64>,
    substances: Option<String>,
    receiving_river: Option<String>,
    sources: Option<String>,
    attributes_json: Option<String>,
}

fn split(list: Option<String>, sep: &str) -> Vec<String> {
    list.map(|s| s.split(sep).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Reads and validates every row; the first bad row fails the whole file, naming its line and field.
pub fn read_seed_sites(path: &Path) -> Result<Vec<Site>, ReferenceError> {
    let invalid = |reason: String| ReferenceError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| invalid(e.to_string()))?;
    let mut sites = Vec::new();
    for (n, row) in reader.deserialize::<Row>().enumerate() {
        // Line 1 is the header.
        let line = n + 2;
        let row = row.map_err(|e| invalid(format!("line {line}: {e}")))?;
        let attributes: Map<String, Value> = match row.attributes_json.as_deref() {
            None | Some("") => Map::new(),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                invalid(format!(
                    "line {line}: field `attributes_json`: not a JSON object: {e}"
                ))
            })?,
        };
        let draft = SiteDraft {
            id: row.id,
            name: row.name,
            local_name: row.local_name,
            kind: row.kind,
            activity: row.activity,
            country: row.country,
            status: row.status,
            status_note: row.status_note,
            lon: row.lon,
            lat: row.lat,
            precision: row.precision,
            volume_m3: row.volume_m3,
            tonnage_t: row.tonnage_t,
            dam_height_m: row.dam_height_m,
            area_m2: row.area_m2,
            substances: split(row.substances, "; "),
            receiving_river: row.receiving_river,
            sources: split(row.sources, " | "),
            attributes,
        };
        sites.push(Site::try_from(draft).map_err(|e| invalid(format!("line {line}: {e}")))?);
    }
    Ok(sites)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_row_names_line_and_field() {
        let dir = std::env::temp_dir().join(format!("atlas-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.csv");
        std::fs::write(
            &path,
            "id,name,local_name,kind,activity,country,status,status_note,lon,lat,precision,volume_m3,tonnage_t,dam_height_m,area_m2,substances,receiving_river,sources,attributes_json\n\
             a,A,,tailings,uranium,KGZ,legacy,,72.1,41.2,site,,,,,,,https://x.org,\n\
             b,B,,tailings,uranium,KGZ,legacy,,72.1,95.0,site,,,,,,,https://x.org,\n",
        )
        .unwrap();
        let err = read_seed_sites(&path).unwrap_err().to_string();
        assert!(
            err.contains("line 3") && err.contains("`lat`") && err.contains("95"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
