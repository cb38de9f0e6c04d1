//! Record keys. Every record of a company's is keyed by its company id, alone or followed by
//! `:` and what spreads the company's records over the partitions (a decision request, by its
//! customer): one company's load then uses every partition and every processor, while the
//! records that must stay in order (a customer's requests) share a key, so a partition.

/// The key of a company's record that spreads by `part`: `<company>:<part>`.
pub fn spread_key(company: &str, part: &str) -> String {
    format!("{company}:{part}")
}

/// Whether `key` is a key of `company`'s: the company id itself, or one spread by a part.
/// Processors refuse a record whose key names another company (or none), so a producer's
/// mistake is caught where it is made rather than as a misplaced record.
pub fn is_company_key(key: Option<&[u8]>, company: &str) -> bool {
    let Some(key) = key else {
        return false;
    };
    match key.strip_prefix(company.as_bytes()) {
        Some(rest) => rest.is_empty() || rest.first() == Some(&b':'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPANY: &str = "5f0c8a51-0d3c-4a4e-9d43-2f7f0b1c2d3e";

    #[test]
    fn a_company_s_keys_are_its_id_alone_or_spread() {
        assert!(is_company_key(Some(COMPANY.as_bytes()), COMPANY));
        let spread = spread_key(COMPANY, "customer-7");
        assert_eq!(spread, format!("{COMPANY}:customer-7"));
        assert!(is_company_key(Some(spread.as_bytes()), COMPANY));
    }

    #[test]
    fn other_keys_are_not_the_company_s() {
        assert!(!is_company_key(None, COMPANY));
        assert!(!is_company_key(Some(b""), COMPANY));
        assert!(!is_company_key(
            Some(format!("{COMPANY}x").as_bytes()),
            COMPANY
        ));
        assert!(!is_company_key(Some(b"other:customer-7"), COMPANY));
        assert!(!is_company_key(Some(&COMPANY.as_bytes()[1..]), COMPANY));
    }
}
