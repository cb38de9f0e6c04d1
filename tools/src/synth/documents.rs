//! Random, valid CNPJs and CPFs; the check digits come from the domain's own rule.

use aval_core::ingest::{cnpj_with_check_digits, cpf_with_check_digits};
use rand::Rng;

fn random_digits(rng: &mut impl Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// Repeated digits (`11111111`) pass the arithmetic but are refused as documents.
fn all_same(digits: &str) -> bool {
    digits.chars().all(|c| digits.starts_with(c))
}

/// A random CNPJ: an 8-digit root, a branch (`0001` for the head office, mostly), check digits.
pub(super) fn random_cnpj(rng: &mut impl Rng) -> String {
    loop {
        let root = random_digits(rng, 8);
        let branch: u16 = if rng.gen_bool(0.9) {
            1
        } else {
            rng.gen_range(2..=12)
        };
        if !all_same(&root) {
            return cnpj_with_check_digits(&format!("{root}{branch:04}"));
        }
    }
}

/// A random CPF: 9 digits (not all one digit) and check digits.
pub(super) fn random_cpf(rng: &mut impl Rng) -> String {
    loop {
        let base = random_digits(rng, 9);
        if !all_same(&base) {
            return cpf_with_check_digits(&base);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aval_core::ingest::{is_valid_cnpj, is_valid_cpf};
    use rand::SeedableRng;

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
