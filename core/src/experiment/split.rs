//! The traffic split. Each customer of a company falls in one of a million buckets, fixed by a
//! hash of company and customer (SHA-256, so every process, language and release agrees);
//! challengers take consecutive runs of buckets from the first, in the experiment's order, by
//! their share. A customer's arm therefore depends on nothing but the experiment: its orders
//! over HTTP and over Kafka, on any scorer, meet the same version.

use super::Challenger;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Buckets per company: shares are exact to a millionth.
pub const SHARE_RESOLUTION: u64 = 1_000_000;

/// The customer's bucket, in [0, `SHARE_RESOLUTION`).
pub fn bucket(company: Uuid, customer: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(company.as_bytes());
    hasher.update(customer.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % SHARE_RESOLUTION
}

/// The buckets a share takes.
pub(super) fn parts_of(share: f64) -> u64 {
    if !(share.is_finite() && share > 0.0) {
        return 0;
    }
    (share * SHARE_RESOLUTION as f64)
        .round()
        .min(SHARE_RESOLUTION as f64) as u64
}

/// The challenger whose run of buckets holds the customer's, if any.
pub(super) fn challenger_for(
    company: Uuid,
    customer: &str,
    challengers: &[Challenger],
) -> Option<i32> {
    if challengers.is_empty() {
        return None;
    }
    let bucket = bucket(company, customer);
    let mut end = 0;
    for challenger in challengers {
        end += parts_of(challenger.share);
        if bucket < end {
            return Some(challenger.version);
        }
    }
    None
}
