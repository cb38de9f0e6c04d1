//! Money in BRL, read exactly. A JSON number is converted from its decimal text, never through
//! `f64` arithmetic, so `0.29` is 29 cents and not 28.999...; a decimal string is read the
//! same way but must be plain (`"1200.50"`), because strings are how careful clients avoid
//! floats and a typo there should not be silently reinterpreted.

use super::checks;
use super::fields::MAX_FORMATTED_CHARS;
use super::items::Cents;
use crate::text::{self, TextKind};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// The largest amount accepted: 10 trillion BRL, far above any real invoice, low enough that
/// sums over a dataset stay well inside `i64`.
pub const MAX_MONEY_CENTS: i64 = 1_000_000_000_000_000;

/// Reads a JSON number or decimal string as BRL; the error is a reason for a field error.
pub fn parse_money(value: &Value) -> Result<Cents, String> {
    match value {
        // serde_json prints a float as its shortest round-trip text, which for every amount
        // within range (at most 16 significant digits, 2 decimals) is the decimal the client
        // wrote, possibly in exponent form (`1e16`): hence exponents are read here.
        Value::Number(n) => parse_decimal(&n.to_string(), true),
        Value::String(s) => {
            text::check(s, TextKind::Value, MAX_FORMATTED_CHARS)?;
            parse_decimal(s, false)
        }
        _ => Err("must be a number or a decimal string like \"1200.50\"".to_owned()),
    }
}

impl fmt::Display for Cents {
    /// `1200.50`, `-3.07`: the plain decimal form the API accepts back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_amount(f, *self, None, '.')
    }
}

impl Cents {
    /// The amount as a person reads it, thousands grouped: `1.200,50` with `('.', ',')` (how
    /// Portuguese writes it), `1,200.50` with `(',', '.')` (English). Not for machines: the
    /// API reads and writes the plain form of `Display`.
    pub fn grouped(self, thousands: char, decimal: char) -> String {
        let mut text = String::new();
        // Writing into a `String` cannot fail.
        let _ = write_amount(&mut text, self, Some(thousands), decimal);
        text
    }
}

/// The one writer of money text: sign, whole units (grouped by three when `thousands` is
/// given), the decimal separator and two digits of cents.
fn write_amount(
    out: &mut impl fmt::Write,
    amount: Cents,
    thousands: Option<char>,
    decimal: char,
) -> fmt::Result {
    if amount.0 < 0 {
        out.write_char('-')?;
    }
    let abs = amount.0.unsigned_abs();
    let units = abs / 100;
    match thousands {
        None => write!(out, "{units}")?,
        Some(separator) => {
            let digits = units.to_string();
            for (i, digit) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i).is_multiple_of(3) {
                    out.write_char(separator)?;
                }
                out.write_char(digit)?;
            }
        }
    }
    write!(out, "{decimal}{:02}", abs % 100)
}

impl FromStr for Cents {
    type Err = String;

    /// The decimal-string rules of the API: non-negative, at most two decimals, within range.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_decimal(s, false)
    }
}

fn parse_decimal(text: &str, allow_exponent: bool) -> Result<Cents, String> {
    let plain = || {
        if text.contains(',') {
            "must use a dot for decimals and no thousands separator, like \"1200.50\"".to_owned()
        } else {
            "must be a decimal number like \"1200.50\"".to_owned()
        }
    };
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) if allow_exponent => (&rest[..at], Some(&rest[at + 1..])),
        Some(_) => return Err(plain()),
        None => (rest, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty()
        || !all_digits(int_part)
        || (mantissa.contains('.') && frac_part.is_empty())
        || !all_digits(frac_part)
    {
        return Err(plain());
    }

    // value = digits × 10^-scale, with insignificant zeros gone so the checks below are
    // about the value, not its spelling (`1.500` is a whole number of cents).
    let mut digits = format!("{int_part}{frac_part}");
    let mut scale = i64::try_from(frac_part.len()).map_err(|_| plain())?;
    while digits.ends_with('0') {
        digits.pop();
        scale -= 1;
    }
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        // Zero, however it is spelled (`-0.0` included).
        return Ok(Cents(0));
    }
    if negative {
        return Err("must not be negative".to_owned());
    }
    if let Some(exponent) = exponent {
        let exp = parse_exponent(exponent).ok_or_else(plain)?;
        scale = scale.saturating_sub(exp);
    }
    if scale > 2 {
        return Err("has more than two decimals".to_owned());
    }
    let too_large = checks::too_large;
    // 10^15 cents has 16 digits, so anything longer is out of range before any arithmetic.
    let zeros = usize::try_from(2 - scale).map_err(|_| too_large())?;
    if digits.len().saturating_add(zeros) > 16 {
        return Err(too_large());
    }
    let mut cents: i64 = digits.parse().map_err(|_| too_large())?;
    for _ in 0..zeros {
        cents *= 10;
    }
    checks::amount(Cents(cents))
}

