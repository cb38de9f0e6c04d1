//! Dates and instants from JSON text; their range is [`checks::instant`]'s. Each kind accepts
//! the other's form, because clients rarely agree on whether "the day" and "midnight UTC of
//! that day" differ.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde_json::Value;

use super::checks;
use super::fields::string;

/// A calendar date: `YYYY-MM-DD`, or an RFC 3339 timestamp taken as its UTC date.
pub(super) fn date(value: &Value, now: DateTime<Utc>) -> Result<NaiveDate, String> {
    let text = string(value)?;
    let day = if looks_like_date(text) {
        plain_date(text)?
    } else if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        at.with_timezone(&Utc).date_naive()
    } else {
        return Err("must be a date like 2024-01-31 (or an RFC 3339 timestamp)".to_owned());
    };
    checks::date(day, now)
}

/// An instant: an RFC 3339 timestamp with its offset, or `YYYY-MM-DD` meaning midnight UTC.
pub(crate) fn timestamp(value: &Value, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = string(value)?;
    let at = if looks_like_date(text) {
        plain_date(text)?.and_time(NaiveTime::MIN).and_utc()
    } else if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        at.with_timezone(&Utc)
    } else {
        return Err(
            "must be an RFC 3339 timestamp with a time zone, like 2024-03-01T10:00:00Z \
             (or a date like 2024-03-01)"
                .to_owned(),
        );
    };
    checks::instant(at, now)
}

/// The shape `dddd-dd-dd`, checked before parsing because chrono also accepts `2024-3-1`.
fn looks_like_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

fn plain_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| "is not a valid calendar date".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-06-15T12:00:00Z")
            .expect("fixed now")
            .with_timezone(&Utc)
    }

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a real date")
    }

    #[test]
    fn dates_accept_both_forms() {
        assert_eq!(date(&json!("2010-05-01"), now()), Ok(ymd(2010, 5, 1)));
        // 22:30 in São Paulo is already the next day in UTC.
        assert_eq!(
            date(&json!("2010-05-01T22:30:00-03:00"), now()),
            Ok(ymd(2010, 5, 2))
        );
        assert_eq!(date(&json!("1900-01-01"), now()), Ok(ymd(1900, 1, 1)));
    }

    #[test]
    fn dates_refuse_bad_text_and_range() {
        for bad in [
            json!("2010-5-1"),
            json!("01/05/2010"),
            json!("2010-02-30"),
            json!("1899-12-31"),
            json!("2024-06-17"),
            json!(20100501),
            json!(""),
        ] {
            assert!(date(&bad, now()).is_err(), "{bad}");
        }
        // Tomorrow is within the day of slack.
        assert_eq!(date(&json!("2024-06-16"), now()), Ok(ymd(2024, 6, 16)));
    }

    #[test]
    fn timestamps_accept_both_forms() {
        let at = timestamp(&json!("2024-03-01T10:00:00-03:00"), now()).expect("valid");
        assert_eq!(at.to_rfc3339(), "2024-03-01T13:00:00+00:00");
        let midnight = timestamp(&json!("2024-03-01"), now()).expect("valid");
        assert_eq!(midnight.to_rfc3339(), "2024-03-01T00:00:00+00:00");
    }

    #[test]
    fn timestamps_refuse_the_future_beyond_a_day() {
        assert!(timestamp(&json!("2024-06-16T12:00:00Z"), now()).is_ok());
        assert_eq!(
            timestamp(&json!("2024-06-16T12:00:01Z"), now()),
            Err("is more than one day in the future".to_owned())
        );
        assert!(timestamp(&json!("2024-03-01T10:00:00"), now()).is_err());
        assert!(timestamp(&json!("1850-03-01T10:00:00Z"), now()).is_err());
    }
}
