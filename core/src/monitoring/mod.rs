//! Monitoring a model in production: how it does on live orders once their outcomes are
//! known, and whether the orders it scores still look like those it trained on. Pure
//! statistics; storing the counts and scheduling the reports belong to the processors.
//!
//! Everything is counted, never kept order by order: a window's measures come from counts
//! ([`ScoreAccumulator`], [`Histogram`]) that add up, so per company, model version and day
//! one set of counts is stored, any window is the sum of its days, and a report for a past
//! date computes again to the same answer.
//!
//! Every measure carries its uncertainty, and every alarm a threshold that depends on how many
//! orders it rests on. A fixed rule such as "PSI above 0.1 is drift" false-alarms on small
//! windows, where chance alone moves the PSI that far, and almost never fires on large ones,
//! where a real shift can stay well below it. Thresholds here are quantiles of what chance
//! does at the window's size, so the false-alarm rate is the one chosen (α) whether a window
//! holds a hundred orders or a million, and larger windows catch smaller shifts.
//!
//! Dependencies run one way:
//! 1. `stats`: the gamma, chi-squared and normal distributions, and Wilson's interval;
//! 2. `drift`: PSI per feature and for the score, against sample-size-aware thresholds;
//! 3. `performance`, `paired`: approval and bad rates, AUC, KS and calibration with
//!    intervals; DeLong's paired test of two models on the same orders;
//! 4. `live`: a window of decisions judged as of an instant by the company's definition of a
//!    bad order, counted per model version;
//! 5. `reference`: a model version's training distributions, and a window of its decisions
//!    counted into the same cells for the drift report;
//! 6. `alert`: a drifting report as the alert the company and operators are told of.

mod alert;
mod drift;
mod live;
mod paired;
mod performance;
mod reference;
mod stats;

#[cfg(test)]
mod synthetic;

pub use alert::{ALERT_TOP_FEATURES, DriftAlert, MONITOR_ACTOR};
pub use drift::{
    Bins, Compared, DEFAULT_ALPHA, DEFAULT_BINS, DriftReport, FeatureDrift, Histogram, PsiBand,
    ShapeMismatch, psi, psi_threshold,
};
pub use live::{LiveWindow, MonitoredDecision, VersionWindow};
pub use paired::{PairedComparison, delong_paired};
pub use performance::{
    CALIBRATION_GROUPS, CalibrationRow, DEFAULT_CONFIDENCE, PROBABILITY_BINS, Performance,
    ScoreAccumulator,
};
pub use reference::{Distribution, DriftReference, DriftWindow, FeatureSample, MAX_REFERENCE_ROWS};
pub use stats::{
    Interval, chi_squared_cdf, chi_squared_quantile, gamma_p, gamma_q, ln_gamma, normal_cdf,
    normal_quantile, wilson_interval,
};
