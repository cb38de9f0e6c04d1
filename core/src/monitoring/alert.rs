//! A drift alert: a company's model version found drifting on a window of its decisions,
//! named for the company (its audit log) and for operators (a topic record).
//!
//! A monitor checks every company's active version again and again, and several monitors may
//! check at once, so an alert is identified by what it is about, not by when it was raised:
//! the company, the version and the UTC day the window ends. Checks repeated within a day name
//! the same alert, which the audit log keeps once, and a version still drifting the next day
//! raises the next day's alert.

use super::{DriftReport, FeatureDrift};
use crate::audit::{AuditEvent, AuditKind};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Drifting features an alert names, furthest above their thresholds first.
pub const ALERT_TOP_FEATURES: usize = 3;

/// The actor of the audit event: the monitor, not the company.
pub const MONITOR_ACTOR: &str = "system:monitor";

/// Derives alert ids (UUID v5): "aval-drift-alert" in its 16 bytes.
const ALERT_NAMESPACE: Uuid = Uuid::from_u128(0x6176_616c_2d64_7269_6674_2d61_6c65_7274);

#[derive(Debug, Clone, PartialEq)]
pub struct DriftAlert {
    /// The same for every check of this company's version whose window ends on one UTC day.
    pub alert_id: Uuid,
    pub company_id: Uuid,
    pub model_version: i32,
    /// Decisions decided in [from, to) were counted.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub decisions: u64,
    /// The false-alarm rate of the whole report.
    pub alpha: f64,
    /// The score (the probability of blocking) against the version's holdout.
    pub score: FeatureDrift,
    /// Up to [`ALERT_TOP_FEATURES`] drifting features, furthest above their thresholds first;
    /// empty when only the score moved.
    pub top_drifting: Vec<FeatureDrift>,
}

impl DriftAlert {
    /// The alert a report raises: `None` when nothing drifts.
    pub fn raised(
        company_id: Uuid,
        model_version: i32,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        report: &DriftReport,
    ) -> Option<DriftAlert> {
        if !report.retrain_suggested {
            return None;
        }
        Some(DriftAlert {
            alert_id: alert_id(company_id, model_version, to),
            company_id,
            model_version,
            from,
            to,
            decisions: report.score.window_size,
            alpha: report.alpha,
            score: report.score.clone(),
            top_drifting: report
                .top_drifting(ALERT_TOP_FEATURES)
                .into_iter()
                .cloned()
                .collect(),
        })
    }

    /// The names of the drifting features it names, in order.
    pub fn feature_names(&self) -> Vec<&str> {
        self.top_drifting.iter().map(|f| f.name.as_str()).collect()
    }

    /// The company's audit event: its id is the alert's, so the log keeps one a day however
    /// often the alert is announced.
    pub fn audit_event(&self, at: DateTime<Utc>) -> AuditEvent {
        let mut event =
            AuditEvent::new(self.company_id, AuditKind::DriftDetected, MONITOR_ACTOR, at)
                .with_detail("model_version", self.model_version.to_string())
                .with_detail("from", self.from.to_rfc3339())
                .with_detail("to", self.to.to_rfc3339())
                .with_detail("decisions", self.decisions.to_string())
                .with_detail("alpha", self.alpha.to_string())
                .with_detail("top_drifting", self.feature_names().join(","))
                .with_detail("score_psi", format!("{:.6}", self.score.psi))
                .with_detail("score_drifting", self.score.drifting.to_string())
                .with_detail("retrain_suggested", "true");
        event.event_id = self.alert_id;
        event
    }
}

/// One id per company, version and UTC day of the window's end.
fn alert_id(company_id: Uuid, model_version: i32, to: DateTime<Utc>) -> Uuid {
    let day = to.date_naive();
    Uuid::new_v5(
        &ALERT_NAMESPACE,
        format!("{company_id}\u{1f}{model_version}\u{1f}{day}").as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::{Bins, Compared};
    use chrono::Duration;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("date")
            .with_timezone(&Utc)
    }

    /// A report over four features, of which the window moved `moved` far from training.
    fn report(moved: &[usize]) -> DriftReport {
        let training: Vec<f64> = (0..2_000).map(|i| f64::from(i % 100)).collect();
        let bins = Bins::learn(&training, 10);
        let reference = bins.count(&training);
        let usual = bins.count(&training[..1_000]);
        let shifted: Vec<f64> = training[..1_000].iter().map(|v| v + 60.0).collect();
        let shifted = bins.count(&shifted);
        let names = ["amount", "limit", "days", "age"];
        let windows: Vec<_> = (0..names.len())
            .map(|i| if moved.contains(&i) { &shifted } else { &usual })
            .collect();
        let features: Vec<Compared<'_>> = names
            .iter()
            .zip(&windows)
            .map(|(name, window)| Compared {
                name,
                reference: &reference,
                window,
            })
            .collect();
        let score = Compared {
            name: "score",
            reference: &reference,
            window: &usual,
        };
        DriftReport::compute(score, &features, 0.01).expect("same shapes")
    }

    #[test]
    fn nothing_drifting_raises_nothing() {
        let company = Uuid::from_u128(7);
        let to = at("2026-12-06T10:00:00Z");
        assert_eq!(DriftAlert::raised(company, 1, (to, to), &report(&[])), None);
    }

    #[test]
    fn an_alert_names_the_drifting_features_and_is_audited_under_its_own_id() {
        let company = Uuid::from_u128(7);
        let to = at("2026-12-06T10:00:00Z");
        let from = to - Duration::days(7);
        let alert = DriftAlert::raised(company, 3, (from, to), &report(&[2, 0])).expect("raised");
        let mut named = alert.feature_names();
        named.sort_unstable();
        assert_eq!(named, ["amount", "days"]);
        assert_eq!(alert.decisions, 1_000);
        let event = alert.audit_event(to);
        assert_eq!(event.event_id, alert.alert_id);
        assert_eq!(event.kind, "drift.detected");
        assert_eq!(event.company_id, company);
        assert_eq!(event.details["model_version"], "3");
        assert_eq!(
            event.details["top_drifting"],
            alert.feature_names().join(",")
        );
        assert_eq!(event.details["retrain_suggested"], "true");
    }

    #[test]
    fn at_most_three_features_are_named() {
        let to = at("2026-12-06T10:00:00Z");
        let alert = DriftAlert::raised(Uuid::from_u128(7), 1, (to, to), &report(&[0, 1, 2, 3]))
            .expect("raised");
        assert_eq!(alert.top_drifting.len(), ALERT_TOP_FEATURES);
    }

    #[test]
    fn one_alert_a_company_version_and_day() {
        let (a, b) = (Uuid::from_u128(7), Uuid::from_u128(8));
        let morning = at("2026-12-06T00:00:01Z");
        let evening = at("2026-12-06T23:59:59Z");
        let next_day = at("2026-12-07T00:00:00Z");
        assert_eq!(alert_id(a, 1, morning), alert_id(a, 1, evening));
        assert_ne!(alert_id(a, 1, evening), alert_id(a, 1, next_day));
        assert_ne!(alert_id(a, 1, morning), alert_id(a, 2, morning));
        assert_ne!(alert_id(a, 1, morning), alert_id(b, 1, morning));
    }
}
