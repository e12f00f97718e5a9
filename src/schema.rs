//! Every field of a site and of its analysis, defined once: name, type, unit, description, the
//! Shapefile short name, the longest text accepted and whether clients may filter on it.
//!
//! The rest of the code derives from these tables: the analysis writes its flat fields in
//! [`ANALYSIS_FIELDS`] order ([`crate::analysis::SiteFields::NAMES`]), the sites collection's
//! queryables are the fields marked [`FieldDef::queryable`], exports name their Shapefile columns by
//! [`FieldDef::short_name`], edits refuse a write to a read-only analysis field, and the API
//! documents each property with its description and unit.

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text (closed vocabularies such as `kind` are the model's enums).
    Text,
    /// An ISO 3166-1 alpha-3 country code.
    CountryCode,
    /// A decimal number, in [`FieldDef::unit`].
    Number,
    /// A list of texts (JSON array; `;`-separated or JSON text in flat formats).
    TextList,
    /// A JSON object (JSON text in flat formats).
    Object,
}

impl FieldType {
    /// The JSON Schema type of the field's values (OpenAPI, queryables).
    pub fn json_type(self) -> &'static str {
        match self {
            FieldType::Text | FieldType::CountryCode => "string",
            FieldType::Number => "number",
            FieldType::TextList => "array",
            FieldType::Object => "object",
        }
    }
}

/// One field of a site or of its analysis.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    /// The property name, in GeoJSON, files and the store.
    pub name: &'static str,
    pub ty: FieldType,
    /// The unit of a number (`m`, `km`, `m3`, `t`, `m2`, `degrees`), if it has one.
    pub unit: Option<&'static str>,
    pub description: &'static str,
    /// The Shapefile (DBF) column name, where the name is longer than DBF's 10 bytes.
    pub short_name: Option<&'static str>,
    /// Whether a site must have it.
    pub required: bool,
    /// Whether `/collections/sites/items` filters on it (`?country=KGZ`).
    pub queryable: bool,
    /// The most bytes of UTF-8 a text may hold after trimming (for a list: the whole list as JSON
    /// text; for an object: its compact JSON text). See [`crate::model::limits`] for why these.
    pub max_bytes: Option<usize>,
    /// For a list: the most bytes of one item.
    pub max_item_bytes: Option<usize>,
}

impl FieldDef {
    const fn new(name: &'static str, ty: FieldType, description: &'static str) -> Self {
        FieldDef {
            name,
            ty,
            unit: None,
            description,
            short_name: None,
            required: false,
            queryable: false,
            max_bytes: None,
            max_item_bytes: None,
        }
    }

    const fn unit(mut self, unit: &'static str) -> Self {
        self.unit = Some(unit);
        self
    }

    const fn short(mut self, short_name: &'static str) -> Self {
        self.short_name = Some(short_name);
        self
    }

    const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    const fn queryable(mut self) -> Self {
        self.queryable = true;
        self
    }

    const fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = Some(max_bytes);
        self
    }

    const fn max_item_bytes(mut self, max_item_bytes: usize) -> Self {
        self.max_item_bytes = Some(max_item_bytes);
        self
    }

    /// The column name in a Shapefile: the short name, or the name itself when it fits.
    pub fn dbf_name(&self) -> &'static str {
        self.short_name.unwrap_or(self.name)
    }
}

use FieldType::{CountryCode, Number, Object, Text, TextList};

