//! The resumable state of an upload, kept beside the data as `DIR/.aval-upload.json`: which
//! gateway and dataset, and per kind which batches were acknowledged (202) or refused (4xx, with
//! the errors). Written atomically (a temporary file renamed over the old one) after every batch,
//! so an interrupted upload resumes where it stopped and a batch whose 202 was lost is re-sent
//! with the same Idempotency-Key.

use super::Kind;
use super::source::Source;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

pub(super) const STATE_FILE: &str = ".aval-upload.json";
const VERSION: u32 = 1;

/// Items per kind, as the completion marker announces them (a kind missing when read is 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Counts {
    pub customers: u64,
    pub orders: u64,
    pub credit_limits: u64,
    pub bureau_reports: u64,
}

impl Counts {
    pub(crate) fn get(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Customers => self.customers,
            Kind::Orders => self.orders,
            Kind::CreditLimits => self.credit_limits,
            Kind::BureauReports => self.bureau_reports,
        }
    }

    pub(crate) fn set(&mut self, kind: Kind, n: u64) {
        match kind {
            Kind::Customers => self.customers = n,
            Kind::Orders => self.orders = n,
            Kind::CreditLimits => self.credit_limits = n,
            Kind::BureauReports => self.bureau_reports = n,
        }
    }
}

/// One reason the gateway gave for refusing a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ItemError {
    pub field: String,
    pub reason: String,
}

impl ItemError {
    /// The item a field path such as `items[3].document` points into.
    pub(super) fn item_index(&self) -> Option<usize> {
        let rest = self.field.strip_prefix("items[")?;
        let end = rest.find(']')?;
        rest[..end].parse().ok()
    }
}

/// A batch the gateway refused for good: nothing of it was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Refusal {
    pub batch: usize,
    pub status: u16,
    pub detail: String,
    /// Items in the batch (none of them stored).
    pub items: usize,
    /// Distinct items the errors point at.
    pub invalid_items: usize,
    /// The errors, at most [`MAX_ERRORS_KEPT`].
    pub errors: Vec<ItemError>,
}

