//! Brazilian tax ids: CNPJ (companies, 14 digits) and CPF (people, 11 digits). Both end in two
//! mod-11 check digits, which catch nearly every typo, so a bad one is refused at the door
//! rather than becoming a feature the model learns from.

/// Which kind of document a (valid) digit string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// A company.
    Cnpj,
    /// A person (sole traders and final consumers often sell on credit under a CPF).
    Cpf,
}

/// The kind of a normalised document, by its length. Does not check the digits: use it on
/// documents that have been validated already.
pub fn document_kind(digits: &str) -> Option<DocumentKind> {
    match digits.len() {
        14 => Some(DocumentKind::Cnpj),
        11 => Some(DocumentKind::Cpf),
        _ => None,
    }
}

/// Reduces a CNPJ or CPF, bare or formatted (`11.222.333/0001-81`, `123.456.789-09`), to its
/// digits and checks them; the reason is a sentence for the field error.
pub fn normalize_document(text: &str) -> Result<String, &'static str> {
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, '.' | '/' | '-'))
        .collect();
    if digits.is_empty() {
        return Err("must not be empty");
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must hold only digits (the separators . / - are allowed)");
    }
    let valid = match digits.len() {
        14 => is_valid_cnpj(&digits),
        11 => is_valid_cpf(&digits),
        _ => return Err("must have 14 digits (CNPJ) or 11 digits (CPF)"),
    };
    if !valid {
        return Err(if all_same(&digits) {
            "is not a real document: all its digits are the same"
        } else {
            "check digits do not match"
        });
    }
    Ok(digits)
}

/// True for 14 ASCII digits, not all the same, whose last two are the CNPJ check digits.
pub fn is_valid_cnpj(digits: &str) -> bool {
    is_valid(digits, 14)
}

/// True for 11 ASCII digits, not all the same, whose last two are the CPF check digits.
pub fn is_valid_cpf(digits: &str) -> bool {
    is_valid(digits, 11)
}

/// Appends the two check digits to a 12-digit CNPJ base (8 of company root, 4 of branch).
///
/// # Panics
/// When `base12` is not exactly 12 ASCII digits: callers generate the base themselves.
pub fn cnpj_with_check_digits(base12: &str) -> String {
    with_check_digits(base12, 12)
}

/// Appends the two check digits to a 9-digit CPF base.
///
/// # Panics
/// When `base9` is not exactly 9 ASCII digits: callers generate the base themselves.
pub fn cpf_with_check_digits(base9: &str) -> String {
    with_check_digits(base9, 9)
}

fn with_check_digits(base: &str, len: usize) -> String {
    assert!(
        base.len() == len && base.bytes().all(|b| b.is_ascii_digit()),
        "a document base must be exactly {len} ASCII digits, got {base:?}"
    );
    let mut digits: Vec<u32> = base.bytes().map(|b| u32::from(b - b'0')).collect();
    for _ in 0..2 {
        digits.push(check_digit(&digits));
    }
    digits
        .iter()
        .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
        .collect()
}

fn is_valid(digits: &str, len: usize) -> bool {
    if digits.len() != len || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    // Every all-same number passes the mod-11 test, and registries reject all of them.
    if all_same(digits) {
        return false;
    }
    let values: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
    let body = &values[..len - 2];
    let first = check_digit(body);
    let mut with_first = body.to_vec();
    with_first.push(first);
    let second = check_digit(&with_first);
    values[len - 2] == first && values[len - 1] == second
}

fn all_same(digits: &str) -> bool {
    let first = digits.bytes().next();
    digits.bytes().all(|b| Some(b) == first)
}

/// The mod-11 digit over `digits`. CPF weighs right to left with 2, 3, 4, ...; CNPJ does the
/// same but wraps back to 2 after 9, so one rule covers both: a CPF never reaches weight 10.
fn check_digit(digits: &[u32]) -> u32 {
    let wrap = if digits.len() >= 12 { 9 } else { u32::MAX };
    let sum: u32 = digits
        .iter()
        .rev()
        .zip((0u32..).map(|i| 2 + i % (wrap - 1)))
        .map(|(d, w)| d * w)
        .sum();
    let rest = sum % 11;
    if rest < 2 { 0 } else { 11 - rest }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_valid_documents_pass() {
        assert!(is_valid_cnpj("11222333000181"));
        assert!(is_valid_cpf("52998224725"));
        assert!(is_valid_cpf("12345678909"));
        // Receita Federal's own CNPJ.
        assert!(is_valid_cnpj("00394460005887"));
    }

    #[test]
    fn near_misses_fail() {
        assert!(!is_valid_cnpj("11222333000182"));
        assert!(!is_valid_cnpj("11222333000191"));
        assert!(!is_valid_cnpj("21222333000181"));
        assert!(!is_valid_cnpj("1122233300018"));
        assert!(!is_valid_cnpj("112223330001811"));
        assert!(!is_valid_cnpj("1122233300018a"));
        assert!(!is_valid_cpf("52998224726"));
        assert!(!is_valid_cpf("52998224715"));
        assert!(!is_valid_cpf("62998224725"));
        assert!(!is_valid_cpf("5299822472"));
        // Right length for the other kind.
        assert!(!is_valid_cpf("11222333000181"));
        assert!(!is_valid_cnpj("52998224725"));
    }

    #[test]
    fn all_same_digits_fail_although_their_check_digits_match() {
        for d in 0..=9 {
            let c = char::from_digit(d, 10).expect("a digit");
            assert!(!is_valid_cnpj(&c.to_string().repeat(14)));
            assert!(!is_valid_cpf(&c.to_string().repeat(11)));
        }
    }

    #[test]
    fn check_digits_are_computed() {
        assert_eq!(cnpj_with_check_digits("112223330001"), "11222333000181");
        assert_eq!(cpf_with_check_digits("529982247"), "52998224725");
        assert_eq!(cpf_with_check_digits("123456789"), "12345678909");
        for base in ["000000010001", "987654320001", "123456780001"] {
            assert!(is_valid_cnpj(&cnpj_with_check_digits(base)), "{base}");
        }
        for base in ["000000001", "987654321", "100000000"] {
            assert!(is_valid_cpf(&cpf_with_check_digits(base)), "{base}");
        }
    }

    #[test]
    #[should_panic(expected = "12 ASCII digits")]
    fn a_short_base_is_a_programming_error() {
        cnpj_with_check_digits("1122233300");
    }

    #[test]
    fn formatted_documents_are_normalised() {
        assert_eq!(
            normalize_document("11.222.333/0001-81"),
            Ok("11222333000181".to_owned())
        );
        assert_eq!(
            normalize_document("529.982.247-25"),
            Ok("52998224725".to_owned())
        );
        assert_eq!(
            normalize_document("52998224725"),
            Ok("52998224725".to_owned())
        );
        assert_eq!(
            normalize_document("529.982.247-26"),
            Err("check digits do not match")
        );
        assert!(normalize_document("529 982 247 25").is_err());
        assert!(normalize_document("123").is_err());
        assert!(normalize_document("").is_err());
        assert!(normalize_document("000.000.000-00").is_err());
    }

    #[test]
    fn kind_follows_length() {
        assert_eq!(document_kind("11222333000181"), Some(DocumentKind::Cnpj));
        assert_eq!(document_kind("52998224725"), Some(DocumentKind::Cpf));
        assert_eq!(document_kind("123"), None);
    }
}
