//! What each collection's tiles carry: the properties a style and a popup need, by name, with
//! their types for TileJSON `vector_layers`. Arrays and objects (`contributors`, `top_sites`,
//! `risk_factors`, `load_out` …) are left out of tiles; clients read them from `/items`. A property
//! a feature does not have (a risk field before the risk layers exist, a null) is left out of that
//! feature.

/// The type of a tile property, as TileJSON's `fields` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    Boolean,
}

impl FieldType {
    /// The TileJSON name: `String`, `Number` or `Boolean`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "String",
            FieldType::Number => "Number",
            FieldType::Boolean => "Boolean",
        }
    }
}

use FieldType::{Number as N, String as S};

/// One collection's tile properties.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileLayer {
    pub id: &'static str,
    pub fields: &'static [(&'static str, FieldType)],
    /// The lowest zoom level at which its features are put in tiles (a hint for styles; every
    /// zoom is served).
    pub minzoom: u8,
}

/// The known collections, in drawing order (bottom first).
pub const TILE_LAYERS: &[TileLayer] = &[
    TileLayer {
        id: "countries",
        fields: &[("id", S), ("iso3", S), ("name", S)],
        minzoom: 0,
    },
    TileLayer {
        id: "country-summary",
        fields: &[
            ("id", S),
            ("iso3", S),
            ("name", S),
            ("site_count", N),
            ("low", N),
            ("medium", N),
            ("high", N),
            ("very_high", N),
            ("load_out_total", N),
            ("load_in_total", N),
        ],
        minzoom: 0,
    },
    TileLayer {
        id: "water-bodies",
        fields: &[("id", S), ("name", S), ("kind", S)],
        minzoom: 0,
    },
    TileLayer {
        id: "risk-hexagons",
        fields: &[
            ("id", S),
            ("resolution", N),
            ("site_count", N),
            ("max_score", N),
            ("sum_score", N),
            ("low", N),
            ("medium", N),
            ("high", N),
            ("very_high", N),
        ],
        minzoom: 0,
    },
    TileLayer {
        id: "borders",
        fields: &[("id", S), ("iso3_left", S), ("iso3_right", S), ("kind", S)],
        minzoom: 0,
    },
    TileLayer {
        id: "rivers",
        fields: &[("id", S), ("name", S), ("source", S), ("level", N)],
        minzoom: 0,
    },
    TileLayer {
        id: "risk-reaches",
        fields: &[
            ("id", S),
            ("river_id", S),
            ("river_name", S),
            ("load", N),
            ("upstream_sites", N),
            ("top_site_id", S),
            ("top_site_name", S),
            ("top_site_share", N),
            ("length_km", N),
        ],
        minzoom: 0,
    },
    TileLayer {
        id: "border-crossings",
        fields: &[
            ("id", S),
            ("from_country", S),
            ("to_country", S),
            ("river_id", S),
            ("river_name", S),
            ("load", N),
            ("site_count", N),
            ("top_site_id", S),
            ("top_site_name", S),
        ],
        minzoom: 0,
    },
    TileLayer {
        id: "sites",
        fields: &[
            ("id", S),
            ("name", S),
            ("kind", S),
            ("country", S),
            ("status", S),
            ("risk_score", N),
            ("risk_class", S),
        ],
        minzoom: 0,
    },
];

/// A collection this table does not know: its id and name only.
const OTHER: &[(&str, FieldType)] = &[("id", S), ("name", S)];

/// The tile properties of collection `id`.
pub fn fields(id: &str) -> &'static [(&'static str, FieldType)] {
    TILE_LAYERS
        .iter()
        .find(|l| l.id == id)
        .map_or(OTHER, |l| l.fields)
}

/// Where collection `id` goes in the drawing order of a multi-layer tile (unknown ones last).
pub fn order(id: &str) -> usize {
    TILE_LAYERS
        .iter()
        .position(|l| l.id == id)
        .unwrap_or(TILE_LAYERS.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_carry_the_style_and_popup_fields() {
        let names: Vec<&str> = fields("sites").iter().map(|f| f.0).collect();
        assert_eq!(
            names,
            [
                "id",
                "name",
                "kind",
                "country",
                "status",
                "risk_score",
                "risk_class"
            ]
        );
        assert_eq!(fields("unknown"), OTHER);
        assert!(order("countries") < order("sites"));
        assert_eq!(order("unknown"), TILE_LAYERS.len());
        // Every table starts with the id, and no name appears twice.
        for l in TILE_LAYERS {
            assert_eq!(l.fields[0].0, "id");
            let mut n: Vec<_> = l.fields.iter().map(|f| f.0).collect();
            n.sort();
            n.dedup();
            assert_eq!(n.len(), l.fields.len(), "{}", l.id);
        }
    }
}
