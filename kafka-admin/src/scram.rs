//! SCRAM credentials: the safe types and their conversions to and from librdkafka's enum.

use std::fmt;

use rdkafka::bindings::rd_kafka_ScramMechanism_t;

/// A SASL/SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub const ALL: &'static [ScramMechanism] = &[ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// The `sasl.mechanism` a client logs in with.
    pub fn as_str(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub(crate) fn to_native(self) -> rd_kafka_ScramMechanism_t {
        match self {
            ScramMechanism::Sha256 => rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_256,
            ScramMechanism::Sha512 => rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_512,
        }
    }

    /// The mechanism the broker reported as `code` (`None`: UNKNOWN or a newer one).
    pub(crate) fn from_native(code: i32) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|m| m.to_native() as i32 == code)
    }
}

impl fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SCRAM credential the cluster holds (never its salt or salted password: the broker does
/// not return them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScramCredential {
    pub user: String,
    pub mechanism: ScramMechanism,
    pub iterations: i32,
}

/// One user's credentials as librdkafka returned them (the mechanism as an integer, never
/// read as a Rust enum: librdkafka passes the broker's byte through unchecked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawScramCredential {
    pub(crate) mechanism: i32,
    pub(crate) iterations: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms_keep_kafkas_numbers_and_names() {
        assert_eq!(ScramMechanism::Sha256.to_native() as i32, 1);
        assert_eq!(ScramMechanism::Sha512.to_native() as i32, 2);
        for &m in ScramMechanism::ALL {
            assert_eq!(ScramMechanism::from_native(m.to_native() as i32), Some(m));
        }
        for code in [-1, 0, 3, 255] {
            assert_eq!(ScramMechanism::from_native(code), None);
        }
        assert_eq!(ScramMechanism::Sha512.to_string(), "SCRAM-SHA-512");
    }
}
