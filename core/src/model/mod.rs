//! Models: choosing a learner per company on its own data, evaluating it on a holdout it never
//! saw, scoring and explaining orders with it, and comparing versions on orders none of them
//! trained on. Pure code; training runs on the caller's thread (the train processor runs it
//! off the async runtime).
//!
//! Dependencies run one way: each module uses only those above it in this list, and this
//! file only declares them and names what is public.
//! 1. `columns`, `spec`, `metrics`, `sample`, `parallel`, `examples`, `progress`: a dataset
//!    as compact columns, encoding features into rows, the measures of a model, evenly spread
//!    samples, fits side by side, examples from a dataset's columns, how far a training has got;
//! 2. `learners`: the candidate learners (`Learner`), their settings and fitted forms;
//! 3. `options`: what a training is asked for (`TrainingOptions`) and how it fails;
//! 4. `split`: which orders train and which judge;
//! 5. `trained`: a trained model (`TrainedModel`) and its metrics;
//! 6. `monotone`: a trained model checked against the known directions of its features;
//! 7. `select`: choosing, fitting and judging the learner;
//! 8. `train`: the entry points of training;
//! 9. `compare`: versions evaluated side by side on the orders none of them trained on.

mod columns;
mod examples;
mod metrics;
mod parallel;
mod progress;
mod sample;
mod spec;

mod learners;

mod options;

mod split;

mod trained;

mod monotone;

mod select;

mod train;

mod compare;
#[cfg(feature = "openapi")]
pub(crate) mod schema;

#[cfg(test)]
mod tests;

pub use columns::{ColumnsBuilder, OrderFields, TrainingColumns};
pub use compare::{
    ComparedVersion, Comparison, Contender, MIN_COMPARED_PER_OUTCOME, TooFewToCompare, compare,
};
pub use examples::{TrainingExample, examples, for_each_example};
pub use learners::{BoostingSettings, ForestSettings, Learner, LogisticSettings};
pub use metrics::{
    CALIBRATION_BINS, CalibrationBin, Confusion, Evaluation, HoldoutCurves, ROC_POINTS, SCORE_BINS,
    ScoreBin,
};
pub use options::{MIN_EXAMPLES, MIN_PER_OUTCOME, TrainingError, TrainingOptions};
pub use parallel::cores;
pub use progress::{Snapshot, Stage, TrainingProgress};
pub use spec::{Encoding, FeatureColumn, FeatureSpec, OTHER};
pub use split::Split;
pub use train::{train, train_columns, train_dataset, train_dataset_reporting};
pub use trained::{CandidateScore, Contribution, Explanation, ModelMetrics, TrainedModel};
