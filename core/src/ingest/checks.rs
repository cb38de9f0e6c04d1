//! The rule of each field, on a value already of its type. The JSON reader (an HTTP upload or
//! decision) and the readers of the typed wire records (a record produced straight to Kafka)
//! both end here, so a value is refused the same way, with the same reason, whichever way it
//! came. What is left to a reader is its own form: JSON's types and text formats, the wire's
//! integers for dates and cents.

use super::attributes::{MAX_ATTRIBUTE_NAME_CHARS, MAX_ATTRIBUTE_TEXT_CHARS, MAX_ATTRIBUTES};
use super::bureau_report::MAX_SCORE;
use super::document::normalize_document;
use super::fields::{MAX_FORMATTED_CHARS, MAX_ID_CHARS, UFS, join};
use super::items::{AttributeValue, Attributes, Cents, PaymentHabits};
use super::money::MAX_MONEY_CENTS;
use super::order::MAX_PAYMENT_TERM_DAYS;
use crate::FieldErrors;
use crate::text::{self, TextKind};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc};

const EARLIEST_YEAR: i32 = 1900;
/// Shares come from the bureau rounded, so their sum may pass 1 by a hair.
const HABITS_SUM_TOLERANCE: f64 = 0.001;
const UNIX_EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("the Unix epoch");

/// The fields of one typed item under its path: each check that fails records its reason at
/// `path.key` and reads as absent.
#[derive(Debug)]
pub struct Checks<'e> {
    path: String,
    errors: &'e mut FieldErrors,
}

impl<'e> Checks<'e> {
    pub fn new(path: &str, errors: &'e mut FieldErrors) -> Self {
        Self {
            path: path.to_owned(),
            errors,
        }
    }

    /// The value, or `None` with the reason recorded at this key.
    pub fn field<T>(&mut self, key: &str, checked: Result<T, String>) -> Option<T> {
        checked
            .map_err(|reason| self.errors.push(join(&self.path, key), reason))
            .ok()
    }

    /// [`Checks::field`] for a value that may be absent.
    pub fn optional<V, T>(
        &mut self,
        key: &str,
        value: Option<V>,
        check: impl FnOnce(V) -> Result<T, String>,
    ) -> Option<T> {
        value.and_then(|v| self.field(key, check(v)))
    }

    /// The checks of a part under its own path (`payment_habits`, `negatives.pefin`).
    pub fn nested(&mut self, key: &str) -> Checks<'_> {
        Checks {
            path: join(&self.path, key),
            errors: self.errors,
        }
    }

    /// A rule about the part as a whole, its reason recorded at the part's own path.
    pub fn whole(&mut self, checked: Result<(), String>) {
        if let Err(reason) = checked {
            self.errors.push(self.path.clone(), reason);
        }
    }

    /// The attributes at this key ([`attributes`]).
    pub fn attributes(
        &mut self,
        key: &str,
        entries: impl ExactSizeIterator<Item = (String, Result<AttributeValue, String>)>,
    ) -> Attributes {
        attributes(entries, &join(&self.path, key), self.errors)
    }
}

/// A customer or order key: the company's own, so only what would break storage, logs or
/// joins, or mislead a person reading it, is refused.
pub fn id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".to_owned());
    }
    text::check(id, TextKind::Identifier, MAX_ID_CHARS)?;
    // "C1 " and "C1" would be two customers to the database and one to a person.
    if id.trim() != id {
        return Err("has leading or trailing whitespace".to_owned());
    }
    Ok(())
}

/// A string of a fixed format, before its format is checked: at most
/// [`MAX_FORMATTED_CHARS`], no control characters.
pub fn formatted(text: &str) -> Result<(), String> {
    text::check(text, TextKind::Value, MAX_FORMATTED_CHARS)
}

/// A UF, any case in, upper case out.
pub fn state(text: &str) -> Result<String, String> {
    formatted(text)?;
    let upper = text.to_ascii_uppercase();
    if UFS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err("must be a Brazilian state code (UF) like SP or RJ".to_owned())
    }
}

/// A CNPJ or CPF, punctuated or not, with valid check digits; digits only out.
pub fn document(text: &str) -> Result<String, String> {
    formatted(text)?;
    normalize_document(text).map_err(str::to_owned)
}

