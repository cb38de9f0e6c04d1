//! Whose fault a failure is, and which dependency is down: the vocabulary every edge crate
//! (Kafka, database) classifies its errors in, so a processor knows whether to dead-letter a
//! record, back off, or raise the alarm, and readiness can name what is missing.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Whose fault a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The record or request is bad; retrying it cannot help.
    Sender,
    /// A dependency is unreachable, busy or restarting; retrying later can help.
    External(Dependency),
    /// A bug or misconfiguration of aval itself.
    Internal,
}

/// What aval depends on at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dependency {
    Kafka,
    SchemaRegistry,
    Database,
}

impl Dependency {
    pub fn as_str(self) -> &'static str {
        match self {
            Dependency::Kafka => "kafka",
            Dependency::SchemaRegistry => "schema_registry",
            Dependency::Database => "database",
        }
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One dependency seen down by some part of the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub dependency: Dependency,
    /// The last error seen, for an operator.
    pub error: String,
    pub for_how_long: Duration,
}

/// The dependencies this process currently finds down, as reported by whatever uses them
/// (each processor's consume loop). Readiness reads it; a success clears it. Shared by clones.
#[derive(Debug, Clone, Default)]
pub struct Outages {
    down: Arc<Mutex<BTreeMap<Dependency, (Instant, String)>>>,
}

impl Outages {
    /// `dependency` failed just now; the first report of an outage fixes its start.
    pub fn report(&self, dependency: Dependency, error: impl Into<String>) {
        let mut down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        let error = error.into();
        down.entry(dependency)
            .and_modify(|(_, last)| last.clone_from(&error))
            .or_insert_with(|| (Instant::now(), error));
    }

    /// `dependency` answered again.
    pub fn recovered(&self, dependency: Dependency) {
        let mut down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        down.remove(&dependency);
    }

    /// Every dependency down now, in a fixed order.
    pub fn current(&self) -> Vec<Outage> {
        let down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        down.iter()
            .map(|(dependency, (since, error))| Outage {
                dependency: *dependency,
                error: error.clone(),
                for_how_long: since.elapsed(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_until_it_recovers() {
        let outages = Outages::default();
        let seen_elsewhere = outages.clone();
        outages.report(Dependency::Database, "connection refused");
        outages.report(Dependency::Database, "pool timed out");
        let current = seen_elsewhere.current();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].dependency, Dependency::Database);
        assert_eq!(current[0].error, "pool timed out");
        outages.recovered(Dependency::Database);
        assert!(seen_elsewhere.current().is_empty());
    }

    #[test]
    fn outages_are_listed_in_a_fixed_order() {
        let outages = Outages::default();
        outages.report(Dependency::Database, "down");
        outages.report(Dependency::Kafka, "down");
        let names: Vec<&str> = outages
            .current()
            .iter()
            .map(|o| o.dependency.as_str())
            .collect();
        assert_eq!(names, ["kafka", "database"]);
    }
}
