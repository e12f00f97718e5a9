//! Site ids made from names: a slug of the name, transliterated to `a-z 0-9 _ -`.

use super::{ModelError, SiteId};

/// `prefix` + a slug of `value` (Cyrillic and accented letters transliterated), within the rules of
/// [`SiteId::parse`].
///
/// ```
/// use tailings_atlas::model::slug::derive_id;
/// assert_eq!(derive_id("kgz_", "Майлуу-Суу").unwrap(), "kgz_mayluu-suu");
/// ```
pub fn derive_id(prefix: &str, value: &str) -> Result<String, ModelError> {
    let mut slug = String::new();
    for c in value.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            slug.push(c);
        } else if let Some(t) = transliterate(c) {
            slug.push_str(t);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        return Err(ModelError::Invalid {
            field: "id",
            value: value.to_owned(),
            reason: "no letters or digits to make an id from".into(),
        });
    }
    let id = format!("{prefix}{slug}");
    Ok(truncate_bytes(&id, 128).trim_end_matches('-').to_owned())
}

/// The id a site gets when none is given: `{country}_{name}`, transliterated, at most 100
/// characters, so a suffix (`-2`, `-3`, …) that makes it unique still fits the 128 of an id. `POST`
/// and an import of a file without an id column both derive ids this way.
///
/// ```
/// use tailings_atlas::model::slug::site_id_base;
/// assert_eq!(site_id_base("KGZ", "Майлуу-Суу").unwrap(), "kgz_mayluu-suu");
/// ```
pub fn site_id_base(country: &str, name: &str) -> Result<String, ModelError> {
    let slug = derive_id(
        &format!("{}_", country.trim().to_ascii_lowercase()),
        name.trim(),
    )?;
    Ok(slug
        .chars()
        .take(100)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned())
}

/// Latin letters for the Cyrillic and accented letters of Central Asian names (lower case).
fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        'а' | 'ә' | 'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'ā' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'ғ' | 'ğ' => "gh",
        'д' => "d",
        'е' | 'э' | 'é' | 'è' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' => "e",
        'ё' => "yo",
        'ж' => "zh",
        'з' | 'ž' | 'ź' | 'ż' => "z",
        'и' | 'і' | 'ӣ' | 'í' | 'ì' | 'î' | 'ï' | 'ī' | 'ı' => "i",
        'й' | 'ы' | 'ý' | 'ÿ' => "y",
        'к' => "k",
        'қ' => "q",
        'л' => "l",
        'м' => "m",
        'н' | 'ñ' | 'ń' | 'ň' => "n",
        'ң' => "ng",
        'о' | 'ө' | 'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'ō' | 'ő' => "o",
        'п' => "p",
        'р' => "r",
        'с' | 'ś' => "s",
        'ş' | 'š' => "sh",
        'т' => "t",
        'у' | 'ұ' | 'ү' | 'ӯ' | 'ú' | 'ù' | 'û' | 'ü' | 'ū' | 'ű' => "u",
        'ф' => "f",
        'х' | 'ҳ' => "kh",
        'һ' => "h",
        'ц' => "ts",
        'ч' | 'ç' | 'č' => "ch",
        'ҷ' => "j",
        'ш' => "sh",
        'щ' => "shch",
        'ю' => "yu",
        'я' => "ya",
        'ß' => "ss",
        // Signs and apostrophes (Uzbek oʻ, gʻ) vanish rather than split the word.
        'ъ' | 'ь' | 'ʻ' | 'ʼ' | '\'' | '‘' | '’' => "",
        _ => return None,
    })
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let end = (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    &s[..end]
}

impl SiteId {
    /// The id [`derive_id`] makes of `value`, checked.
    pub fn derive(prefix: &str, value: &str) -> Result<Self, ModelError> {
        SiteId::parse(&derive_id(prefix, value)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_derived_as_slugs() {
        assert_eq!(
            derive_id("gtp-", "Kumtor Central Valley TSF").unwrap(),
            "gtp-kumtor-central-valley-tsf"
        );
        assert_eq!(derive_id("", "Кумтөр  (No. 2)").unwrap(), "kumtor-no-2");
        assert_eq!(derive_id("x-", "Oʻzbekiston").unwrap(), "x-ozbekiston");
        let err = derive_id("gtp-", "—").unwrap_err();
        assert_eq!(err.field(), "id");
        assert!(SiteId::parse(&derive_id("p-", &"ab ".repeat(100)).unwrap()).is_ok());
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate_bytes("абв", 3), "а");
        assert_eq!(truncate_bytes("abc", 5), "abc");
        assert_eq!(SiteId::derive("x-", "Жер").unwrap().as_str(), "x-zher");
    }
}
