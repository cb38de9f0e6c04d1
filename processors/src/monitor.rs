//! The monitor: every interval, each company's active model version is checked for drift
//! over the recent window of its decisions, and its live measures over matured decisions are
//! computed. Both go to Prometheus gauges labelled by company; a drifting version raises an
//! alert, told to the company (a `drift.detected` audit event) and to operators (a record on
//! `drift-alerts`) naming the top three drifting features.
//!
//! It is not a consume loop: nothing arrives to trigger it. One process of a deployment runs
//! the checks at a time, the holder of the `aval.monitor` lease (`aval_store::lease`), so
//! several trainers neither repeat the work nor show several sets of gauges; when the holder
//! stops, another takes the lease at its next tick. An alert is one per company, version and
//! day ([`DriftAlert`]): announced once per day by this process, and a repeat (a new lease
//! holder the same day) has the same id, which the audit log keeps once.

use crate::guardrail::{GuardError, Guarded, Guardrail};
use aval_core::monitoring::{DEFAULT_ALPHA, DEFAULT_CONFIDENCE, DriftAlert, DriftReport};
use aval_core::{Fault, Outages};
use aval_store::drift::StoredReference;
use aval_store::lease::Lease;
use aval_store::monitoring::MonitoringWindow;
use aval_store::{Store, StoreError};
use aval_topics::records::DriftAlertRecord;
use aval_topics::{Catalogue, Publisher, TopicRole, TopicsError};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use thiserror::Error;
use uuid::Uuid;

/// The lease the checking process holds.
pub const LEASE: &str = "aval.monitor";

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonitorSettings {
    /// How often every active version is checked.
    pub interval: Duration,
    /// Drift compares the decisions of this long before the check with training.
    pub drift_window: chrono::Duration,
    /// The chance that a window drawn like training raises an alert.
    pub alpha: f64,
    /// Live measures count the decisions of this long before the check (those matured).
    pub performance_window: chrono::Duration,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3_600),
            drift_window: chrono::Duration::days(7),
            alpha: DEFAULT_ALPHA,
            performance_window: chrono::Duration::days(365),
        }
    }
}

#[derive(Debug, Error)]
pub enum MonitorError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Topics(#[from] TopicsError),
    #[error("guardrail: {0}")]
    Guard(#[from] GuardError),
    /// The stored reference and the window disagree: a bug of ours.
    #[error("the drift of version {version} cannot be computed: {reason}")]
    Report { version: i32, reason: String },
}

impl MonitorError {
    fn fault(&self) -> Fault {
        match self {
            MonitorError::Store(e) => e.fault(),
            MonitorError::Topics(e) => e.fault(),
            MonitorError::Guard(e) => e.fault(),
            MonitorError::Report { .. } => Fault::Internal,
        }
    }
}

/// What one check of a company's version found.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// `None` for a version trained before training distributions were kept.
    pub drift: Option<DriftReport>,
    /// The alert the drift raised, if it did.
    pub alert: Option<DriftAlert>,
    /// This check announced the alert (a check earlier the same day may have).
    pub announced: bool,
}

#[derive(Debug, Clone)]
pub struct Monitor {
    store: Store,
    publisher: Publisher,
    catalogue: Arc<Catalogue>,
    outages: Outages,
    settings: MonitorSettings,
    guardrail: Guardrail,
    /// Alerts this process announced; their ids change each day, so the set is cleared when
    /// it holds more than a day's worth of companies' alerts would need.
    announced: Arc<Mutex<HashSet<Uuid>>>,
}

/// Alert ids remembered before the memory is cleared (a repeat then only repeats a record
/// with the same id).
const REMEMBERED_ALERTS: usize = 100_000;

impl Monitor {
    pub fn new(
        store: Store,
        publisher: Publisher,
        catalogue: Arc<Catalogue>,
        outages: Outages,
        settings: MonitorSettings,
    ) -> Self {
        let guardrail = Guardrail::new(
            store.clone(),
            publisher.clone(),
            catalogue.clone(),
            settings.performance_window,
        );
        Self {
            store,
            publisher,
            catalogue,
            outages,
            settings,
            guardrail,
            announced: Arc::default(),
        }
    }