/// A site's own fields, in the order of its GeoJSON properties.
pub const SITE_FIELDS: [FieldDef; 19] = [
    FieldDef::new(
        "id",
        Text,
        "Stable identifier: 1-128 characters of a-z, 0-9, '_' and '-'.",
    )
    .required(),
    FieldDef::new("name", Text, "The facility's name, as the sources give it.")
        .required()
        .max_bytes(500),
    FieldDef::new(
        "local_name",
        Text,
        "The name in a local language or script, if known.",
    )
    .max_bytes(500),
    FieldDef::new(
        "kind",
        Text,
        "tailings (a tailings storage facility) or hazardous_site (plants, dumps, other sites).",
    )
    .required()
    .queryable(),
    FieldDef::new(
        "activity",
        Text,
        "What produced the waste (e.g. uranium legacy, gold processing).",
    )
    .required()
    .max_bytes(500),
    FieldDef::new(
        "country",
        CountryCode,
        "The country the site is declared in (ISO 3166-1 alpha-3).",
    )
    .required()
    .queryable(),
    FieldDef::new(
        "status",
        Text,
        "Operational state: active, inactive, legacy, remediated or unknown.",
    )
    .queryable(),
    FieldDef::new(
        "status_note",
        Text,
        "The status as the source states it (dates, programmes).",
    )
    .short("status_nt")
    .max_bytes(2000),
    FieldDef::new(
        "precision",
        Text,
        "How well the coordinate locates the facility: site, site_approx or town.",
    )
    .required()
    .queryable(),
    FieldDef::new("lon", Number, "Longitude, WGS 84.")
        .unit("degrees")
        .required(),
    FieldDef::new("lat", Number, "Latitude, WGS 84.")
        .unit("degrees")
        .required(),
    FieldDef::new("volume_m3", Number, "Stored volume.").unit("m3"),
    FieldDef::new("tonnage_t", Number, "Stored mass.").unit("t"),
    FieldDef::new("dam_height_m", Number, "Dam height.")
        .unit("m")
        .short("dam_h_m"),
    FieldDef::new("area_m2", Number, "Footprint area.").unit("m2"),
    FieldDef::new(
        "substances",
        TextList,
        "Hazardous substances reported (e.g. uranium, arsenic, cyanide).",
    )
    .max_bytes(2000)
    .max_item_bytes(200),
    FieldDef::new(
        "receiving_river",
        Text,
        "The river the sources say receives the site's drainage.",
    )
    .short("recv_river")
    .queryable()
    .max_bytes(500),
    FieldDef::new(
        "sources",
        TextList,
        "Where the entry comes from: at least one public source.",
    )
    .required()
    .max_bytes(8000)
    .max_item_bytes(2000),
    FieldDef::new(
        "attributes",
        Object,
        "Further attributes of the source, as a JSON object.",
    )
    .max_bytes(8000),
];

