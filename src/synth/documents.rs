//! Brazilian tax documents with valid check digits: CNPJ (companies, 14 digits) and CPF
//! (individuals, 11 digits), both by the standard mod-11 algorithms.

use rand::Rng;

/// One mod-11 check digit over `digits` with `weights` (same length): `11 - sum % 11`, or 0
/// when the remainder is below 2.
fn check_digit(digits: &[u8], weights: &[u32]) -> u8 {
    let sum: u32 = digits
        .iter()
        .zip(weights)
        .map(|(&d, &w)| u32::from(d) * w)
        .sum();
    let remainder = sum % 11;
    if remainder < 2 {
        0
    } else {
        // `11 - remainder` is in 2..=9 here.
        (11 - remainder) as u8
    }
}

const CNPJ_FIRST: [u32; 12] = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
const CNPJ_SECOND: [u32; 13] = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
const CPF_FIRST: [u32; 9] = [10, 9, 8, 7, 6, 5, 4, 3, 2];
const CPF_SECOND: [u32; 10] = [11, 10, 9, 8, 7, 6, 5, 4, 3, 2];

/// Appends the two check digits of a CNPJ to its first 12 digits.
pub fn cnpj_with_check_digits(first12: [u8; 12]) -> [u8; 14] {
    let mut out = [0u8; 14];
    out[..12].copy_from_slice(&first12);
    out[12] = check_digit(&out[..12], &CNPJ_FIRST);
    out[13] = check_digit(&out[..13], &CNPJ_SECOND);
    out
}

/// Appends the two check digits of a CPF to its first 9 digits.
pub fn cpf_with_check_digits(first9: [u8; 9]) -> [u8; 11] {
    let mut out = [0u8; 11];
    out[..9].copy_from_slice(&first9);
    out[9] = check_digit(&out[..9], &CPF_FIRST);
    out[10] = check_digit(&out[..10], &CPF_SECOND);
    out
}

#[cfg(test)]
fn digits_of(text: &str) -> Option<Vec<u8>> {
    text.bytes()
        .map(|b| char::from(b).to_digit(10).map(|d| d as u8))
        .collect()
}

fn all_same(digits: &[u8]) -> bool {
    digits.windows(2).all(|w| w[0] == w[1])
}

#[cfg(test)]
/// Whether `text` is 14 digits with valid CNPJ check digits (and not all one digit).
pub fn is_valid_cnpj(text: &str) -> bool {
    let Some(digits) = digits_of(text) else {
        return false;
    };
    let Ok(first12) = <[u8; 12]>::try_from(&digits[..digits.len().min(12)]) else {
        return false;
    };
    digits.len() == 14 && !all_same(&digits) && cnpj_with_check_digits(first12)[..] == digits[..]
}

#[cfg(test)]
/// Whether `text` is 11 digits with valid CPF check digits (and not all one digit).
pub fn is_valid_cpf(text: &str) -> bool {
    let Some(digits) = digits_of(text) else {
        return false;
    };
    let Ok(first9) = <[u8; 9]>::try_from(&digits[..digits.len().min(9)]) else {
        return false;
    };
    digits.len() == 11 && !all_same(&digits) && cpf_with_check_digits(first9)[..] == digits[..]
}

fn to_text(digits: &[u8]) -> String {
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// A random CNPJ: an 8-digit root, a branch (`0001` for the head office, mostly), check digits.
pub fn random_cnpj(rng: &mut impl Rng) -> String {
    loop {
        let mut first12 = [0u8; 12];
        for d in &mut first12[..8] {
            *d = rng.gen_range(0..10);
        }
        let branch: u16 = if rng.gen_bool(0.9) {
            1
        } else {
            rng.gen_range(2..=12)
        };
        first12[8] = (branch / 1000 % 10) as u8;
        first12[9] = (branch / 100 % 10) as u8;
        first12[10] = (branch / 10 % 10) as u8;
        first12[11] = (branch % 10) as u8;
        if !all_same(&first12[..8]) {
            return to_text(&cnpj_with_check_digits(first12));
        }
    }
}

/// A random CPF: 9 digits (not all one digit) and check digits.
pub fn random_cpf(rng: &mut impl Rng) -> String {
    loop {
        let mut first9 = [0u8; 9];
        for d in &mut first9 {
            *d = rng.gen_range(0..10);
        }
        if !all_same(&first9) {
            return to_text(&cpf_with_check_digits(first9));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn known_valid_documents_pass() {
        assert!(is_valid_cnpj("11222333000181"));
        assert!(is_valid_cpf("52998224725"));
        assert_eq!(
            cnpj_with_check_digits([1, 1, 2, 2, 2, 3, 3, 3, 0, 0, 0, 1]),
            [1, 1, 2, 2, 2, 3, 3, 3, 0, 0, 0, 1, 8, 1]
        );
        assert_eq!(
            cpf_with_check_digits([5, 2, 9, 9, 8, 2, 2, 4, 7]),
            [5, 2, 9, 9, 8, 2, 2, 4, 7, 2, 5]
        );
    }

    #[test]
    fn wrong_documents_fail() {
        assert!(!is_valid_cnpj("11222333000182"));
        assert!(!is_valid_cnpj("1122233300018"));
        assert!(!is_valid_cnpj("11.222.333/0001-81"));
        assert!(!is_valid_cnpj("00000000000000"));
        assert!(!is_valid_cpf("52998224726"));
        assert!(!is_valid_cpf("11111111111"));
        assert!(!is_valid_cpf("5299822472"));
    }

    #[test]
    fn random_documents_are_valid() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..2000 {
            let cnpj = random_cnpj(&mut rng);
            assert!(is_valid_cnpj(&cnpj), "{cnpj}");
            let cpf = random_cpf(&mut rng);
            assert!(is_valid_cpf(&cpf), "{cpf}");
        }
    }
}
