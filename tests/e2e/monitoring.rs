//! Live performance (`GET /v1/monitoring/performance`) on decisions made through the real
//! pipeline, with outcomes reported over HTTP: the counts, rates and AUC match a reference
//! computed here from the decisions' own probabilities; a past `as_of` gives the same answer
//! after later reports; and another company sees nothing of it. Decisions mature only months
//! after they are made, so the test moves some of them back in time in the database, as if
//! they had been made 200 days ago.

use crate::common::{self, Gateway};
use crate::decisions_support::{Decisions, order, order_json, post_decision};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};

async fn get(gateway: &Gateway, token: &str, query: &str) -> (u16, Value) {
    let response = gateway
        .http
        .get(gateway.url(&format!("/v1/monitoring/performance{query}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
        .replace('+', "%2B")
}

/// One decided order as the test knows it.
struct Decided {
    order_id: String,
    probability: f64,
    approved: bool,
    /// `Some(bad)` for a matured order with a repayment outcome.
    bad: Option<bool>,
}

/// The rank AUC of the matured orders with an outcome, probabilities ranked to 0.001 as the
/// accumulator's bins rank them, ties counting half.
fn reference_auc(decided: &[Decided]) -> f64 {
    let bin = |p: f64| (p * 1000.0).floor().min(999.0);
    let (mut pairs, mut wins) = (0.0, 0.0);
    for b in decided.iter().filter(|d| d.bad == Some(true)) {
        for g in decided.iter().filter(|d| d.bad == Some(false)) {
            pairs += 1.0;
            wins += match bin(b.probability).total_cmp(&bin(g.probability)) {
                std::cmp::Ordering::Greater => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Less => 0.0,
            };
        }
    }
    wins / pairs
}

fn close(actual: &Value, expected: f64, what: &str) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {actual}"));
    assert!(
        (actual - expected).abs() < 1e-9,
        "{what}: {actual} != {expected}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_performance_matches_a_reference_and_a_past_as_of_stays_put() {
    let pipeline = Decisions::start().await;
    let gateway = pipeline.gateway();
    let (company, token) = pipeline.trained_company().await;
    let (_, other) = gateway.register().await;

    // 36 orders: riskier customers (not a multiple of 3) with large amounts score high.
    let mut decided = Vec::new();
    for i in 0..36 {
        let customer = format!("C{:05}", 1 + i % 6);
        let cents = if i % 2 == 0 { 4_000_000 } else { 200_000 };
        let id = format!("M-{i:02}");
        let body = json!({"order": order_json(&order(&id, &customer, cents))});
        let (status, decision) = post_decision(gateway, &token, "/v1/decisions", body, "en").await;
        assert_eq!(status, 200, "{decision}");
        decided.push(Decided {
            order_id: id,
            probability: decision["probability"].as_f64().expect("probability"),
            approved: decision["decision"] == "approved",
            bad: None,
        });
    }
    // The first 30 were made 200 days ago: matured by the default definition (180 days).
    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("database");
    let moved = sqlx::query(
        "UPDATE decisions SET decided_at = decided_at - interval '200 days'
         WHERE company_id = $1::uuid AND order_id < 'M-30'",
    )
    .bind(&company)
    .execute(&pool)
    .await
    .expect("moved back")
    .rows_affected();
    assert_eq!(moved, 30);
    pool.close().await;

    // Outcomes for 24 of them: the riskier half of those defaulted 30 days after the decision
    // (within the window: bad), the rest paid on time; 6 matured without an outcome.
    let before_reports = Utc::now();
    let defaulted_at = Utc::now() - TimeDelta::days(170);
    let mut reports = Vec::new();
    for (i, d) in decided.iter_mut().enumerate().take(24) {
        let bad = d.probability > 0.5 || i % 5 == 0;
        d.bad = Some(bad);
        reports.push(if bad {
            json!({"order_id": d.order_id, "occurred_at": defaulted_at.to_rfc3339(), "kind": "defaulted"})
        } else {
            json!({"order_id": d.order_id, "occurred_at": defaulted_at.to_rfc3339(), "kind": "paid_on_time"})
        });
    }
    let response = gateway
        .http
        .post(gateway.url("/v1/outcomes"))
        .bearer_auth(&token)
        .json(&json!({ "reports": reports }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let after_reports = Utc::now();

    let (status, report) = get(gateway, &token, "").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["definition"],
        json!({"days_past_due": 90, "within_days": 180})
    );
    let versions = report["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 1, "{report}");
    let version = &versions[0];
    assert_eq!(version["model_version"], 1);
    let bads = decided.iter().filter(|d| d.bad == Some(true)).count();
    assert!(bads > 0 && bads < 24, "both outcomes present: {bads}");
    assert_eq!(version["decisions"], 36);
    assert_eq!(version["immature"], 6);
    assert_eq!(version["unknown"], 6);
    assert_eq!(version["bad"], bads);
    assert_eq!(version["good"], 24 - bads);
    let live = &version["live"];
    let approved = decided.iter().filter(|d| d.approved).count();
    close(
        &live["approval_rate"],
        approved as f64 / 36.0,
        "approval rate",
    );
    let matured_approved: Vec<&Decided> = decided
        .iter()
        .filter(|d| d.approved && d.bad.is_some())
        .collect();
    assert_eq!(live["matured_approved"], matured_approved.len());
    if !matured_approved.is_empty() {
        let approved_bad = matured_approved
            .iter()
            .filter(|d| d.bad == Some(true))
            .count();
        close(
            &live["bad_rate"],
            approved_bad as f64 / matured_approved.len() as f64,
            "bad rate",
        );
    }
    close(&live["auc"], reference_auc(&decided), "auc");
    let interval = &live["auc_interval"];
    assert!(interval["low"].as_f64() <= live["auc"].as_f64(), "{live}");
    assert!(live["auc"].as_f64() <= interval["high"].as_f64(), "{live}");
    // Beside it, the version's holdout as training measured it.
    let models = gateway
        .http
        .get(gateway.url("/v1/models"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(
        version["holdout"]["auc"], models["models"][0]["holdout"]["roc_auc"],
        "{version}"
    );

    // As of before the reports: the same decisions, nothing known of how they went.
    let (status, earlier) = get(
        gateway,
        &token,
        &format!("?as_of={}", instant(before_reports)),
    )
    .await;
    assert_eq!(status, 200, "{earlier}");
    let earlier = &earlier["versions"][0];
    assert_eq!(
        (
            &earlier["decisions"],
            &earlier["unknown"],
            &earlier["good"],
            &earlier["bad"]
        ),
        (&json!(36), &json!(30), &json!(0), &json!(0)),
        "{earlier}"
    );

    // A later report changes now, not a past as_of.
    let good = decided
        .iter()
        .find(|d| d.bad == Some(false))
        .expect("a good order");
    let response = gateway
        .http
        .post(gateway.url("/v1/outcomes"))
        .bearer_auth(&token)
        .json(&json!({"reports": [{"order_id": good.order_id,
            "occurred_at": (defaulted_at + TimeDelta::days(10)).to_rfc3339(), "kind": "written_off"}]}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let (_, now) = get(gateway, &token, "").await;
    assert_eq!(now["versions"][0]["bad"], bads + 1, "{now}");
    let (_, past) = get(
        gateway,
        &token,
        &format!("?as_of={}", instant(after_reports)),
    )
    .await;
    assert_eq!(past["versions"][0], report["versions"][0], "reproducible");

    // One version, or one it does not have; bad parameters named.
    let (status, one) = get(gateway, &token, "?model_version=1").await;
    assert_eq!(status, 200);
    assert_eq!(one["versions"][0]["decisions"], 36);
    let (status, _) = get(gateway, &token, "?model_version=9").await;
    assert_eq!(status, 404);
    let future = instant(Utc::now() + TimeDelta::days(2));
    let (status, problem) = get(gateway, &token, &format!("?as_of={future}&confidence=2")).await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, ["as_of", "confidence"]);

    // Overrides: one of each direction, rated against what each could overturn, with how
    // the overridden orders were repaid.
    let rejected = decided.iter().find(|d| !d.approved && d.bad.is_some());
    let approved_one = decided.iter().find(|d| d.approved && d.bad.is_some());
    let mut overrides = Vec::new();
    for (d, direction, reason) in [
        (rejected, "approved_rejection", "known-client"),
        (approved_one, "blocked_approval", "fraud-suspected"),
    ] {
        if let Some(d) = d {
            overrides.push(
                json!({"order_id": d.order_id, "occurred_at": Utc::now().to_rfc3339(),
                "kind": "override", "direction": direction, "reason_code": reason}),
            );
        }
    }
    let response = gateway
        .http
        .post(gateway.url("/v1/outcomes"))
        .bearer_auth(&token)
        .json(&json!({ "reports": overrides }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let overrides_of = |token: String| async move {
        let response = gateway
            .http
            .get(gateway.url("/v1/outcomes/overrides"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.expect("json")
    };
    let report = overrides_of(token.clone()).await;
    assert_eq!(report["decisions"], 36, "{report}");
    assert_eq!(report["overridden"], overrides.len(), "{report}");
    assert_eq!(report["mismatched"], 0);
    let directions = report["directions"].as_array().expect("directions");
    assert_eq!(directions[0]["eligible"], 36 - approved, "{report}");
    assert_eq!(directions[1]["eligible"], approved, "{report}");
    for (direction, d, reason) in [
        (&directions[0], rejected, "known-client"),
        (&directions[1], approved_one, "fraud-suspected"),
    ] {
        let Some(d) = d else {
            assert_eq!(direction["overrides"], 0);
            continue;
        };
        assert_eq!(direction["overrides"], 1, "{direction}");
        assert_eq!(
            direction["reasons"],
            json!([{"reason_code": reason, "overrides": 1}])
        );
        // Its repayment: the written-off correction, a default, or paid on time.
        let kind = if d.order_id == good.order_id {
            "written_off"
        } else if d.bad == Some(true) {
            "defaulted"
        } else {
            "paid_on_time"
        };
        assert_eq!(direction["repayment"][kind], 1, "{direction}");
    }
    assert!(
        rejected.is_some() || approved_one.is_some(),
        "some decision of each kind: {report}"
    );
    assert_eq!(overrides_of(other.clone()).await["decisions"], 0);

    // Another company sees nothing of it.
    let (status, theirs) = get(gateway, &other, "").await;
    assert_eq!(status, 200);
    assert_eq!(theirs["versions"], json!([]));
    let (status, _) = get(gateway, &other, "?model_version=1").await;
    assert_eq!(status, 404);
}