    /// Checks every active version each interval while this process holds the lease, until
    /// `shutdown` resolves; the first check an interval after the start, so a process
    /// restarting again and again does not check each time. A failure is logged and shown in
    /// readiness; the next tick tries again.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let interval = self.settings.interval;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut lease = None;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticker.tick() => {}
            }
            if self.holds(&mut lease).await {
                self.check_all(Utc::now()).await;
            }
        }
    }

    async fn holds(&self, lease: &mut Option<Lease>) -> bool {
        if let Some(held) = lease {
            if held.held().await {
                return true;
            }
            tracing::warn!("the monitor's lease was lost with its connection");
            *lease = None;
        }
        match self.store.try_lease(LEASE).await {
            Ok(taken) => {
                if taken.is_some() {
                    tracing::info!("this process now runs the monitor's checks");
                }
                *lease = taken;
                lease.is_some()
            }
            Err(e) => {
                self.failed(None, &MonitorError::from(e));
                false
            }
        }
    }

    /// Checks every company's active version once, as of `at`, and every experiment's
    /// guardrail.
    pub async fn check_all(&self, at: DateTime<Utc>) {
        let models = match self.store.active_models().await {
            Ok(models) => models,
            Err(e) => return self.failed(None, &MonitorError::from(e)),
        };
        let mut failed = false;
        for (company, version) in models {
            if let Err(e) = self.check(company, version, at).await {
                self.failed(Some(company), &e);
                failed = true;
            }
        }
        let experimenting = match self.store.companies_experimenting().await {
            Ok(companies) => companies,
            Err(e) => return self.failed(None, &MonitorError::from(e)),
        };
        for company in experimenting {
            if let Err(e) = self.guard(company, at).await {
                self.failed(Some(company), &e);
                failed = true;
            }
        }
        if !failed {
            self.outages.recovered(aval_core::Dependency::Database);
        }
        metrics::gauge!("aval_monitor_last_check_timestamp_seconds").set(at.timestamp() as f64);
    }

    /// Checks one company's version as of `at`: drift over the window before `at` (alerting
    /// when it drifts) and the live measures, both set as gauges.
    pub async fn check(
        &self,
        company: Uuid,
        version: i32,
        at: DateTime<Utc>,
    ) -> Result<Check, MonitorError> {
        let label = company.to_string();
        metrics::gauge!("aval_monitor_model_version", "company" => label.clone())
            .set(f64::from(version));
        self.measure_live(company, version, at, &label).await?;
        let drift = self.drift(company, version, at).await?;
        let Some(report) = drift else {
            return Ok(Check {
                drift: None,
                alert: None,
                announced: false,
            });
        };
        show_drift(&label, &report);
        let window = (at - self.settings.drift_window, at);
        let alert = DriftAlert::raised(company, version, window, &report);
        let announced = match &alert {
            Some(alert) => self.announce(alert, at).await?,
            None => false,
        };
        Ok(Check {
            drift: Some(report),
            alert,
            announced,
        })
    }

    /// Judges the company's experiment against its guardrail as of `at`, and acts on each
    /// breach (`crate::guardrail`).
    pub async fn guard(
        &self,
        company: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Vec<Guarded>, MonitorError> {
        Ok(self.guardrail.guard(company, at).await?)
    }

    async fn drift(
        &self,
        company: Uuid,
        version: i32,
        at: DateTime<Utc>,
    ) -> Result<Option<DriftReport>, MonitorError> {
        let StoredReference::Kept(reference) = self.store.drift_reference(company, version).await?
        else {
            return Ok(None);
        };
        let window = (at - self.settings.drift_window, at);
        let counted = self
            .store
            .drift_window(company, version, &reference, window)
            .await?;
        counted
            .report(&reference, self.settings.alpha)
            .map(Some)
            .map_err(|e| MonitorError::Report {
                version,
                reason: e.to_string(),
            })
    }

    async fn measure_live(
        &self,
        company: Uuid,
        version: i32,
        at: DateTime<Utc>,
        label: &str,
    ) -> Result<(), MonitorError> {
        let window = MonitoringWindow {
            from: at - self.settings.performance_window,
            to: at,
            as_of: at,
            model_version: Some(version),
        };
        let mut live = self.store.live_window(company, window).await?;
        let counted = live.versions.remove(&version).unwrap_or_default();
        let measured = counted.accumulator.performance(DEFAULT_CONFIDENCE);
        let gauge = |name: &'static str, value: f64| {
            metrics::gauge!(name, "company" => label.to_owned()).set(value);
        };
        gauge("aval_live_decisions", measured.orders as f64);
        gauge("aval_live_matured", (counted.good + counted.bad) as f64);
        gauge("aval_live_approval_rate", measured.approval_rate);
        gauge("aval_live_bad_rate", measured.bad_rate);
        gauge("aval_live_auc", measured.auc);
        gauge("aval_live_ks", measured.ks);
        Ok(())
    }

    /// Tells the company and operators of `alert`, unless this process already did today.
    /// The record goes first: once the audit event is out, the alert counts as announced.
    async fn announce(&self, alert: &DriftAlert, at: DateTime<Utc>) -> Result<bool, MonitorError> {
        if self.remembered(alert.alert_id) {
            return Ok(false);
        }
        let key = alert.company_id.to_string();
        self.publisher
            .publish(
                self.catalogue.topic(TopicRole::DriftAlerts),
                &key,
                &DriftAlertRecord::new(alert, at),
                &[],
            )
            .await?;
        self.publisher
            .publish_audit(&self.catalogue, &alert.audit_event(at))
            .await?;
        self.remember(alert.alert_id);
        metrics::counter!("aval_drift_alerts_total", "company" => key).increment(1);
        tracing::info!(
            company = %alert.company_id,
            version = alert.model_version,
            features = ?alert.feature_names(),
            "drift alert"
        );
        Ok(true)
    }

    fn remembered(&self, alert_id: Uuid) -> bool {
        self.announced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&alert_id)
    }

    fn remember(&self, alert_id: Uuid) {
        let mut announced = self
            .announced
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if announced.len() >= REMEMBERED_ALERTS {
            announced.clear();
        }
        announced.insert(alert_id);
    }

    fn failed(&self, company: Option<Uuid>, error: &MonitorError) {
        match error.fault() {
            Fault::External(dependency) => {
                tracing::warn!(company = ?company, error = %error, "a monitor check waits for {dependency}");
                self.outages.report(dependency, error.to_string());
            }
            Fault::Sender | Fault::Internal => {
                tracing::error!(company = ?company, error = %error, "a monitor check failed");
            }
        }
        metrics::counter!("aval_monitor_failures_total").increment(1);
    }
}

/// The report as gauges: the score's and each feature's PSI and threshold, the window's
/// size, and whether retraining is suggested.
fn show_drift(company: &str, report: &DriftReport) {
    let labelled = |name: &'static str, value: f64| {
        metrics::gauge!(name, "company" => company.to_owned()).set(value);
    };
    labelled("aval_drift_decisions", report.score.window_size as f64);
    labelled("aval_drift_score_psi", report.score.psi);
    labelled("aval_drift_score_threshold", report.score.threshold);
    labelled(
        "aval_drift_retrain_suggested",
        if report.retrain_suggested { 1.0 } else { 0.0 },
    );
    for feature in &report.features {
        let labels = [
            ("company", company.to_owned()),
            ("feature", feature.name.clone()),
        ];
        metrics::gauge!("aval_drift_feature_psi", &labels).set(feature.psi);
        metrics::gauge!("aval_drift_feature_threshold", &labels).set(feature.threshold);
    }
}