/// `+12`, `-3`, `7`; an exponent too large for `i64` saturates, which then fails as too large
/// or as too many decimals, as it should.
fn parse_exponent(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.parse::<i64>().unwrap_or(i64::MAX);
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cents(value: Value) -> Result<i64, String> {
        parse_money(&value).map(|c| c.0)
    }

    /// A JSON document as a client sends it, so the number goes through serde_json's parser.
    fn from_json(text: &str) -> Result<i64, String> {
        let value: Value = serde_json::from_str(text).expect("test JSON");
        cents(value)
    }

    #[test]
    fn numbers_convert_exactly() {
        assert_eq!(from_json("15000.00"), Ok(1_500_000));
        assert_eq!(from_json("0.29"), Ok(29));
        assert_eq!(from_json("0.1"), Ok(10));
        assert_eq!(from_json("0.7"), Ok(70));
        assert_eq!(from_json("1.15"), Ok(115));
        assert_eq!(from_json("1200.5"), Ok(120_050));
        assert_eq!(from_json("9999999999999.99"), Ok(999_999_999_999_999));
        assert_eq!(from_json("10000000000000"), Ok(MAX_MONEY_CENTS));
        assert_eq!(from_json("0"), Ok(0));
        assert_eq!(from_json("-0.0"), Ok(0));
        assert_eq!(from_json("15000"), Ok(1_500_000));
    }

    #[test]
    fn every_two_decimal_amount_up_to_ten_thousand_is_exact() {
        // The whole range where 0.1 + 0.2-style binary errors would show.
        for c in 0..1_000_000i64 {
            let text = Cents(c).to_string();
            assert_eq!(from_json(&text), Ok(c), "{text}");
        }
    }

    #[test]
    fn exponent_numbers_are_read_as_their_value() {
        assert_eq!(from_json("1e3"), Ok(100_000));
        assert_eq!(from_json("1.5E2"), Ok(15_000));
        assert_eq!(from_json("125e-2"), Ok(125));
        assert_eq!(from_json("1e13"), Ok(MAX_MONEY_CENTS));
        assert!(from_json("1e14").is_err());
        assert!(from_json("1e-3").is_err());
    }

    #[test]
    fn strings_convert_exactly() {
        assert_eq!(cents(json!("1200.50")), Ok(120_050));
        assert_eq!(cents(json!("0")), Ok(0));
        assert_eq!(cents(json!("15000")), Ok(1_500_000));
        assert_eq!(cents(json!("0.29")), Ok(29));
        assert_eq!(cents(json!("1.500")), Ok(150));
        assert_eq!(cents(json!("007.5")), Ok(750));
        assert_eq!(cents(json!("10000000000000.00")), Ok(MAX_MONEY_CENTS));
    }

    #[test]
    fn bad_amounts_are_refused_with_a_reason() {
        let cases = [
            (json!(-1), "must not be negative"),
            (json!("-0.01"), "must not be negative"),
            (json!(1.005), "has more than two decimals"),
            (json!("1.005"), "has more than two decimals"),
            (
                json!("10000000000000.01"),
                "must be at most 10000000000000.00 BRL",
            ),
            (json!(1e16), "must be at most 10000000000000.00 BRL"),
            (json!("abc"), "must be a decimal number like \"1200.50\""),
            (json!("NaN"), "must be a decimal number like \"1200.50\""),
            (json!(""), "must be a decimal number like \"1200.50\""),
            (json!(" 12"), "must be a decimal number like \"1200.50\""),
            (json!("1e3"), "must be a decimal number like \"1200.50\""),
            (json!(".5"), "must be a decimal number like \"1200.50\""),
            (json!("5."), "must be a decimal number like \"1200.50\""),
            (json!("+5"), "must be a decimal number like \"1200.50\""),
            (
                json!("1.200,50"),
                "must use a dot for decimals and no thousands separator, like \"1200.50\"",
            ),
            (
                json!(true),
                "must be a number or a decimal string like \"1200.50\"",
            ),
            (
                json!({}),
                "must be a number or a decimal string like \"1200.50\"",
            ),
        ];
        for (value, reason) in cases {
            assert_eq!(cents(value.clone()), Err(reason.to_owned()), "{value}");
        }
    }

    #[test]
    fn cents_print_and_parse_back() {
        assert_eq!(Cents(120_050).to_string(), "1200.50");
        assert_eq!(Cents(7).to_string(), "0.07");
        assert_eq!(Cents(-307).to_string(), "-3.07");
        assert_eq!("1200.50".parse::<Cents>(), Ok(Cents(120_050)));
        assert!("12,5".parse::<Cents>().is_err());
    }

    #[test]
    fn grouped_amounts_read_as_people_write_them() {
        let portuguese = |cents| Cents(cents).grouped('.', ',');
        assert_eq!(portuguese(0), "0,00");
        assert_eq!(portuguese(7), "0,07");
        assert_eq!(portuguese(99_999), "999,99");
        assert_eq!(portuguese(100_000), "1.000,00");
        assert_eq!(portuguese(1_500_000), "15.000,00");
        assert_eq!(portuguese(123_456_789), "1.234.567,89");
        assert_eq!(portuguese(-123_456_789), "-1.234.567,89");
        assert_eq!(Cents(123_450).grouped(',', '.'), "1,234.50");
        assert_eq!(
            Cents(i64::MIN).grouped(',', '.'),
            "-92,233,720,368,547,758.08"
        );
    }
}
