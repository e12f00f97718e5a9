//! `datetime` on `sites`: an instant, a day or an interval, matched against the time each site's
//! current version was written in the store.
//!
//! - An instant (`2026-12-01T10:00:00Z`) matches a version written at that instant, to the
//!   millisecond the store keeps.
//! - A date (`2026-12-01`) is the whole UTC day.
//! - An interval `start/end` includes both ends; a date as its start is the start of that day, as its
//!   end the end of it. Either end may be open (`..` or empty), not both.
//! - A site with no version time (a service run without a store) matches no `datetime`.
//! - An empty value is no filter, as if the parameter were absent (QGIS sends `datetime=`).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// A closed interval of instants; `None` ends are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// Why a `datetime` value cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an RFC 3339 date-time, a date or an interval (start/end, `..` or empty for an open end)"
)]
pub struct TimeError(pub String);

/// The first and last instant of a UTC day.
fn day(d: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    (
        start,
        start + TimeDelta::days(1) - TimeDelta::milliseconds(1),
    )
}

/// One end or an instant: (earliest, latest) instant it stands for.
fn instant(s: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        let t = t.with_timezone(&Utc);
        return Some((t, t));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(day)
}

impl TimeRange {
    /// Parses `datetime`; `Ok(None)` for an empty value.
    pub fn parse(value: &str) -> Result<Option<TimeRange>, TimeError> {
        let err = || TimeError(value.to_owned());
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let open = |s: &str| s.is_empty() || s == "..";
        let range = match value.split_once('/') {
            None => {
                let (a, b) = instant(value).ok_or_else(err)?;
                TimeRange {
                    start: Some(a),
                    end: Some(b),
                }
            }
            Some((a, b)) => {
                let (a, b) = (a.trim(), b.trim());
                if open(a) && open(b) {
                    return Err(err());
                }
                let start = match open(a) {
                    true => None,
                    false => Some(instant(a).ok_or_else(err)?.0),
                };
                let end = match open(b) {
                    true => None,
                    false => Some(instant(b).ok_or_else(err)?.1),
                };
                if let (Some(s), Some(e)) = (start, end)
                    && s > e
                {
                    return Err(TimeError(format!("{value} (its start is after its end)")));
                }
                TimeRange { start, end }
            }
        };
        Ok(Some(range))
    }

    /// Whether a version written at `t` lies in the range.
    pub fn contains(&self, t: Option<DateTime<Utc>>) -> bool {
        let Some(t) = t else { return false };
        self.start.is_none_or(|s| s <= t) && self.end.is_none_or(|e| t <= e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Option<DateTime<Utc>> {
        Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
    }

    #[test]
    fn forms() {
        let r = |v: &str| TimeRange::parse(v).unwrap().unwrap();
        assert!(TimeRange::parse("").unwrap().is_none());
        let d = r("2026-12-01");
        assert!(d.contains(at("2026-12-01T00:00:00Z")));
        assert!(d.contains(at("2026-12-01T23:59:59.999Z")));
        assert!(!d.contains(at("2026-12-02T00:00:00Z")));
        assert!(!d.contains(at("2026-11-30T23:59:59.999Z")));
        let i = r("2026-12-01T10:00:00+05:00");
        assert!(i.contains(at("2026-12-01T05:00:00Z")));
        assert!(!i.contains(at("2026-12-01T05:00:00.001Z")));
        let open_end = r("2026-12-01/..");
        assert!(open_end.contains(at("2030-01-01T00:00:00Z")));
        assert!(!open_end.contains(at("2026-11-30T12:00:00Z")));
        let open_start = r("/2026-12-01");
        assert!(open_start.contains(at("2026-12-01T20:00:00Z")));
        assert!(!open_start.contains(at("2026-12-02T00:00:00Z")));
        assert!(!open_start.contains(None));
        for bad in [
            "yesterday",
            "../..",
            "/",
            "2026-12-02/2026-12-01",
            "2026-13-01",
            "2026-12-01/soon",
        ] {
            assert!(TimeRange::parse(bad).is_err(), "{bad}");
        }
    }
}
