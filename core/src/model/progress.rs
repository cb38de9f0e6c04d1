//! How far a training has got: a stage and the share of the whole run done, 0..1. The
//! training threads only bump atomics; whoever shows the progress reads a [`Snapshot`] when it
//! likes (the train processor, about once a second).

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// The stages of a training run, in order, each with its share of the run. Cross-validation
/// dominates the time, so it holds most of the bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Reading the datasets from the database.
    Loading,
    /// Assembling and encoding the features of every order.
    BuildingFeatures,
    /// Each candidate learner fitted on each fold.
    CrossValidating,
    /// The chosen learner fitted on the whole training part.
    Refitting,
    /// The candidates scored on the holdout, importance and monotonicity checked.
    EvaluatingHoldout,
    /// The version written to the database.
    Storing,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Loading,
        Stage::BuildingFeatures,
        Stage::CrossValidating,
        Stage::Refitting,
        Stage::EvaluatingHoldout,
        Stage::Storing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Loading => "loading",
            Stage::BuildingFeatures => "building_features",
            Stage::CrossValidating => "cross_validating",
            Stage::Refitting => "refitting",
            Stage::EvaluatingHoldout => "evaluating_holdout",
            Stage::Storing => "storing",
        }
    }

    pub fn parse(text: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Where the stage starts and ends on the run's 0..1 scale.
    fn band(self) -> (f64, f64) {
        match self {
            Stage::Loading => (0.0, 0.05),
            Stage::BuildingFeatures => (0.05, 0.15),
            Stage::CrossValidating => (0.15, 0.80),
            Stage::Refitting => (0.80, 0.90),
            Stage::EvaluatingHoldout => (0.90, 0.95),
            Stage::Storing => (0.95, 1.0),
        }
    }

    /// The run's share done when `done` of the stage's `total` steps are: within the stage's
    /// band, never past its end (an estimate of the steps may fall short).
    pub fn fraction(self, done: usize, total: usize) -> f64 {
        let (start, end) = self.band();
        let within = if total == 0 {
            0.0
        } else {
            (done as f64 / total as f64).min(1.0)
        };
        start + (end - start) * within
    }
}

/// A reading of a training's progress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub stage: Stage,
    pub fraction: f64,
}

/// Shared between the training threads and the reader. Steps count only in the stage that
/// announced them (cross-validation: one per fold of each candidate, and of each logistic
/// penalty tried).
#[derive(Debug)]
pub struct TrainingProgress {
    stage: AtomicU8,
    steps_done: AtomicUsize,
    steps_total: AtomicUsize,
    /// Each stage left, with the steps done and expected in it: whether a stage's estimate
    /// of its steps holds.
    #[cfg(test)]
    pub(super) left: std::sync::Mutex<Vec<(Stage, usize, usize)>>,
}

impl Default for TrainingProgress {
    fn default() -> Self {
        TrainingProgress {
            stage: AtomicU8::new(0),
            steps_done: AtomicUsize::new(0),
            steps_total: AtomicUsize::new(0),
            #[cfg(test)]
            left: std::sync::Mutex::default(),
        }
    }
}

impl TrainingProgress {
    /// Enters `stage`, expecting `steps` steps in it (0: no steps, the stage's start is shown).
    pub fn enter(&self, stage: Stage, steps: usize) {
        #[cfg(test)]
        self.left.lock().expect("not poisoned").push((
            self.snapshot().stage,
            self.steps_done.load(Ordering::Relaxed),
            self.steps_total.load(Ordering::Relaxed),
        ));
        self.steps_total.store(steps, Ordering::Relaxed);
        self.steps_done.store(0, Ordering::Relaxed);
        let index = Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0);
        self.stage
            .store(u8::try_from(index).unwrap_or(0), Ordering::Relaxed);
    }

    /// One step of the current stage is done.
    pub fn step(&self) {
        self.steps_done.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let stage = Stage::ALL
            .get(usize::from(self.stage.load(Ordering::Relaxed)))
            .copied()
            .unwrap_or(Stage::Loading);
        Snapshot {
            stage,
            fraction: stage.fraction(
                self.steps_done.load(Ordering::Relaxed),
                self.steps_total.load(Ordering::Relaxed),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bands_cover_zero_to_one_in_order_without_gaps() {
        let mut previous_end = 0.0;
        for stage in Stage::ALL {
            let (start, end) = stage.band();
            assert_eq!(start, previous_end, "{stage:?}");
            assert!(end > start, "{stage:?}");
            previous_end = end;
        }
        assert_eq!(previous_end, 1.0);
    }

    #[test]
    fn steps_move_the_fraction_through_the_stage_and_never_past_it() {
        let progress = TrainingProgress::default();
        assert_eq!(
            progress.snapshot(),
            Snapshot {
                stage: Stage::Loading,
                fraction: 0.0
            }
        );
        progress.enter(Stage::CrossValidating, 4);
        assert_eq!(progress.snapshot().fraction, 0.15);
        progress.step();
        progress.step();
        let half = progress.snapshot();
        assert_eq!(half.stage, Stage::CrossValidating);
        assert!((half.fraction - 0.475).abs() < 1e-12, "{half:?}");
        for _ in 0..10 {
            progress.step();
        }
        assert_eq!(progress.snapshot().fraction, 0.80);
        progress.enter(Stage::Storing, 0);
        assert_eq!(progress.snapshot().fraction, 0.95);
    }

    #[test]
    fn entering_a_later_stage_never_moves_the_fraction_back() {
        let progress = TrainingProgress::default();
        let mut last = 0.0;
        for stage in Stage::ALL {
            progress.enter(stage, 3);
            for _ in 0..3 {
                let now = progress.snapshot().fraction;
                assert!(now >= last, "{stage:?}: {now} after {last}");
                last = now;
                progress.step();
            }
        }
    }

    #[test]
    fn stage_names_read_back() {
        for stage in Stage::ALL {
            assert_eq!(Stage::parse(stage.as_str()), Some(stage));
        }
        assert_eq!(Stage::parse("training"), None);
    }
}
