//! Shapefile (DBF) limits and how exports work around them: column names of at most 10 bytes
//! ([`shapefile_names`], deterministic truncations), Real widths that read back exactly, and texts
//! over 254 bytes cut into continuation columns.

use std::collections::HashSet;

use super::fields::SiteField;

/// Shapefile column names for the property keys longer than the DBF limit of 10 bytes: the site
/// fields (which [`read_sites`](super::read_sites) knows as aliases) and the analysis fields, as
/// the schema defines them ([`crate::schema::FieldDef::short_name`]). Other long keys are truncated
/// deterministically.
pub fn shapefile_names() -> impl Iterator<Item = (&'static str, &'static str)> {
    crate::schema::SITE_FIELDS
        .iter()
        .chain(crate::schema::computed_fields())
        .filter_map(|f| Some((f.name, f.short_name?)))
}

/// DBF limits: bytes in a column name, in a text value, in a field.
pub(super) const DBF_NAME_MAX: usize = 10;

pub(super) const DBF_TEXT_MAX: usize = 254;

pub(super) const DBF_WIDTH_MAX: usize = 255;

/// DBF width and decimals with which every value reads back as the same double, or `None` when
/// that does not fit a DBF field.
pub(super) fn dbf_real_format(values: &[f64]) -> Option<(i32, i32)> {
    if values.is_empty() {
        // GDAL's own default for a Real column.
        return Some((24, 15));
    }
    // Rust prints the shortest decimal that reads back exactly; at least that many decimals with
    // printf's `%.*f` (what the DBF writer uses) reads back too. Checked rather than trusted.
    let decimals = |v: f64| {
        let s = v.to_string();
        s.find('.').map_or(0, |i| s.len() - i - 1)
    };
    let mut p = values
        .iter()
        .map(|&v| decimals(v))
        .max()
        .unwrap_or(0)
        .max(1);
    while values
        .iter()
        .any(|&v| format!("{v:.p$}").parse::<f64>().ok() != Some(v))
    {
        p += 1;
        if p > 40 {
            return None;
        }
    }
    let width = values.iter().map(|&v| format!("{v:.p$}").len()).max()?;
    (width <= DBF_WIDTH_MAX).then_some((width as i32, p as i32))
}

/// Cuts `text` into pieces of at most 254 bytes, at character boundaries and never next to a blank
/// (DBF readers strip leading and trailing blanks, which would lose them).
pub(super) fn split_dbf_text(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > DBF_TEXT_MAX {
        let max = floor_char_boundary(rest, DBF_TEXT_MAX);
        let cut = (1..=max)
            .rev()
            .filter(|&i| rest.is_char_boundary(i))
            .find(|&i| {
                !rest[..i].ends_with(char::is_whitespace)
                    && !rest[i..].starts_with(char::is_whitespace)
            })
            // Only a run of blanks longer than a whole field gets here; it cannot be kept anyway.
            .unwrap_or(max);
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    parts.push(rest);
    parts
}

pub(super) fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

pub(super) fn truncate_bytes(s: &str, max: usize) -> &str {
    &s[..floor_char_boundary(s, max)]
}

/// The name of part `part` (2, 3…) of a text column cut for a shapefile.
pub(super) fn continuation_name(base: &str, part: usize) -> String {
    let suffix = format!("_{part}");
    format!(
        "{}{suffix}",
        truncate_bytes(base, DBF_NAME_MAX.saturating_sub(suffix.len()))
    )
}

pub(super) fn short_name(key: &str) -> Option<&'static str> {
    crate::schema::field(key)?.short_name
}

