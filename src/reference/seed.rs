//! The seed inventory file (`data/sites/seed_sites.csv`): one validated [`Site`] per row.

use std::path::Path;

use serde_json::Map;

use super::ReferenceError;
use crate::model::{DraftValue, Site, SiteDraft};
use crate::schema::{FieldType, SITE_FIELDS};

/// The column of site field `name` in the file as `scripts/build_data.py` writes it: the field's
/// own name, but `attributes_json` for the free attributes.
fn column_of(name: &str) -> String {
    match name {
        "attributes" => "attributes_json".to_owned(),
        other => other.to_owned(),
    }
}

/// How the file joins a list field's items.
fn separator_of(name: &str) -> &'static str {
    match name {
        "sources" => " | ",
        _ => "; ",
    }
}

/// Reads and validates every row; the first bad row fails the whole file, naming its line and field.
/// The columns are the schema's site fields ([`SITE_FIELDS`]), each read by its type; a column the
/// file lacks is empty in every row.
pub fn read_seed_sites(path: &Path) -> Result<Vec<Site>, ReferenceError> {
    let invalid = |reason: String| ReferenceError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| invalid(e.to_string()))?;
    let headers = reader
        .headers()
        .map_err(|e| invalid(e.to_string()))?
        .clone();
    // (schema position, column) of every field the file has.
    let columns: Vec<(usize, usize)> = SITE_FIELDS
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let name = column_of(f.name);
            headers.iter().position(|h| h == name).map(|c| (i, c))
        })
        .collect();
    let mut sites = Vec::new();
    for (n, record) in reader.records().enumerate() {
        // Line 1 is the header.
        let line = n + 2;
        let record = record.map_err(|e| invalid(format!("line {line}: {e}")))?;
        let mut draft = SiteDraft::default();
        for &(i, c) in &columns {
            let f = &SITE_FIELDS[i];
            let text = record.get(c).filter(|t| !t.is_empty());
            let value = match f.ty {
                FieldType::Number => DraftValue::Number(
                    text.map(|t| {
                        t.trim().parse::<f64>().map_err(|_| {
                            invalid(format!(
                                "line {line}: field `{}`: {t:?} is not a number",
                                f.name
                            ))
                        })
                    })
                    .transpose()?,
                ),
                FieldType::TextList => DraftValue::List(
                    text.map(|t| t.split(separator_of(f.name)).map(str::to_owned).collect())
                        .unwrap_or_default(),
                ),
                FieldType::Object => DraftValue::Object(match text {
                    None => Map::new(),
                    Some(t) => serde_json::from_str(t).map_err(|e| {
                        invalid(format!(
                            "line {line}: field `{}`: not a JSON object: {e}",
                            column_of(f.name)
                        ))
                    })?,
                }),
                FieldType::Text | FieldType::CountryCode => {
                    DraftValue::Text(text.map(str::to_owned))
                }
            };
            draft.set(i, value);
        }
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
        // Columns by the schema's names, in any order; a column the schema lacks is ignored, one
        // the file lacks is empty; a value that is not of its field's type names the field.
        std::fs::write(
            &path,
            "note,lat,lon,id,name,kind,activity,country,precision,sources,substances,volume_m3\n\
             x,41.2,72.1,a,A,tailings,uranium,KGZ,site,https://x.org | https://y.org,uranium; arsenic,1e6\n",
        )
        .unwrap();
        let sites = read_seed_sites(&path).unwrap();
        assert_eq!(sites[0].sources, ["https://x.org", "https://y.org"]);
        assert_eq!(sites[0].substances, ["uranium", "arsenic"]);
        assert_eq!(sites[0].quantities.volume_m3, Some(1e6));
        assert_eq!(sites[0].local_name, None);
        std::fs::write(
            &path,
            "id,name,kind,activity,country,precision,sources,lon,lat,volume_m3\n\
             a,A,tailings,uranium,KGZ,site,https://x.org,72.1,41.2,lots\n",
        )
        .unwrap();
        let err = read_seed_sites(&path).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("`volume_m3`") && err.contains("lots"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
