//! RFC 7946 geometry rules, checked independently of the code that produced the geometry.

use serde_json::Value;

fn position(p: &Value, at: &str) -> Result<(f64, f64), String> {
    let a = p
        .as_array()
        .ok_or(format!("{at}: position is not an array"))?;
    if !(2..=3).contains(&a.len()) {
        return Err(format!("{at}: position has {} numbers", a.len()));
    }
    let lon = a[0].as_f64().ok_or(format!("{at}: lon is not a number"))?;
    let lat = a[1].as_f64().ok_or(format!("{at}: lat is not a number"))?;
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        return Err(format!("{at}: ({lon}, {lat}) out of range"));
    }
    Ok((lon, lat))
}

fn line(c: &Value, at: &str) -> Result<Vec<(f64, f64)>, String> {
    let a = c
        .as_array()
        .ok_or(format!("{at}: not an array of positions"))?;
    let pts = a
        .iter()
        .enumerate()
        .map(|(i, p)| position(p, &format!("{at}[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    if pts.len() < 2 {
        return Err(format!("{at}: a LineString needs at least 2 positions"));
    }
    Ok(pts)
}

/// Twice the signed area (shoelace): positive for counter-clockwise rings.
fn signed_area2(ring: &[(f64, f64)]) -> f64 {
    ring.windows(2)
        .map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1)
        .sum()
}

fn polygon(c: &Value, at: &str) -> Result<(), String> {
    let rings = c.as_array().ok_or(format!("{at}: not an array of rings"))?;
    if rings.is_empty() {
        return Err(format!("{at}: polygon without rings"));
    }
    for (i, r) in rings.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let pts = line(r, &at)?;
        if pts.len() < 4 {
            return Err(format!("{at}: a linear ring needs at least 4 positions"));
        }
        if pts.first() != pts.last() {
            return Err(format!("{at}: ring is not closed"));
        }
        let area = signed_area2(&pts);
        // Right-hand rule: exterior counter-clockwise, holes clockwise.
        if (i == 0 && area < 0.0) || (i > 0 && area > 0.0) {
            return Err(format!(
                "{at}: ring violates the right-hand rule (area2 {area})"
            ));
        }
    }
    Ok(())
}

/// Checks a GeoJSON geometry object against RFC 7946.
pub fn check_geometry(g: &Value) -> Result<(), String> {
    if g.get("crs").is_some() {
        return Err("RFC 7946 removed the `crs` member".into());
    }
    let kind = g["type"].as_str().ok_or("geometry without type")?;
    let c = &g["coordinates"];
    let each = |f: &dyn Fn(&Value, &str) -> Result<(), String>| -> Result<(), String> {
        let parts = c
            .as_array()
            .ok_or(format!("{kind}: coordinates not an array"))?;
        for (i, p) in parts.iter().enumerate() {
            f(p, &format!("{kind}[{i}]"))?;
        }
        Ok(())
    };
    match kind {
        "Point" => position(c, kind).map(|_| ()),
        "MultiPoint" => each(&|p, at| position(p, at).map(|_| ())),
        "LineString" => line(c, kind).map(|_| ()),
        "MultiLineString" => each(&|p, at| line(p, at).map(|_| ())),
        "Polygon" => polygon(c, kind),
        "MultiPolygon" => each(&|p, at| polygon(p, at)),
        "GeometryCollection" => g["geometries"]
            .as_array()
            .ok_or("GeometryCollection without geometries")?
            .iter()
            .try_for_each(check_geometry),
        other => Err(format!("unknown geometry type {other:?}")),
    }
}

#[test]
fn rules_reject_bad_geometry() {
    use serde_json::json;
    assert!(check_geometry(&json!({"type":"Point","coordinates":[72.0,41.0]})).is_ok());
    assert!(check_geometry(&json!({"type":"Point","coordinates":[200.0,41.0]})).is_err());
    assert!(check_geometry(&json!({"type":"LineString","coordinates":[[0,0]]})).is_err());
    let ccw = json!([[0, 0], [1, 0], [1, 1], [0, 0]]);
    let cw = json!([[0, 0], [1, 1], [1, 0], [0, 0]]);
    assert!(check_geometry(&json!({"type":"Polygon","coordinates":[ccw]})).is_ok());
    assert!(check_geometry(&json!({"type":"Polygon","coordinates":[cw]})).is_err());
    assert!(
        check_geometry(&json!({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}))
            .is_err()
    );
}
