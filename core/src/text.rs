//! Which characters a string may hold. Every string a company sends passes one of these checks
//! in `core/`, so the gateway (422) and the processors (Kafka-direct records, dead-lettered)
//! refuse the same things, and the JSON Schema patterns of the API are built from the same
//! table.
//!
//! - Controls (C0 but tab/LF/CR, DEL, C1) are refused in every string: NUL cannot be stored by
//!   PostgreSQL, and the others corrupt logs and terminals.
//! - Tab and line breaks (LF, CR, U+2028, U+2029) split log lines and CSV rows. They belong in
//!   free text only (prose a person writes), and no field of aval is free text today: attribute
//!   values are categories (`"segment": "retail"`), names and ids are one line. So they are
//!   refused everywhere.
//! - Format characters (Unicode general category Cf: zero-width, bidi overrides, tags) are
//!   invisible or reorder what is shown, so in ids and names they spoof (`order` U+202E `1gp.exe` shows as `orderexe.pg1`).
//!   Values keep them (a bidi mark can be legitimate in a value).
//!
//! Positions in reasons count characters (Unicode scalar values) from 0.

use std::cmp::Ordering;
use std::fmt::Write;

/// Why a character is refused, which decides where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Control,
    LineBreak,
    Format,
}

/// Every refused character, as sorted, disjoint, inclusive ranges. The Cf ranges are Unicode's
/// general category Cf, the same 170 code points from Unicode 15.0 through 17.0 (a test checks
/// them against the `unicode-properties` tables).
const REFUSED: &[(u32, u32, Class)] = &[
    (0x0000, 0x0008, Class::Control),
    (0x0009, 0x000A, Class::LineBreak),
    (0x000B, 0x000C, Class::Control),
    (0x000D, 0x000D, Class::LineBreak),
    (0x000E, 0x001F, Class::Control),
    (0x007F, 0x009F, Class::Control),
    (0x00AD, 0x00AD, Class::Format),
    (0x0600, 0x0605, Class::Format),
    (0x061C, 0x061C, Class::Format),
    (0x06DD, 0x06DD, Class::Format),
    (0x070F, 0x070F, Class::Format),
    (0x0890, 0x0891, Class::Format),
    (0x08E2, 0x08E2, Class::Format),
    (0x180E, 0x180E, Class::Format),
    (0x200B, 0x200F, Class::Format),
    (0x2028, 0x2029, Class::LineBreak),
    (0x202A, 0x202E, Class::Format),
    (0x2060, 0x2064, Class::Format),
    (0x2066, 0x206F, Class::Format),
    (0xFEFF, 0xFEFF, Class::Format),
    (0xFFF9, 0xFFFB, Class::Format),
    (0x110BD, 0x110BD, Class::Format),
    (0x110CD, 0x110CD, Class::Format),
    (0x13430, 0x1343F, Class::Format),
    (0x1BCA0, 0x1BCA3, Class::Format),
    (0x1D173, 0x1D17A, Class::Format),
    (0xE0001, 0xE0001, Class::Format),
    (0xE0020, 0xE007F, Class::Format),
];

/// Unicode's White_Space property (what `str::trim` removes), for the "no surrounding
/// whitespace" rule of ids and the "not blank" rule of names in the patterns.
const WHITESPACE: &[(u32, u32)] = &[
    (0x0009, 0x000D),
    (0x0020, 0x0020),
    (0x0085, 0x0085),
    (0x00A0, 0x00A0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
];

/// What a string is, for the characters it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Ids and names (customer and order ids, company names): one line, no controls, no
    /// format characters.
    Identifier,
    /// Every other string (attribute values, e-mail addresses, dates, amounts, documents): one
    /// line, no controls.
    Value,
}

impl TextKind {
    fn refuses(self, class: Class) -> bool {
        match class {
            Class::Control | Class::LineBreak => true,
            Class::Format => self == TextKind::Identifier,
        }
    }
}

