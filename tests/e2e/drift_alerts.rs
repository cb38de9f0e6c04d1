//! The monitor on the real pipeline: a version whose recent orders moved away from its training
//! orders raises an alert naming the feature that moved, told to its company (a
//! `drift.detected` event in its audit log) and to operators (a record on `drift-alerts`),
//! with its figures shown as Prometheus gauges. Checks repeated the same day raise nothing new
//! from the same process; another process's repeat carries the same alert id and the audit log
//! keeps it once. Another company hears nothing of it. The lease lets one process check at a
//! time. (The monitor's loop, `check_all`, reads every company of the database; the tests
//! share one database, so they call `check` on their own company.)

use crate::common::{self, DEADLINE, Gateway};
use crate::decisions_support::Decisions;
use crate::drift::decide;
use aval_core::Outages;
use aval_processors::monitor::{Monitor, MonitorSettings};
use aval_topics::TopicRole;
use aval_topics::records::DriftAlertRecord;
use chrono::Utc;
use rdkafka::Message;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The company's audit events of `kind` once its log holds the decision of `order_id`, made
/// after them: its event is on the same partition, later, so everything before it is stored.
async fn logged_before(gateway: &Gateway, token: &str, kind: &str, order_id: &str) -> Vec<Value> {
    let page = crate::audit::audit_until(gateway, token, "?limit=500", |page| {
        crate::audit::events_of(page)
            .iter()
            .any(|e| e["details"]["order_id"] == order_id)
    })
    .await;
    crate::audit::events_of(&page)
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drifting_version_raises_one_alert_a_day_for_its_company_and_operators() {
    let pipeline = Decisions::start().await;
    let gateway = pipeline.gateway();
    let catalogue = pipeline.pipeline.catalogue.clone();
    let (company, token) = pipeline.trained_company().await;
    let company_id: Uuid = company.parse().expect("company id");
    let (_, other) = gateway.register().await;
    let stop_audit = crate::audit::start_processor_on(catalogue.clone()).await;
    let metrics = aval_gateway::telemetry::prometheus();

    // Orders a hundred times the training's, all within the hour the monitor looks at.
    decide(gateway, &token, "L", 150, 20_000_000).await;
    let settings = MonitorSettings {
        drift_window: chrono::Duration::hours(1),
        ..MonitorSettings::default()
    };
    let monitor_of = async || {
        let w = common::wiring(&catalogue, "e2e-monitor", "train").await;
        Monitor::new(
            w.store,
            w.publisher,
            catalogue.clone(),
            Outages::default(),
            settings,
        )
    };
    let monitor = monitor_of().await;
    let at = Utc::now();
    let check = monitor.check(company_id, 1, at).await.expect("checked");
    let report = check
        .drift
        .expect("the version kept its training distributions");
    assert!(report.retrain_suggested, "{report:?}");
    assert_eq!(report.score.window_size, 150);
    let alert = check.alert.expect("an alert");
    assert!(check.announced);
    assert_eq!(alert.company_id, company_id);
    assert_eq!(alert.model_version, 1);
    let named = alert.feature_names();
    assert!(!named.is_empty() && named.len() <= 3, "{named:?}");
    assert!(
        named.iter().any(|name| name.contains("amount")),
        "a hundredfold amount is named: {named:?}"
    );

    // The gauges show the check.
    let shown = metrics.render();
    let labelled = format!("company=\"{company}\"");
    for name in [
        "aval_drift_retrain_suggested",
        "aval_drift_score_psi",
        "aval_drift_feature_psi",
        "aval_live_approval_rate",
        "aval_monitor_model_version",
    ] {
        assert!(
            shown
                .lines()
                .any(|line| line.starts_with(name) && line.contains(&labelled)),
            "{name} for the company in:\n{shown}"
        );
    }
    assert!(
        shown.contains(&format!("aval_drift_retrain_suggested{{{labelled}}} 1")),
        "{shown}"
    );

    // Checked again the same day by this process: the same alert, not announced again.
    let again = monitor
        .check(company_id, 1, at + chrono::Duration::seconds(1))
        .await
        .expect("checked");
    assert_eq!(again.alert.map(|a| a.alert_id), Some(alert.alert_id));
    assert!(!again.announced);
    // By another process (a new lease holder): announced again, under the same id.
    let repeated = monitor_of()
        .await
        .check(company_id, 1, at)
        .await
        .expect("checked");
    assert!(repeated.announced);
    assert_eq!(repeated.alert.map(|a| a.alert_id), Some(alert.alert_id));

    // Operators read both records, one alert.
    let consumer = common::consumer_from_start(&catalogue.topic(TopicRole::DriftAlerts).name);
    let codec = common::codec();
    let mut records = Vec::new();
    let started = Instant::now();
    while records.len() < 2 {
        assert!(started.elapsed() < DEADLINE, "alerts read: {records:?}");
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await
        else {
            continue;
        };
        assert_eq!(message.key(), Some(company.as_bytes()), "keyed by company");
        let record: DriftAlertRecord = codec
            .decode(message.payload().expect("payload"))
            .await
            .expect("decoded");
        records.push(record);
    }
    for record in &records {
        assert_eq!(record.alert_id, alert.alert_id.to_string());
        assert_eq!(record.company_id, company);
        assert_eq!(record.model_version, 1);
        assert_eq!(record.decisions, 150);
        assert!(record.retrain_suggested);
        let names: Vec<&str> = record
            .top_drifting
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, named);
        assert!(
            record
                .top_drifting
                .iter()
                .all(|f| f.drifting && f.psi > f.threshold)
        );
        assert_eq!(
            record.window_to - record.window_from,
            settings.drift_window.num_milliseconds()
        );
    }

    // The company's log keeps one event: a decision made after both is stored after them.
    decide(gateway, &token, "AFTER", 1, 200_000).await;
    let events = logged_before(gateway, &token, "drift.detected", "AFTER-000").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["event_id"], alert.alert_id.to_string());
    assert_eq!(event["actor"], "system:monitor");
    assert_eq!(event["details"]["model_version"], "1");
    assert_eq!(event["details"]["top_drifting"], named.join(","));
    assert_eq!(event["details"]["retrain_suggested"], "true");

    // Another company hears nothing of it.
    let (status, page) = crate::audit::audit_page(gateway, &other, "?kind=drift.detected").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["events"], json!([]), "{page}");
    stop_audit.cancel();
}

#[tokio::test]
async fn one_process_holds_the_monitor_lease_at_a_time() {
    let name = format!("e2e-lease-{}", Uuid::new_v4());
    let (first, second) = (common::store().await, common::store().await);
    let mut held = first.try_lease(&name).await.expect("tried").expect("free");
    assert!(held.held().await);
    assert!(second.try_lease(&name).await.expect("tried").is_none());
    drop(held);
    // Released when its connection closes, which the server sees a moment later.
    let started = Instant::now();
    loop {
        if let Some(mut taken) = second.try_lease(&name).await.expect("tried") {
            assert!(taken.held().await);
            assert!(first.try_lease(&name).await.expect("tried").is_none());
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the lease was never released");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
