//! The rule for changing a site: an admin may change anything, a reader nothing, and an editor only
//! sites of the granted countries, judged by every state of the change (the site before it and
//! after it), each by its declared country and by the country its position falls in. So an editor
//! can neither move a site across a border nor touch one that lies in another country.

use thiserror::Error;

use super::Grant;
use crate::model::{Iso3, Site, Wgs84Point};
use crate::store::Role;

/// Why a grant may not make a change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Denied {
    #[error("token {token_id} has the reader role and may not change sites")]
    Reader { token_id: String },
    /// The site lies in no country of the reference layer (within its tolerance).
    #[error(
        "token {token_id} may change sites in {countries} only; site {site} lies in no country of \
         the reference layer (within its tolerance), which only an admin may edit"
    )]
    Unlocated {
        token_id: String,
        countries: String,
        site: String,
    },
    /// The site's declared country (`what` = "country") or located one (`what` = "location") is
    /// not granted.
    #[error(
        "token {token_id} may change sites in {countries} only; site {site} has {what} {}",
        .country.as_str()
    )]
    Country {
        token_id: String,
        countries: String,
        site: String,
        what: &'static str,
        country: Iso3,
    },
}

/// Whether `grant` may change a site from `old` (`None`: it does not exist, or no longer) to `new`
/// (`None`: it is deleted). `locate` gives the country a position falls in, if any.
pub fn may_change(
    grant: &Grant,
    old: Option<&Site>,
    new: Option<&Site>,
    locate: impl Fn(&Wgs84Point) -> Option<Iso3>,
) -> Result<(), Denied> {
    match grant.role {
        Role::Admin => return Ok(()),
        Role::Reader => {
            return Err(Denied::Reader {
                token_id: grant.token_id.clone(),
            });
        }
        Role::Editor => {}
    }
    let countries = || {
        grant
            .countries
            .iter()
            .map(Iso3::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for site in old.into_iter().chain(new) {
        let Some(located) = locate(&site.location) else {
            return Err(Denied::Unlocated {
                token_id: grant.token_id.clone(),
                countries: countries(),
                site: site.id.to_string(),
            });
        };
        for (what, country) in [("country", &site.country), ("location", &located)] {
            if !grant.covers(country) {
                return Err(Denied::Country {
                    token_id: grant.token_id.clone(),
                    countries: countries(),
                    site: site.id.to_string(),
                    what,
                    country: country.clone(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SiteDraft;

    fn code(c: &str) -> Iso3 {
        Iso3::parse(c, "country").unwrap()
    }

    fn grant(role: Role, countries: &[&str]) -> Grant {
        Grant {
            token_id: "0a1b".into(),
            name: "Ainura".into(),
            role,
            countries: countries.iter().map(|c| code(c)).collect(),
        }
    }

    fn site(id: &str, country: &str, lon: f64) -> Site {
        Site::try_from(SiteDraft {
            id: Some(id.into()),
            name: Some("A site".into()),
            kind: Some("tailings".into()),
            activity: Some("test".into()),
            country: Some(country.into()),
            lon: Some(lon),
            lat: Some(41.0),
            precision: Some("site".into()),
            sources: vec!["test".into()],
            ..Default::default()
        })
        .unwrap()
    }

    /// West of 70°E is Uzbekistan, east of it Kyrgyzstan, and past 80°E no country.
    fn locate(p: &Wgs84Point) -> Option<Iso3> {
        match p.lon() {
            x if x >= 80.0 => None,
            x if x >= 70.0 => Some(code("KGZ")),
            _ => Some(code("UZB")),
        }
    }

    #[test]
    fn admins_may_do_anything_and_readers_nothing() {
        let uzb = site("a", "UZB", 69.0);
        assert_eq!(
            may_change(&grant(Role::Admin, &[]), Some(&uzb), None, locate),
            Ok(())
        );
        let denied = may_change(&grant(Role::Reader, &[]), None, Some(&uzb), locate).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "token 0a1b has the reader role and may not change sites"
        );
    }

    #[test]
    fn editors_are_judged_by_every_state_declared_and_located() {
        let kgz = grant(Role::Editor, &["KGZ", "TJK"]);
        let home = site("a", "KGZ", 72.0);
        assert_eq!(may_change(&kgz, None, Some(&home), locate), Ok(()));
        assert_eq!(may_change(&kgz, Some(&home), Some(&home), locate), Ok(()));
        // Declared Uzbek, placed in Kyrgyzstan.
        let declared = may_change(&kgz, None, Some(&site("b", "UZB", 72.0)), locate).unwrap_err();
        assert_eq!(
            declared.to_string(),
            "token 0a1b may change sites in KGZ, TJK only; site b has country UZB"
        );
        // Declared Kyrgyz, placed in Uzbekistan: a move across the border is refused either way.
        let moved = site("a", "KGZ", 69.0);
        for (old, new) in [(Some(&home), Some(&moved)), (Some(&moved), Some(&home))] {
            let e = may_change(&kgz, old, new, locate).unwrap_err();
            assert!(
                matches!(&e, Denied::Country { what: "location", country, .. } if country.as_str() == "UZB"),
                "{e}"
            );
        }
        // Deleting (no new state) is judged on the old one.
        assert!(may_change(&kgz, Some(&moved), None, locate).is_err());
        assert_eq!(may_change(&kgz, Some(&home), None, locate), Ok(()));
        // Nowhere: only an admin.
        let e = may_change(&kgz, None, Some(&site("c", "KGZ", 85.0)), locate).unwrap_err();
        assert!(matches!(e, Denied::Unlocated { .. }));
        assert!(e.to_string().contains("lies in no country"), "{e}");
    }
}