fn class_of(c: char) -> Option<Class> {
    let c = u32::from(c);
    if (0x20..0x7F).contains(&c) {
        return None;
    }
    REFUSED
        .binary_search_by(|&(first, last, _)| {
            if last < c {
                Ordering::Less
            } else if first > c {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })
        .ok()
        .map(|i| REFUSED[i].2)
}

/// `Ok` when `text` has at most `max_chars` characters and none that `kind` refuses; else the
/// reason, naming the character and its position: `contains a control character (U+0000) at
/// position 4`.
pub fn check(text: &str, kind: TextKind, max_chars: usize) -> Result<(), String> {
    // A string of at most `max_chars` bytes has at most that many characters: no count needed.
    if text.len() > max_chars {
        let chars = text.chars().count();
        if chars > max_chars {
            return Err(format!(
                "is longer than {max_chars} characters (it has {chars})"
            ));
        }
    }
    let refused = text.chars().enumerate().find_map(|(i, c)| {
        class_of(c)
            .filter(|&cl| kind.refuses(cl))
            .map(|cl| (i, c, cl))
    });
    match refused {
        None => Ok(()),
        Some((position, c, class)) => {
            let what = match class {
                Class::Control => "a control character",
                Class::LineBreak => "a tab or line break",
                Class::Format => "an invisible format character, not allowed in ids and names,",
            };
            Err(format!(
                "contains {what} (U+{:04X}) at position {position}",
                u32::from(c)
            ))
        }
    }
}

/// `text` fit to quote in an error's field path or reason: refused characters written as
/// `\u{202E}`, and cut at 64 characters, so an unknown key cannot smuggle controls or a
/// megabyte into an answer or a log line.
pub fn shown(text: &str) -> String {
    const MAX_SHOWN_CHARS: usize = 64;
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_SHOWN_CHARS {
            out.push('…');
            break;
        }
        if class_of(c).is_some() {
            let _ = write!(out, "\\u{{{:04X}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// The characters `kind` may not hold, as the inside of a regex character class.
///
/// Basic-plane code points are written `\uXXXX`, which Python's `re`, ECMA-262 (with or without
/// the `u` flag) and Rust's `regex` read alike. Astral code points (the Cf ranges above U+FFFF)
/// are written as the characters themselves: Python's `\U000110BD` is not ECMA-262, and the
/// surrogate pair `\uD804\uDCBD` is one code point to ECMA-262 with `u` but two lone
/// surrogates to Python, which would let schemathesis generate a U+110BD the server refuses.
/// A literal character is one code point to Python, to Rust and to ECMA-262 with the `u` flag
/// (the mode JSON Schema validators such as ajv use); ECMA-262 without `u` cannot express
/// astral ranges at all.
fn refused_class(kind: TextKind) -> String {
    // Adjacent rows merge (`\u0000-\u001F`, not five ranges), for a pattern people can read.
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for &(first, last, refused) in REFUSED {
        if !kind.refuses(refused) {
            continue;
        }
        match ranges.last_mut() {
            Some(previous) if previous.1 + 1 == first => previous.1 = last,
            _ => ranges.push((first, last)),
        }
    }
    let mut class = String::new();
    for (first, last) in ranges {
        push_range(&mut class, first, last);
    }
    class
}

fn whitespace_class() -> String {
    let mut class = String::new();
    for &(first, last) in WHITESPACE {
        push_range(&mut class, first, last);
    }
    class
}

fn push_range(class: &mut String, first: u32, last: u32) {
    push_code_point(class, first);
    if last != first {
        class.push('-');
        push_code_point(class, last);
    }
}

fn push_code_point(class: &mut String, c: u32) {
    match char::from_u32(c) {
        Some(literal) if c > 0xFFFF => class.push(literal),
        _ => {
            let _ = write!(class, "\\u{c:04X}");
        }
    }
}

/// JSON Schema `pattern` of an id (customer, order): at least one character, none refused to
/// identifiers, no leading or trailing whitespace. The length is the schema's `maxLength`.
pub fn id_pattern() -> String {
    let refused = refused_class(TextKind::Identifier);
    let edge = format!("{refused}{}", whitespace_class());
    format!("^[^{edge}](?:[^{refused}]*[^{edge}])?$")
}

/// JSON Schema `pattern` of a name (a company's): no character refused to identifiers, and at
/// least one that is not whitespace (names are trimmed, and a blank one is refused).
pub fn name_pattern() -> String {
    let refused = refused_class(TextKind::Identifier);
    let edge = format!("{refused}{}", whitespace_class());
    format!("^[^{refused}]*[^{edge}][^{refused}]*$")
}

/// JSON Schema `pattern` of a free label (a token's): no character refused to identifiers, and
/// may be empty or blank (it is trimmed). The length is the schema's `maxLength`.
pub fn label_pattern() -> String {
    format!("^[^{}]*$", refused_class(TextKind::Identifier))
}

/// JSON Schema `pattern` of any other string (attribute values): no character refused to
/// values. The length is the schema's `maxLength`.
///
/// In every pattern `$` is the end of the string, as in ECMA-262; Python's `re` also lets it
/// match before a final newline, a newline the server refuses (hypothesis-jsonschema, which
/// schemathesis generates with, turns that trailing newline off).
pub fn text_pattern() -> String {
    format!("^[^{}]*$", refused_class(TextKind::Value))
}

#[cfg(test)]
mod tests;
