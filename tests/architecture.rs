//! The module structure, checked from the source: dependencies point one way (schema, geodesy →
//! model, index → reference → analysis → catalog → service → api, as `LAYERS` says), and the
//! domain core uses neither actix-web, GDAL, SQLite nor PostgreSQL. Test modules (from the first
//! `#[cfg(test)]` of a file, or a whole file marked `#![cfg(test)]`) are left out: a test may load
//! data through `io`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module of the library and its layer: a module may use only modules of lower
/// layers. Modules of one layer do not use each other.
const LAYERS: &[(&str, u32)] = &[
    ("schema", 0),
    ("geodesy", 0),
    ("metrics", 0),
    ("model", 1),
    ("index", 1),
    ("reference", 2),
    ("analysis", 3),
    ("filter", 4),
    ("risk", 4),
    ("catalog", 5),
    ("tiles", 6),
    ("render", 6),
    ("store", 4),
    ("auth", 5),
    ("io", 6),
    ("service", 8),
    ("api", 10),
];

/// The domain core: no HTTP, no GDAL, no SQL.
const CORE: &[&str] = &[
    "model",
    "geodesy",
    "schema",
    "index",
    "reference",
    "analysis",
    "filter",
    "catalog",
    "risk",
    "tiles",
    "render",
];

/// Crates the core must not use.
const FORBIDDEN_IN_CORE: &[&str] = &[
    "actix_web",
    "actix_",
    "gdal",
    "rusqlite",
    "postgres",
    "r2d2",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for `lib.rs` and `main.rs`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    match first.strip_suffix(".rs") {
        Some("lib" | "main") => None,
        Some(m) => Some(m.to_owned()),
        None => Some(first),
    }
}

/// A file's code before its tests, with `//` comments removed.
fn code_of(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    // A file that is a test module throughout says so at its top.
    if text.contains("\n#![cfg(test)]") {
        return String::new();
    }
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    code.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules named after `crate::`, also inside `use crate::{a::x, b}` groups.
fn crate_uses(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let preceded = rest[..i].chars().next_back().is_some_and(is_ident);
        rest = &rest[i + "crate::".len()..];
        if preceded {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // The first name of each item at depth 0 of the group.
            let (mut depth, mut name, mut at_start) = (0, String::new(), true);
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => at_start = true,
                    c if depth == 0 && at_start && is_ident(c) => name.push(c),
                    _ => {}
                }
                if at_start && !name.is_empty() && !is_ident(c) {
                    out.push(std::mem::take(&mut name));
                    at_start = false;
                }
            }
            if !name.is_empty() {
                out.push(name);
            }
        } else {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

fn sources() -> Vec<(String, PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|f| {
            let module = module_of(&src, &f)?;
            let code = code_of(&f);
            Some((module, f, code))
        })
        .collect()
}

#[test]
fn every_module_has_a_layer() {
    let layers: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    for (module, file, _) in sources() {
        // The binary's own modules (the CLI) sit above everything.
        if module == "cli" {
            continue;
        }
        assert!(
            layers.contains_key(module.as_str()),
            "{}: module `{module}` is not in LAYERS; give it its place in the structure",
            file.display()
        );
    }
}

#[test]
fn dependencies_point_one_way() {
    let layers: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let mut violations = Vec::new();
    for (module, file, code) in sources() {
        let Some(&own) = layers.get(module.as_str()) else {
            continue;
        };
        for used in crate_uses(&code) {
            if used == module {
                continue;
            }
            match layers.get(used.as_str()) {
                Some(&layer) if layer < own => {}
                Some(&layer) => violations.push(format!(
                    "{}: `{module}` (layer {own}) uses `crate::{used}` (layer {layer})",
                    file.display()
                )),
                None => {}
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_core_uses_neither_http_gdal_nor_sql() {
    let mut violations = Vec::new();
    for (module, file, code) in sources() {
        if !CORE.contains(&module.as_str()) {
            continue;
        }
        for (n, line) in code.lines().enumerate() {
            for krate in FORBIDDEN_IN_CORE {
                let hit = line.match_indices(krate).any(|(i, _)| {
                    !line[..i].chars().next_back().is_some_and(is_ident)
                        && (krate.ends_with('_') || line[i + krate.len()..].starts_with("::"))
                });
                if hit {
                    violations.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// The checks above must be able to fail: they see a forbidden use where there is one.
#[test]
fn the_checks_see_what_they_look_for() {
    assert_eq!(
        crate_uses(
            "use crate::{io::layers::read_layer, model::Site};\nlet x = crate::store::open();"
        ),
        vec!["io", "model", "store"]
    );
    assert_eq!(
        crate_uses("use crate::analysis::Analyzer;"),
        vec!["analysis"]
    );
    assert!(crate_uses("my_crate::io::x").is_empty());
    let code = "use gdal::Dataset;";
    assert!(
        FORBIDDEN_IN_CORE
            .iter()
            .any(|k| code.contains(&format!("{k}::")))
    );
}
