use super::*;

const CONTROLS: [char; 8] = [
    '\u{0}', '\u{8}', '\u{B}', '\u{C}', '\u{1B}', '\u{7F}', '\u{85}', '\u{9F}',
];
const LINE_BREAKS: [char; 5] = ['\t', '\n', '\r', '\u{2028}', '\u{2029}'];
const FORMATS: [char; 8] = [
    '\u{AD}',
    '\u{200B}',
    '\u{200F}',
    '\u{202E}',
    '\u{2066}',
    '\u{FEFF}',
    '\u{110BD}',
    '\u{E0041}',
];

#[test]
fn controls_and_line_breaks_are_refused_in_ids_and_values() {
    for c in CONTROLS {
        let expected = format!(
            "contains a control character (U+{:04X}) at position 2",
            u32::from(c)
        );
        for kind in [TextKind::Identifier, TextKind::Value] {
            assert_eq!(check(&format!("ab{c}cd"), kind, 10), Err(expected.clone()));
        }
    }
    for c in LINE_BREAKS {
        let expected = format!(
            "contains a tab or line break (U+{:04X}) at position 2",
            u32::from(c)
        );
        for kind in [TextKind::Identifier, TextKind::Value] {
            assert_eq!(check(&format!("ab{c}cd"), kind, 10), Err(expected.clone()));
        }
    }
}

#[test]
fn format_characters_are_refused_in_ids_only() {
    for c in FORMATS {
        assert_eq!(
            check(&format!("ab{c}cd"), TextKind::Identifier, 10),
            Err(format!(
                "contains an invisible format character, not allowed in ids and names, (U+{:04X}) at position 2",
                u32::from(c)
            ))
        );
        assert_eq!(check(&format!("ab{c}cd"), TextKind::Value, 10), Ok(()));
    }
}

#[test]
fn positions_count_characters_not_bytes() {
    assert_eq!(
        check("João\u{0}", TextKind::Value, 10),
        Err("contains a control character (U+0000) at position 4".to_owned())
    );
}

#[test]
fn accented_text_and_other_scripts_pass() {
    for clean in [
        "Distribuidora São João Ltda",
        "Açúcar & Cia. — filial nº 2",
        "株式会社",
        "شركة",
        "emoji 🚚 ok",
    ] {
        assert_eq!(check(clean, TextKind::Identifier, 100), Ok(()), "{clean}");
        assert_eq!(check(clean, TextKind::Value, 100), Ok(()), "{clean}");
    }
}

#[test]
fn lengths_count_characters() {
    assert_eq!(check("ããããã", TextKind::Identifier, 5), Ok(()));
    assert_eq!(
        check("ãããããã", TextKind::Identifier, 5),
        Err("is longer than 5 characters (it has 6)".to_owned())
    );
    assert_eq!(check("", TextKind::Value, 0), Ok(()));
}

#[test]
fn shown_escapes_refused_characters_and_cuts_long_text() {
    assert_eq!(shown("a\u{0}b\u{202E}c"), "a\\u{0000}b\\u{202E}c");
    assert_eq!(shown("São"), "São");
    let long = "x".repeat(1000);
    assert_eq!(shown(&long), format!("{}…", "x".repeat(64)));
}

fn all_chars() -> impl Iterator<Item = char> {
    (0..=0x10FFFF).filter_map(char::from_u32)
}

#[test]
fn the_table_is_sorted_and_disjoint() {
    for pair in REFUSED.windows(2) {
        assert!(pair[0].0 <= pair[0].1, "{:X?}", pair[0]);
        assert!(pair[0].1 < pair[1].0, "{:X?} then {:X?}", pair[0], pair[1]);
    }
    for pair in WHITESPACE.windows(2) {
        assert!(pair[0].1 < pair[1].0);
    }
}

/// The Cf rows are exactly Unicode's general category Cf, and the control and line-break rows
/// exactly Rust's `char::is_control` (category Cc) plus U+2028 and U+2029.
#[test]
fn the_table_matches_unicode() {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    let mut formats = 0;
    for c in all_chars() {
        let class = class_of(c);
        let is_format = c.general_category() == GeneralCategory::Format;
        assert_eq!(
            class == Some(Class::Format),
            is_format,
            "U+{:04X}",
            u32::from(c)
        );
        formats += usize::from(is_format);
        let is_break_or_control = c.is_control() || c == '\u{2028}' || c == '\u{2029}';
        assert_eq!(
            matches!(class, Some(Class::Control | Class::LineBreak)),
            is_break_or_control,
            "U+{:04X}",
            u32::from(c)
        );
        assert_eq!(
            WHITESPACE
                .iter()
                .any(|&(first, last)| (first..=last).contains(&u32::from(c))),
            c.is_whitespace(),
            "U+{:04X}",
            u32::from(c)
        );
    }
    assert_eq!(formats, 170);
}

fn regex(pattern: &str) -> regex_lite::Regex {
    regex_lite::Regex::new(pattern).expect("a valid pattern")
}

/// Every code point, inside a string, is accepted by a pattern exactly when the check accepts
/// it, so a schema-valid string is never refused and a refused one is never schema-valid.
#[test]
fn the_patterns_agree_with_the_checks_on_every_code_point() {
    let id = regex(&id_pattern());
    let name = regex(&name_pattern());
    let text = regex(&text_pattern());
    for c in all_chars() {
        let inside = format!("a{c}b");
        let as_id = check(&inside, TextKind::Identifier, 10).is_ok();
        assert_eq!(id.is_match(&inside), as_id, "id U+{:04X}", u32::from(c));
        assert_eq!(name.is_match(&inside), as_id, "name U+{:04X}", u32::from(c));
        let as_value = check(&inside, TextKind::Value, 10).is_ok();
        assert_eq!(
            text.is_match(&inside),
            as_value,
            "text U+{:04X}",
            u32::from(c)
        );
        // At an edge, whitespace is refused to ids (not trimmed) and names may not be blank.
        let alone = c.to_string();
        let edge_ok = as_id && !c.is_whitespace();
        assert_eq!(
            id.is_match(&alone),
            edge_ok,
            "id alone U+{:04X}",
            u32::from(c)
        );
        assert_eq!(
            name.is_match(&alone),
            edge_ok,
            "name alone U+{:04X}",
            u32::from(c)
        );
    }
}

#[test]
fn the_patterns_read_whitespace_like_the_validators() {
    let id = regex(&id_pattern());
    let name = regex(&name_pattern());
    assert!(id.is_match("C1"));
    assert!(id.is_match("C 1"));
    for bad in ["", " C1", "C1 ", "\u{A0}C1", "C1\u{3000}"] {
        assert!(!id.is_match(bad), "{bad:?}");
    }
    assert!(name.is_match("  Distribuidora São João Ltda "));
    for bad in ["", "   ", "\u{2003}"] {
        assert!(!name.is_match(bad), "{bad:?}");
    }
    assert!(regex(&text_pattern()).is_match(""));
}

#[test]
fn patterns_escape_the_basic_plane_and_write_astral_characters_as_themselves() {
    let pattern = id_pattern();
    assert!(
        pattern.starts_with("^[^\\u0000-\\u001F\\u007F-\\u009F\\u00AD"),
        "{pattern}"
    );
    assert!(pattern.contains("\\u2028-\\u202E"));
    assert!(pattern.contains('\u{110BD}'));
    assert!(pattern.contains("\u{E0020}-\u{E007F}"));
    assert!(!pattern.contains("\\U"));
    assert!(text_pattern().ends_with("\\u2028-\\u2029]*$"));
}