/// Shapefile names for `(key, parts)` columns: the name of each and of its continuation parts.
pub(super) fn dbf_names(columns: &[(&str, usize)]) -> Result<Vec<Vec<String>>, String> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = vec![Vec::new(); columns.len()];
    // Site fields first: the importer expects their names, so they never yield to another key.
    let (site, other): (Vec<usize>, Vec<usize>) =
        (0..columns.len()).partition(|&i| SiteField::from_name(columns[i].0).is_some());
    for i in site.into_iter().chain(other) {
        let (key, parts) = columns[i];
        let is_site = SiteField::from_name(key).is_some();
        let preferred = short_name(key)
            .map(str::to_owned)
            .unwrap_or_else(|| truncate_bytes(key, DBF_NAME_MAX).to_owned());
        let numbered = (1..10_000usize).map(|n| {
            let suffix = format!("_{n}");
            format!(
                "{}{suffix}",
                truncate_bytes(key, DBF_NAME_MAX - suffix.len())
            )
        });
        let candidates: Box<dyn Iterator<Item = String>> = if is_site {
            Box::new(std::iter::once(preferred))
        } else {
            Box::new(std::iter::once(preferred).chain(numbered))
        };
        let names = candidates
            .map(|base| {
                let mut names = vec![base.clone()];
                names.extend((2..=parts).map(|p| continuation_name(&base, p)));
                names
            })
            .find(|names| {
                names
                    .iter()
                    .all(|n| !n.is_empty() && !taken.contains(&n.to_lowercase()))
            })
            .ok_or_else(|| format!("no free shapefile column name for `{key}`"))?;
        taken.extend(names.iter().map(|n| n.to_lowercase()));
        out[i] = names;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn dbf_text_split_is_lossless() {
        let mut rng = StdRng::seed_from_u64(20240611);
        let alphabet: Vec<char> = "ab c  dé Жж№ «»😀\t-_[]\"".chars().collect();
        for _ in 0..500 {
            let len = rng.random_range(0..900);
            let text: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let parts = split_dbf_text(&text);
            assert_eq!(parts.concat(), text);
            for (i, p) in parts.iter().enumerate() {
                assert!(p.len() <= DBF_TEXT_MAX);
                if i + 1 < parts.len() {
                    assert!(!p.ends_with(char::is_whitespace), "{p:?}");
                    assert!(!parts[i + 1].starts_with(char::is_whitespace));
                }
            }
        }
    }

    /// The most continuation columns a text of `n` bytes takes: two consecutive parts hold at
    /// least 252 bytes (documented in `model::limits`).
    fn max_parts(n: usize) -> usize {
        2 * n.div_ceil(DBF_TEXT_MAX - 2) + 1
    }

    #[test]
    fn blank_heavy_texts_take_at_most_the_documented_columns() {
        let mut rng = StdRng::seed_from_u64(65_535);
        for alphabet in ["a ", "ab  ", "ж ", "x y😀 "] {
            let alphabet: Vec<char> = alphabet.chars().collect();
            for _ in 0..200 {
                let len = rng.random_range(0..9_000);
                let text: String = (0..len)
                    .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                    .collect();
                let parts = split_dbf_text(&text);
                assert!(parts.len() <= max_parts(text.len()), "{}", text.len());
            }
        }
    }

    #[test]
    fn a_site_at_every_text_limit_fits_one_dbf_record() {
        // The site texts at their limits, split the worst way, plus every other column (the other
        // site fields and the analysis fields, 64 at the most) at a full 254 bytes, plus the
        // record's deletion flag.
        let texts: usize = crate::model::limits::limited()
            .map(|(_, n)| max_parts(n) * DBF_TEXT_MAX)
            .sum();
        let record = texts + 64 * DBF_TEXT_MAX + 1;
        assert!(record <= 65_535, "{record} bytes");
    }

    #[test]
    fn dbf_names_are_short_unique_and_stable() {
        let names = dbf_names(&[
            ("downstream_water_bodies_extra", 1),
            ("attributes", 3),
            ("status_note", 2),
            ("river_distance_m", 1),
            ("downstream_water_bodies_more", 1),
            ("sources_2", 1),
            ("sources", 2),
        ])
        .unwrap();
        assert_eq!(names[0], ["downstream"]);
        assert_eq!(names[1], ["attributes", "attribut_2", "attribut_3"]);
        assert_eq!(names[2], ["status_nt", "status_n_2"]);
        assert_eq!(names[3], ["river_m"]);
        assert_eq!(names[4], ["downstre_1"]);
        // The site field keeps its continuation name; the other key yields.
        assert_eq!(names[6], ["sources", "sources_2"]);
        assert_eq!(names[5], ["sources__1"]);
        assert_eq!(continuation_name("sources", 10), "sources_10");
        let all: Vec<&String> = names.iter().flatten().collect();
        let unique: HashSet<String> = all.iter().map(|n| n.to_lowercase()).collect();
        assert_eq!(unique.len(), all.len());
        // The table itself: short, unique, and no short name is a site field.
        let mut seen = HashSet::new();
        for (long, short) in shapefile_names() {
            assert!(long.len() > DBF_NAME_MAX && short.len() <= DBF_NAME_MAX);
            assert!(seen.insert(short), "{short} twice");
            assert!(SiteField::from_name(short).is_none());
        }
    }

    #[test]
    fn dbf_reals_read_back_exactly() {
        let values = [0.1 + 0.2, 1.5e9, 72.448039, 1e-7, 2.0];
        let (width, decimals) = dbf_real_format(&values).unwrap();
        for v in values {
            let text = format!(
                "{v:width$.p$}",
                width = width as usize,
                p = decimals as usize
            );
            assert_eq!(text.len(), width as usize);
            assert_eq!(text.trim().parse::<f64>().unwrap(), v);
        }
        assert_eq!(dbf_real_format(&[1e300]), None);
    }
}