/// The fields the analysis adds to every site and point, in the order they are written. Read-only:
/// computed from the reference layers, never stored.
pub const ANALYSIS_FIELDS: [FieldDef; 30] = [
    FieldDef::new(
        "located_country",
        CountryCode,
        "The country whose polygon holds the site, or the nearest within 5 km.",
    )
    .short("loc_cntry"),
    FieldDef::new(
        "country_match",
        Text,
        "How located_country was found: inside a polygon, nearest one (within 5 km), or none.",
    )
    .short("cntry_mtch"),
    FieldDef::new(
        "country_check",
        Text,
        "Whether located_country agrees with the declared country.",
    )
    .short("cntry_chk"),
    FieldDef::new("nearest_river_id", Text, "The nearest river line.").short("river_id"),
    FieldDef::new("nearest_river_name", Text, "Its name, if it has one.").short("river_name"),
    FieldDef::new(
        "river_distance_m",
        Number,
        "Geodesic distance to the nearest river.",
    )
    .unit("m")
    .short("river_m"),
    FieldDef::new(
        "nearest_river_lon",
        Number,
        "Longitude of the nearest point on that river.",
    )
    .unit("degrees")
    .short("river_lon"),
    FieldDef::new(
        "nearest_river_lat",
        Number,
        "Latitude of the nearest point on that river.",
    )
    .unit("degrees")
    .short("river_lat"),
    FieldDef::new(
        "nearest_border_id",
        Text,
        "The nearest international border line.",
    )
    .short("border_id"),
    FieldDef::new(
        "border_countries",
        Text,
        "The two countries it separates (ISO3-ISO3).",
    )
    .short("border_cty"),
    FieldDef::new(
        "neighbour_country",
        CountryCode,
        "The country across that border.",
    )
    .short("neighb_cty"),
    FieldDef::new(
        "border_distance_m",
        Number,
        "Geodesic distance to the nearest border.",
    )
    .unit("m")
    .short("border_m"),
    FieldDef::new(
        "nearest_border_lon",
        Number,
        "Longitude of the nearest point on that border.",
    )
    .unit("degrees")
    .short("border_lon"),
    FieldDef::new(
        "nearest_border_lat",
        Number,
        "Latitude of the nearest point on that border.",
    )
    .unit("degrees")
    .short("border_lat"),
    FieldDef::new(
        "downstream_status",
        Text,
        "ok, or why there is no downstream result.",
    )
    .short("ds_status"),
    FieldDef::new(
        "snap_distance_m",
        Number,
        "Distance from the site to the river point its water is taken to join.",
    )
    .unit("m")
    .short("snap_m"),
    FieldDef::new(
        "snap_river_id",
        Text,
        "The river the downstream path starts on (a main river for a regional snap).",
    )
    .short("snap_river"),
    FieldDef::new(
        "drainage_confidence",
        Text,
        "direct (snap within 2 km), near (within 15 km) or regional (the receiving main river is assumed).",
    )
    .short("drain_conf"),
    FieldDef::new(
        "downstream_countries",
        Text,
        "The countries the water passes through, in order (unknown where a crossing cannot be oriented).",
    )
    .short("ds_cntries"),
    FieldDef::new(
        "first_crossing_from",
        CountryCode,
        "The country the water leaves at the first border crossing.",
    )
    .short("cross_from"),
    FieldDef::new(
        "first_crossing_to",
        CountryCode,
        "The country it enters there.",
    )
    .short("cross_to"),
    FieldDef::new(
        "first_crossing_lon",
        Number,
        "Longitude of the first crossing.",
    )
    .unit("degrees")
    .short("cross_lon"),
    FieldDef::new(
        "first_crossing_lat",
        Number,
        "Latitude of the first crossing.",
    )
    .unit("degrees")
    .short("cross_lat"),
    FieldDef::new(
        "downstream_border_km",
        Number,
        "Along-river distance to the first border crossing.",
    )
    .unit("km")
    .short("ds_bord_km"),
    FieldDef::new(
        "downstream_water_bodies",
        Text,
        "Lakes and reservoirs on the path, in order.",
    )
    .short("ds_waters"),
    FieldDef::new(
        "terminal_water_body",
        Text,
        "The water body the path ends in, if any.",
    )
    .short("term_water"),
    FieldDef::new(
        "runout_released_volume_m3",
        Number,
        "Volume a dam failure would release (Rico et al. 2008).",
    )
    .unit("m3")
    .short("ro_rel_m3"),
    FieldDef::new(
        "runout_distance_km",
        Number,
        "How far the released tailings would run (Rico et al. 2008).",
    )
    .unit("km")
    .short("ro_dist_km"),
    FieldDef::new(
        "runout_reaches_border",
        Text,
        "Whether the runout reaches the first border downstream: true, false or unknown.",
    )
    .short("ro_border"),
    FieldDef::new(
        "runout_note",
        Text,
        "What the runout screening lacked, if anything.",
    )
    .short("ro_note"),
];

/// The risk fields of a site, after its analysis fields: computed from the site and its analysis by
/// the risk model (`config/risk-model.toml`, see [`crate::risk`]).
pub const RISK_FIELDS: [FieldDef; 5] = [
    FieldDef::new(
        "hazard_score",
        Number,
        "The site's hazard: the points of the kind, toxicity, quantity and status factors (0-55 in the \
         shipped model).",
    )
    .unit("points")
    .short("hazard_sc"),
    FieldDef::new(
        "risk_score",
        Number,
        "Risk index, 0-100: the hazard plus the transboundary exposure (river, border and runout \
         factors); the sum of the points in risk_factors.",
    )
    .unit("points"),
    FieldDef::new(
        "risk_class",
        Text,
        "low, medium, high or very_high, by the thresholds of the risk model.",
    ),
    FieldDef::new(
        "toxicity_class",
        Text,
        "radioactive, cyanide, heavy_metals, acids, oil or other_chemicals, from the substances and \
         activity by the risk model's keyword table.",
    )
    .short("tox_class"),
    FieldDef::new(
        "risk_factors",
        Object,
        "Each factor's points, the value it was computed from, and whether that value was assumed \
         (a documented default for a missing attribute).",
    )
    .short("risk_fact"),
];

/// The names of [`RISK_FIELDS`], in order.
pub const RISK_FIELD_NAMES: [&str; RISK_FIELDS.len()] = {
    let mut names = [""; RISK_FIELDS.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = RISK_FIELDS[i].name;
        i += 1;
    }
    names
};

/// Every computed field of a published site: the analysis fields, then the risk fields.
pub fn computed_fields() -> impl Iterator<Item = &'static FieldDef> {
    ANALYSIS_FIELDS.iter().chain(RISK_FIELDS.iter())
}