pub(super) const MAX_ERRORS_KEPT: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct KindState {
    /// The file the batches were read from, and how many items it had: a resumed upload must
    /// read the same.
    pub file: String,
    pub items: usize,
    pub acknowledged: BTreeSet<usize>,
    #[serde(default)]
    pub refused: Vec<Refusal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Completion {
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct UploadState {
    pub version: u32,
    pub gateway: String,
    pub dataset_id: String,
    #[serde(default)]
    pub kinds: BTreeMap<String, KindState>,
    /// Set once the gateway acknowledged the completion marker.
    #[serde(default)]
    pub completed: Option<Completion>,
}

pub(super) fn path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

impl UploadState {
    pub(super) fn new(gateway: &str, dataset_id: &str) -> Self {
        UploadState {
            version: VERSION,
            gateway: gateway.to_owned(),
            dataset_id: dataset_id.to_owned(),
            kinds: BTreeMap::new(),
            completed: None,
        }
    }

    /// The state in `dir`, if there is one.
    pub(super) fn load(dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let state: UploadState = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not an upload state (remove it or pass --restart)",
                path.display()
            )
        })?;
        anyhow::ensure!(
            state.version == VERSION,
            "{} has version {}, this aval writes {VERSION}: pass --restart",
            path.display(),
            state.version
        );
        Ok(Some(state))
    }

    /// Writes the state next to the data: a temporary file, flushed, renamed over the old one,
    /// so a crash leaves either the old or the new state, never half of one.
    pub(super) fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let target = path(dir);
        let temporary = dir.join(format!("{STATE_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temporary)?;
            let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
            file.write_all(&text)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&temporary, &target)
        };
        write().with_context(|| format!("cannot write {}", target.display()))
    }

    pub(super) fn kind(&self, kind: Kind) -> Option<&KindState> {
        self.kinds.get(kind.as_str())
    }

    /// The state of a kind about to be uploaded from `source`, created when new. Refuses a
    /// source whose file or item count differs from what earlier batches were cut from: their
    /// batch indexes would then mean other items.
    pub(super) fn begin(&mut self, source: &Source) -> anyhow::Result<&mut KindState> {
        let file = source.file_name();
        let entry = self
            .kinds
            .entry(source.kind.as_str().to_owned())
            .or_default();
        let started = !entry.acknowledged.is_empty() || !entry.refused.is_empty();
        if started && (entry.file != file || entry.items != source.items.len()) {
            anyhow::bail!(
                "{} changed since the interrupted upload (it was {} with {} items, now {file} with {}): pass --restart to upload it as a new dataset",
                source.kind.as_str(),
                entry.file,
                entry.items,
                source.items.len()
            );
        }
        entry.file = file;
        entry.items = source.items.len();
        Ok(entry)
    }

    /// Checks every source against the state before anything is sent.
    pub(super) fn check_sources(&mut self, sources: &[Source]) -> anyhow::Result<()> {
        let mut copy = self.clone();
        for source in sources {
            copy.begin(source)?;
        }
        Ok(())
    }

    /// Batches neither acknowledged nor refused yet, in order.
    pub(super) fn pending(&self, kind: Kind, batch_count: usize) -> Vec<usize> {
        let state = self.kind(kind);
        (0..batch_count)
            .filter(|b| {
                state.is_none_or(|s| {
                    !s.acknowledged.contains(b) && !s.refused.iter().any(|r| r.batch == *b)
                })
            })
            .collect()
    }

    /// Items in acknowledged batches of `source`.
    pub(super) fn accepted_items(&self, source: &Source) -> usize {
        self.kind(source.kind).map_or(0, |s| {
            s.acknowledged
                .iter()
                .map(|&b| source.batch_len(b))
                .sum::<usize>()
        })
    }

    /// What the completion marker announces: the items of acknowledged batches.
    pub(super) fn accepted_counts(&self, sources: &[Source]) -> Counts {
        let mut counts = Counts::default();
        for source in sources {
            counts.set(source.kind, self.accepted_items(source) as u64);
        }
        counts
    }

    pub(super) fn refusals(&self) -> impl Iterator<Item = (Kind, &Refusal)> {
        Kind::UPLOAD_ORDER.into_iter().flat_map(move |kind| {
            self.kind(kind)
                .into_iter()
                .flat_map(move |s| s.refused.iter().map(move |r| (kind, r)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(kind: Kind, name: &str, n: usize) -> Source {
        Source {
            kind,
            path: PathBuf::from(name),
            items: (0..n).map(|i| format!("{{\"id\":\"{i}\"}}")).collect(),
            lines: (1..=n as u64).collect(),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("aval-state-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn the_state_round_trips_through_its_file() -> anyhow::Result<()> {
        let dir = temp_dir("round-trip");
        assert_eq!(UploadState::load(&dir)?, None);
        let customers = source(Kind::Customers, "customers.jsonl", 1_200);
        let mut state = UploadState::new("http://gw:8080", "d-1");
        let kind = state.begin(&customers)?;
        kind.acknowledged.extend([0, 2]);
        kind.refused.push(Refusal {
            batch: 1,
            status: 422,
            detail: "1 invalid item".into(),
            items: 500,
            invalid_items: 1,
            errors: vec![ItemError {
                field: "items[3].document".into(),
                reason: "bad check digits".into(),
            }],
        });
        state.completed = Some(Completion {
            counts: state.accepted_counts(std::slice::from_ref(&customers)),
        });
        state.save(&dir)?;
        assert!(!dir.join(format!("{STATE_FILE}.tmp")).exists());
        let loaded = UploadState::load(&dir)?.expect("saved");
        assert_eq!(loaded, state);
        assert_eq!(loaded.completed.map(|c| c.counts.customers), Some(700));
        std::fs::write(path(&dir), "{not json")?;
        assert!(UploadState::load(&dir).is_err());
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn resuming_skips_acknowledged_and_refused_batches() -> anyhow::Result<()> {
        let orders = source(Kind::Orders, "orders.csv", 2_100);
        let mut state = UploadState::new("http://gw", "d");
        assert_eq!(
            state.pending(Kind::Orders, orders.batch_count()),
            [0, 1, 2, 3, 4]
        );
        let kind = state.begin(&orders)?;
        kind.acknowledged.extend([0, 3]);
        kind.refused.push(Refusal {
            batch: 4,
            status: 413,
            detail: "too large".into(),
            items: 100,
            invalid_items: 0,
            errors: Vec::new(),
        });
        assert_eq!(state.pending(Kind::Orders, orders.batch_count()), [1, 2]);
        assert_eq!(state.pending(Kind::Customers, 2), [0, 1]);
        assert_eq!(state.accepted_items(&orders), 1_000);
        // The same file resumes; a changed one is refused.
        state.check_sources(std::slice::from_ref(&orders))?;
        let changed = source(Kind::Orders, "orders.csv", 2_101);
        assert!(state.check_sources(&[changed]).is_err());
        let other = source(Kind::Orders, "orders.jsonl", 2_100);
        assert!(state.begin(&other).is_err());
        Ok(())
    }

    #[test]
    fn error_fields_point_at_their_item() {
        let error = |field: &str| ItemError {
            field: field.into(),
            reason: String::new(),
        };
        assert_eq!(error("items[3].document").item_index(), Some(3));
        assert_eq!(error("items[499]").item_index(), Some(499));
        assert_eq!(error("items").item_index(), None);
        assert_eq!(error("counts.orders").item_index(), None);
    }
}