/// A non-negative whole number within `u32`.
pub fn count(n: i128) -> Result<u32, String> {
    if n < 0 {
        return Err("must not be negative".to_owned());
    }
    u32::try_from(n).map_err(|_| format!("must be at most {}", u32::MAX))
}

/// A whole number in `min..=max`.
pub fn bounded(n: i128, min: u32, max: u32) -> Result<u32, String> {
    u32::try_from(n)
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| match (max == u32::MAX, n < i128::from(min)) {
            (true, true) => format!("must be at least {min}"),
            (true, false) => format!("must be at most {max}"),
            (false, _) => format!("must be between {min} and {max}"),
        })
}

/// An order's payment term in days: ten years at most, longer terms are typos (days for
/// cents, a year for a day count).
pub fn payment_term_days(n: i128) -> Result<u32, String> {
    bounded(n, 0, MAX_PAYMENT_TERM_DAYS)
}

/// An order's number of installments: at least one.
pub fn installments(n: i128) -> Result<u32, String> {
    bounded(n, 1, u32::MAX)
}

/// A bureau score, on the Serasa scale.
pub fn score(n: i128) -> Result<i32, String> {
    let score = bounded(n, 0, MAX_SCORE)?;
    i32::try_from(score).map_err(|_| format!("must be between 0 and {MAX_SCORE}"))
}

/// A share in `0..=1`.
pub fn share(x: f64) -> Result<f64, String> {
    if !x.is_finite() {
        Err("must be a number between 0 and 1".to_owned())
    } else if (0.0..=1.0).contains(&x) {
        Ok(x)
    } else if (1.0..=100.0).contains(&x) {
        // The commonest mistake: 80 meaning 80%.
        Err("must be between 0 and 1 (a fraction, not a percentage)".to_owned())
    } else {
        Err("must be between 0 and 1".to_owned())
    }
}

/// The shares of payment habits together: at most 1, give or take the bureau's rounding.
pub fn payment_habits(habits: &PaymentHabits) -> Result<(), String> {
    let sum: f64 = [
        habits.on_time,
        habits.cash,
        habits.late_8_15,
        habits.late_16_30,
        habits.late_31_60,
        habits.late_over_60,
    ]
    .into_iter()
    .flatten()
    .sum();
    if sum > 1.0 + HABITS_SUM_TOLERANCE {
        Err(format!(
            "shares sum to {sum:.3}; they must sum to at most 1"
        ))
    } else {
        Ok(())
    }
}

/// Money: not negative, at most [`MAX_MONEY_CENTS`].
pub fn amount(cents: Cents) -> Result<Cents, String> {
    if cents.0 < 0 {
        Err("must not be negative".to_owned())
    } else if cents.0 > MAX_MONEY_CENTS {
        Err(too_large())
    } else {
        Ok(cents)
    }
}

pub(super) fn too_large() -> String {
    format!("must be at most {} BRL", Cents(MAX_MONEY_CENTS))
}

/// An instant that places an item in time. Features are assembled "as of" it, so one in the
/// future would leak tomorrow into today's training; a day of slack absorbs clock skew and
/// time zones.
pub fn instant(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if at.year() < EARLIEST_YEAR {
        return Err(format!("is before {EARLIEST_YEAR}"));
    }
    let latest = now.checked_add_signed(TimeDelta::days(1)).unwrap_or(now);
    if at > latest {
        return Err("is more than one day in the future".to_owned());
    }
    Ok(at)
}

/// A calendar date, by the rule of [`instant`] at its midnight UTC.
pub fn date(day: NaiveDate, now: DateTime<Utc>) -> Result<NaiveDate, String> {
    instant(day.and_time(NaiveTime::MIN).and_utc(), now).map(|_| day)
}

/// A date given as days since 1970-01-01; one beyond the calendar is out of range like any
/// other date that far out.
pub fn epoch_days(days: i32, now: DateTime<Utc>) -> Result<NaiveDate, String> {
    let day = UNIX_EPOCH
        .checked_add_signed(TimeDelta::days(i64::from(days)))
        .unwrap_or(if days < 0 {
            NaiveDate::MIN
        } else {
            NaiveDate::MAX
        });
    date(day, now)
}