/// The names of [`ANALYSIS_FIELDS`], in order.
pub const ANALYSIS_FIELD_NAMES: [&str; ANALYSIS_FIELDS.len()] = {
    let mut names = [""; ANALYSIS_FIELDS.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = ANALYSIS_FIELDS[i].name;
        i += 1;
    }
    names
};

const fn queryable_count() -> usize {
    let (mut n, mut i) = (0, 0);
    while i < SITE_FIELDS.len() {
        if SITE_FIELDS[i].queryable {
            n += 1;
        }
        i += 1;
    }
    n
}

/// The site fields clients may filter on, in order.
pub const SITE_QUERYABLES: [&str; queryable_count()] = {
    let mut names = [""; queryable_count()];
    let (mut n, mut i) = (0, 0);
    while i < SITE_FIELDS.len() {
        if SITE_FIELDS[i].queryable {
            names[n] = SITE_FIELDS[i].name;
            n += 1;
        }
        i += 1;
    }
    names
};

/// The names of the site's own attributes: [`SITE_FIELDS`] but the coordinates, in order.
pub const SITE_ATTRIBUTES: [&str; SITE_FIELDS.len() - 2] = {
    let mut names = [""; SITE_FIELDS.len() - 2];
    let (mut n, mut i) = (0, 0);
    while i < SITE_FIELDS.len() {
        let name = SITE_FIELDS[i].name;
        // `lon` and `lat` are the geometry.
        if !matches!(name.as_bytes(), b"lon" | b"lat") {
            names[n] = name;
            n += 1;
        }
        i += 1;
    }
    names
};

/// A site field or an analysis field by its name.
pub fn field(name: &str) -> Option<&'static FieldDef> {
    SITE_FIELDS
        .iter()
        .chain(computed_fields())
        .find(|f| f.name == name)
}

/// Whether `name` is an analysis or risk field (computed, read-only).
pub fn is_analysis_field(name: &str) -> bool {
    computed_fields().any(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_short_names_fit_dbf() {
        let mut names = std::collections::HashSet::new();
        let mut dbf = std::collections::HashSet::new();
        for f in SITE_FIELDS.iter().chain(computed_fields()) {
            assert!(names.insert(f.name), "{} twice", f.name);
            assert!(dbf.insert(f.dbf_name()), "{} twice", f.dbf_name());
            assert!(f.dbf_name().len() <= 10, "{}: {}", f.name, f.dbf_name());
            assert!(
                f.short_name.is_none() || f.name.len() > 10,
                "{} needs no short name",
                f.name
            );
            assert!(
                (f.ty == FieldType::Number) == f.unit.is_some(),
                "{}: a number has a unit, nothing else does",
                f.name
            );
        }
    }

    #[test]
    fn site_fields_are_the_sites_properties() {
        let site = crate::model::Site::try_from(crate::model::SiteDraft {
            id: Some("kgz_test".into()),
            name: Some("Test".into()),
            kind: Some("tailings".into()),
            activity: Some("test".into()),
            country: Some("KGZ".into()),
            lon: Some(72.45),
            lat: Some(41.25),
            precision: Some("site".into()),
            sources: vec!["test".into()],
            ..Default::default()
        })
        .unwrap();
        let keys: Vec<String> = site.properties().keys().cloned().collect();
        let mut fields: Vec<&str> = SITE_FIELDS.iter().map(|f| f.name).collect();
        let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        fields.sort_unstable();
        keys.sort_unstable();
        assert_eq!(keys, fields);
    }

    #[test]
    fn queryables_and_limits() {
        assert_eq!(
            SITE_QUERYABLES,
            ["kind", "country", "status", "precision", "receiving_river"]
        );
        // Every free text of a site has a limit; lists have one per item too.
        for f in &SITE_FIELDS {
            let free_text = matches!(
                f.ty,
                FieldType::Text | FieldType::TextList | FieldType::Object
            ) && !["id", "kind", "status", "precision"].contains(&f.name);
            assert_eq!(f.max_bytes.is_some(), free_text, "{}", f.name);
            assert_eq!(
                f.max_item_bytes.is_some(),
                f.ty == FieldType::TextList,
                "{}",
                f.name
            );
        }
        assert!(is_analysis_field("river_distance_m"));
        assert!(!is_analysis_field("name"));
    }
}