/// An instant given as milliseconds since the Unix epoch, UTC.
pub fn epoch_millis(millis: i64, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let at = DateTime::from_timestamp_millis(millis).unwrap_or(if millis < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    });
    instant(at, now)
}

/// A number attribute.
pub fn attribute_number(n: f64) -> Result<AttributeValue, String> {
    if n.is_finite() {
        Ok(AttributeValue::Number(n))
    } else {
        Err("must be a finite number".to_owned())
    }
}

/// A text attribute.
pub fn attribute_text(text: String) -> Result<AttributeValue, String> {
    text::check(&text, TextKind::Value, MAX_ATTRIBUTE_TEXT_CHARS)?;
    Ok(AttributeValue::Text(text))
}

/// A company's extra facts about an item, each value already checked by its kind (or the
/// reason it was refused). They become model features by name, so names are kept to
/// identifiers. Every bad name and value is reported under `path`.
pub fn attributes(
    entries: impl ExactSizeIterator<Item = (String, Result<AttributeValue, String>)>,
    path: &str,
    errors: &mut FieldErrors,
) -> Attributes {
    if entries.len() > MAX_ATTRIBUTES {
        errors.push(
            path,
            format!(
                "has {} attributes; at most {MAX_ATTRIBUTES} are allowed",
                entries.len()
            ),
        );
    }
    let mut out = Attributes::new();
    for (key, value) in entries {
        let at = join(path, &text::shown(&key));
        if !is_attribute_name(&key) {
            errors.push(
                &at,
                format!(
                    "name must be 1 to {MAX_ATTRIBUTE_NAME_CHARS} characters of a-z, 0-9 and _"
                ),
            );
        }
        match value {
            Ok(v) => {
                out.insert(key, v);
            }
            Err(reason) => errors.push(at, reason),
        }
    }
    out
}

fn is_attribute_name(key: &str) -> bool {
    (1..=MAX_ATTRIBUTE_NAME_CHARS).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-06-15T12:00:00Z")
            .expect("fixed now")
            .with_timezone(&Utc)
    }

    #[test]
    fn epoch_dates_and_instants_follow_the_date_rules_even_off_the_calendar() {
        assert_eq!(
            epoch_days(0, now()),
            NaiveDate::from_ymd_opt(1970, 1, 1).ok_or_else(String::new)
        );
        assert_eq!(
            epoch_days(i32::MIN, now()),
            Err("is before 1900".to_owned())
        );
        assert_eq!(
            epoch_days(i32::MAX, now()),
            Err("is more than one day in the future".to_owned())
        );
        assert_eq!(
            epoch_millis(1_709_287_200_000, now()).map(|at| at.to_rfc3339()),
            Ok("2024-03-01T10:00:00+00:00".to_owned())
        );
        assert_eq!(
            epoch_millis(i64::MIN, now()),
            Err("is before 1900".to_owned())
        );
        assert_eq!(
            epoch_millis(i64::MAX, now()),
            Err("is more than one day in the future".to_owned())
        );
    }

    #[test]
    fn amounts_are_bounded() {
        assert_eq!(amount(Cents(0)), Ok(Cents(0)));
        assert_eq!(amount(Cents(MAX_MONEY_CENTS)), Ok(Cents(MAX_MONEY_CENTS)));
        assert_eq!(amount(Cents(-5)), Err("must not be negative".to_owned()));
        assert_eq!(
            amount(Cents(MAX_MONEY_CENTS + 1)),
            Err("must be at most 10000000000000.00 BRL".to_owned())
        );
    }

    #[test]
    fn shares_refuse_what_is_not_a_fraction() {
        assert_eq!(share(0.5), Ok(0.5));
        assert_eq!(
            share(f64::NAN),
            Err("must be a number between 0 and 1".to_owned())
        );
        assert_eq!(
            share(80.0),
            Err("must be between 0 and 1 (a fraction, not a percentage)".to_owned())
        );
        assert_eq!(share(-0.1), Err("must be between 0 and 1".to_owned()));
    }
}
