//! Decisions against the real stack. One company's model is trained once per test and then
//! asked over Kafka and HTTP, because training is what takes time.

use crate::common::{self, DEADLINE, Gateway};
use crate::decisions_support::{
    Decisions, E2E_REPLY_PARTITION, check_against_the_model, dead_reason, decisions_until, order,
    order_json, post_decision, request,
};
use crate::ingest_support::{Dataset, complete, create_dataset, upload_all};
use crate::training::{post, wait_versions};
use aval_topics::records::{DecisionOutcomeWire, DecisionRecord, OrderWire, ReplyStatusWire};
use aval_topics::{TopicRole, keys};
use rdkafka::Message;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scorer_decides_over_kafka_with_additive_reasons_idempotently_per_tenant() {
    let pipeline = Decisions::start().await;
    let (company, token) = pipeline.trained_company().await;

    // A very large order (4 times the limit) of a customer with PEFIN records: rejected.
    let risky = order("NEW-1", "C00004", 20_000_000);
    let sent = request(&company, risky.clone(), None);
    let started = Instant::now();
    pipeline.request_over_kafka(&token, &sent).await;
    let (reply, routed) = pipeline.reply(&sent.request_id).await;
    println!(
        "kafka round trip (incl. test consumer start): {:?}",
        started.elapsed()
    );
    assert_eq!(reply.status, ReplyStatusWire::Decided, "{reply:?}");
    assert_eq!(
        routed.instance.as_deref(),
        Some(b"e2e".as_slice()),
        "the instance header is copied"
    );
    assert_eq!(
        routed.partition, E2E_REPLY_PARTITION,
        "the reply goes to the partition the request names"
    );
    let decision = reply.decision.expect("decision");
    println!(
        "decision: {:?} p={} threshold={} reasons={:?} timings={:?}",
        decision.decision,
        decision.probability,
        decision.threshold,
        decision
            .reasons
            .iter()
            .map(|r| (&r.feature, &r.value, r.contribution))
            .collect::<Vec<_>>(),
        decision.timings_us
    );
    assert_eq!(decision.model_version, 1);
    assert_eq!(decision.order_id, "NEW-1");
    assert!(!decision.repeat);
    assert!(decision.reasons.iter().all(|r| !r.sentence.is_empty()));
    check_against_the_model(&company, 1, &risky, &decision).await;
    assert_eq!(
        decision.decision,
        DecisionOutcomeWire::Rejected,
        "{decision:?}"
    );
    // Checked at the edge (approved there, rejected a cent above) by check_against_the_model.
    let max = decision
        .max_approvable_amount_cents
        .expect("a smaller amount passes");
    assert!(max > 0 && max < risky.amount_cents);
    let on_topic = pipeline.decision_on_topic(&sent.request_id, false).await;
    assert_eq!(
        on_topic, decision,
        "the decisions topic carries the same decision"
    );

    // The same order again: the first decision, marked as a repeat.
    let again = request(&company, risky.clone(), None);
    pipeline.request_over_kafka(&token, &again).await;
    let (reply, _) = pipeline.reply(&again.request_id).await;
    let repeated = reply.decision.expect("decision");
    assert!(repeated.repeat);
    assert_eq!(repeated.request_id, decision.request_id);
    assert_eq!(repeated.probability, decision.probability);

    // Invalid order: field errors with paths.
    let mut bad = request(&company, order("BAD-1", "C00004", -5), None);
    bad.credit_limit = Some(aval_topics::records::CreditLimitWire {
        customer_id: "C99999".into(),
        limit_cents: 100,
        valid_from: 19_000,
    });
    pipeline.request_over_kafka(&token, &bad).await;
    let (reply, _) = pipeline.reply(&bad.request_id).await;
    assert_eq!(reply.status, ReplyStatusWire::Invalid, "{reply:?}");
    let fields: Vec<&str> = reply.errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"order.amount"), "{fields:?}");
    assert!(fields.contains(&"credit_limit.customer_id"), "{fields:?}");

    // Another company: no model of its own, and company 1's versions are not its versions.
    let (other, other_token) = pipeline.gateway().register().await;
    for version in [None, Some(1)] {
        let asked = request(&other, order("NEW-1", "C00004", 4_000_000), version);
        pipeline.request_over_kafka(&other_token, &asked).await;
        let (reply, _) = pipeline.reply(&asked.request_id).await;
        assert_eq!(reply.status, ReplyStatusWire::NoModel, "{reply:?}");
        assert!(reply.decision.is_none());
    }

    // A record claiming company 1 with company 2's token is dead-lettered, never decided.
    let forged = request(&company, order("NEW-2", "C00004", 100), None);
    pipeline.request_over_kafka(&other_token, &forged).await;
    let dead = common::consumer_from_start(
        &pipeline
            .pipeline
            .catalogue
            .topic(TopicRole::DeadLetters)
            .name,
    );
    let message = tokio::time::timeout(DEADLINE, dead.recv())
        .await
        .expect("dead letter")
        .expect("consume");
    // A dead letter keeps the key it was sent with.
    assert_eq!(
        message.key(),
        Some(keys::spread_key(&company, "C00004").as_bytes())
    );
    assert!(dead_reason(&message).contains("not the token's company"));
    // Bytes that are no decision request, with a valid token: dead-lettered as undecodable.
    pipeline.produce_raw(&token, &company, b"not avro").await;
    let message = tokio::time::timeout(DEADLINE, dead.recv())
        .await
        .expect("dead letter")
        .expect("consume");
    assert!(
        dead_reason(&message).starts_with("undecodable"),
        "{}",
        dead_reason(&message)
    );

    // Retrain, activate version 2: the next decision uses it, no restart; back to 1 likewise.
    let (status, body) = post(pipeline.gateway(), &token, "/v1/models/retrain", json!({})).await;
    assert_eq!(status, 202, "{body}");
    wait_versions(pipeline.gateway(), &token, 2).await;
    // Requests keep flowing over HTTP while versions switch: none may fail.
    let flowing = CancellationToken::new();
    let traffic = {
        let (gateway, token, flowing) =
            (pipeline.gateway().clone(), token.clone(), flowing.clone());
        tokio::spawn(async move {
            let mut answers: Vec<(u16, serde_json::Value)> = Vec::new();
            while !flowing.is_cancelled() {
                let fresh = order(&format!("FLOW-{}", Uuid::new_v4()), "C00004", 100_000);
                answers.push(
                    post_decision(
                        &gateway,
                        &token,
                        "/v1/decisions",
                        json!({"order": order_json(&fresh)}),
                        "en",
                    )
                    .await,
                );
            }
            answers
        })
    };
    for (version, n) in [(2, 3), (1, 4), (2, 5)] {
        let (status, body) = post(
            pipeline.gateway(),
            &token,
            &format!("/v1/models/{version}/activate"),
            json!({}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let deadline = Instant::now() + DEADLINE;
        loop {
            let asked = request(
                &company,
                order(&format!("NEW-{n}-{}", Uuid::new_v4()), "C00004", 100_000),
                None,
            );
            pipeline.request_over_kafka(&token, &asked).await;
            let (reply, _) = pipeline.reply(&asked.request_id).await;
            let decided = reply.decision.expect("decision");
            if decided.model_version == version {
                break;
            }
            assert!(Instant::now() < deadline, "version {version} never decided");
        }
    }
    // A named older version decides a test order without becoming the active one.
    let tested = request(&company, order("OLD-1", "C00004", 100_000), Some(1));
    pipeline.request_over_kafka(&token, &tested).await;
    let (reply, _) = pipeline.reply(&tested.request_id).await;
    assert_eq!(reply.decision.expect("decision").model_version, 1);
    flowing.cancel();
    let answers = traffic.await.expect("traffic");
    assert!(!answers.is_empty());
    for (status, body) in &answers {
        assert_eq!(*status, 200, "a request failed during a switch: {body}");
        assert!(
            matches!(body["model_version"].as_i64(), Some(1 | 2)),
            "{body}"
        );
    }
    println!(
        "{} HTTP decisions during three activations, none failed",
        answers.len()
    );
    pipeline.pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_mixed_requests_gives_each_its_own_outcome() {
    // Produced before the scorer starts, so it takes them in one or a few large batches:
    // repeats, refusals and errors must not leak into their neighbours.
    let pipeline = Decisions::without_scorer().await;
    let (company, token) = pipeline.trained_company().await;
    let (other, other_token) = pipeline.gateway().register().await;
    let company_id: Uuid = company.parse().expect("uuid");
    let revoked = common::keys()
        .issue(company_id, chrono::Utc::now())
        .expect("issue");
    let (_, revoked_jti) = common::keys().verify(&revoked.token).expect("verify");
    common::store()
        .await
        .revoke_token(company_id, revoked_jti, "test", chrono::Utc::now())
        .await
        .expect("revoke");

    let duplicates: Vec<_> = (0..3)
        .map(|_| request(&company, order("DUP-1", "C00004", 300_000), None))
        .collect();
    let invalid = request(&company, order("BAD-1", "C00004", -5), None);
    let by_revoked = request(&company, order("REV-1", "C00004", 100_000), None);
    let forged = request(&company, order("FORGED-1", "C00004", 100_000), None);
    let distinct: Vec<_> = (0..40)
        .map(|i| {
            let customer = format!("C{:05}", i % 20);
            request(
                &company,
                order(&format!("MANY-{i}"), &customer, 50_000 + i * 10_000),
                None,
            )
        })
        .collect();
    // The same order id with another amount, in the same batch as its first decision.
    let conflicting = request(&company, order("DUP-1", "C00004", 300_001), None);
    let no_model = request(&other, order("DUP-1", "C00004", 300_000), None);
    for sent in &duplicates {
        pipeline.request_over_kafka(&token, sent).await;
    }
    pipeline.request_over_kafka(&token, &conflicting).await;
    pipeline.request_over_kafka(&token, &invalid).await;
    pipeline
        .request_over_kafka(&revoked.token, &by_revoked)
        .await;
    pipeline.request_over_kafka(&other_token, &forged).await;
    for sent in &distinct {
        pipeline.request_over_kafka(&token, sent).await;
    }
    pipeline.request_over_kafka(&other_token, &no_model).await;
    pipeline.start_scorer().await;

    let mut expected: Vec<String> = duplicates.iter().map(|r| r.request_id.clone()).collect();
    expected.extend(distinct.iter().map(|r| r.request_id.clone()));
    expected.push(invalid.request_id.clone());
    expected.push(no_model.request_id.clone());
    expected.push(conflicting.request_id.clone());
    let replies = pipeline.replies(&expected).await;

    let first = replies[&duplicates[0].request_id]
        .decision
        .clone()
        .expect("the first request for DUP-1 is decided");
    assert!(!first.repeat);
    assert_eq!(first.request_id, duplicates[0].request_id);
    for later in &duplicates[1..] {
        let repeat = replies[&later.request_id]
            .decision
            .clone()
            .expect("a repeat carries the first decision");
        assert!(repeat.repeat, "{repeat:?}");
        assert_eq!(repeat.request_id, first.request_id);
        assert_eq!(repeat.probability, first.probability);
    }
    let conflict = &replies[&conflicting.request_id];
    assert_eq!(conflict.status, ReplyStatusWire::Conflict, "{conflict:?}");
    assert_eq!(
        conflict.decision.as_ref().map(|d| d.request_id.as_str()),
        Some(first.request_id.as_str()),
        "the conflict names the first decision"
    );
    for sent in &distinct {
        let reply = &replies[&sent.request_id];
        assert_eq!(reply.status, ReplyStatusWire::Decided, "{reply:?}");
        let decision = reply.decision.as_ref().expect("decision");
        assert_eq!(decision.order_id, sent.order.id);
        assert!(!decision.repeat);
        assert_eq!(decision.model_version, 1);
        assert!(!decision.reasons.is_empty());
    }
    let spot = &distinct[7];
    let decision = replies[&spot.request_id]
        .decision
        .clone()
        .expect("decision");
    check_against_the_model(&company, 1, &spot.order, &decision).await;
    assert_eq!(
        replies[&invalid.request_id].status,
        ReplyStatusWire::Invalid
    );
    assert_eq!(
        replies[&no_model.request_id].status,
        ReplyStatusWire::NoModel,
        "another company's request never uses this company's model"
    );
    assert!(!replies.contains_key(&by_revoked.request_id));
    assert!(!replies.contains_key(&forged.request_id));

    let dead = common::consumer_from_start(
        &pipeline
            .pipeline
            .catalogue
            .topic(TopicRole::DeadLetters)
            .name,
    );
    let mut reasons = Vec::new();
    while reasons.len() < 2 {
        let message = tokio::time::timeout(DEADLINE, dead.recv())
            .await
            .expect("two dead letters")
            .expect("consume");
        reasons.push(dead_reason(&message));
    }
    reasons.sort();
    assert!(
        reasons[0].contains("not the token's company"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("revoked"), "{reasons:?}");

    let recorded = common::store()
        .await
        .first_decisions(&[
            (company_id, "DUP-1".to_owned()),
            (company_id, "REV-1".to_owned()),
            (company_id, "FORGED-1".to_owned()),
        ])
        .await
        .expect("db");
    assert_eq!(recorded.len(), 1, "only DUP-1 is recorded: {recorded:?}");
    assert_eq!(
        recorded[&(company_id, "DUP-1".to_owned())].decision["request_id"],
        first.request_id.as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_replaces_the_facts_the_scorer_keeps_in_memory() {
    let pipeline = Decisions::start().await;
    let (company, token) = pipeline.trained_company().await;
    // C00003 has no PEFIN records: its facts are read once and then kept by the scorer. All
    // orders carry the same time, so the same facts give the same probability.
    let issued_at = chrono::Utc::now().timestamp_millis() - 60_000;
    let same_time = |id: &str| {
        let mut o = order(id, "C00003", 400_000);
        o.issued_at = issued_at;
        o
    };
    let first = request(&company, same_time("CACHED-1"), None);
    let before = pipeline.decide(&token, &first).await;
    let again = request(&company, same_time("CACHED-2"), None);
    let cached = pipeline.decide(&token, &again).await;
    assert_eq!(cached.probability, before.probability);

    // A new dataset: a fresh bureau report with many PEFIN records for C00003, and two orders
    // of another customer so that it passes its checks (only checked datasets decide).
    let mut upload = Dataset::new(4, 0);
    upload.credit_limits.clear();
    upload.bureau_reports.truncate(4);
    let queried_at = (chrono::Utc::now() - chrono::Duration::minutes(5))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    upload.bureau_reports[3]["queried_at"] = json!(queried_at);
    upload.bureau_reports[3]["negatives"] = json!({"pefin": {"count": 9, "total": "90000.00"}});
    for (n, outcome) in ["approved", "blocked"].into_iter().enumerate() {
        upload.orders.push(json!({
            "id": format!("CACHE-UPLOAD-{n}"), "customer_id": "C00000",
            "issued_at": "2025-02-01T12:00:00Z", "amount": "1000.00", "outcome": outcome
        }));
    }
    let dataset = create_dataset(pipeline.gateway(), &token).await;
    upload_all(pipeline.gateway(), &token, &dataset, &upload, 500).await;
    assert_eq!(
        complete(pipeline.gateway(), &token, &dataset, &upload.counts())
            .await
            .0,
        202
    );

    // The scorer hears that the dataset is ready and reads the customer again: within the deadline
    // a decision of the same order uses the new report, as a recomputation from the database
    // confirms.
    let deadline = Instant::now() + DEADLINE;
    let (sent, after) = loop {
        let asked = request(
            &company,
            same_time(&format!("CACHED-{}", Uuid::new_v4())),
            None,
        );
        let decided = pipeline.decide(&token, &asked).await;
        if decided.probability != before.probability {
            break (asked, decided);
        }
        assert!(
            Instant::now() < deadline,
            "the scorer kept the facts from before the upload"
        );
    };
    check_against_the_model(&company, 1, &sent.order, &after).await;
    assert!(after.probability > before.probability, "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_decisions_match_kafka_with_repeats_problems_batches_and_two_gateways() {
    let pipeline = Decisions::start().await;
    let (company, token) = pipeline.trained_company().await;
    let gateway = pipeline.gateway();

    // Over HTTP, in Portuguese.
    let risky = order("H-1", "C00004", 4_000_000);
    let (status, decided) = post_decision(
        gateway,
        &token,
        "/v1/decisions",
        json!({"order": order_json(&risky)}),
        "pt-BR,pt;q=0.9",
    )
    .await;
    assert_eq!(status, 200, "{decided}");
    for field in [
        "decision",
        "probability",
        "threshold",
        "model_version",
        "reasons",
        "max_approvable_amount",
        "repeat",
        "timings_us",
    ] {
        assert!(decided.get(field).is_some(), "{field} missing: {decided}");
    }
    assert_eq!(decided["repeat"], false);
    assert_eq!(decided["model_version"], 1);
    let reasons = decided["reasons"].as_array().expect("reasons");
    assert!(!reasons.is_empty() && reasons.len() <= 5);
    assert!(
        reasons
            .iter()
            .all(|r| r["sentence"].as_str().is_some_and(|s| s.contains("risco"))),
        "{reasons:?}"
    );

    // The same order content straight over Kafka (another id, so it is not a repeat): the
    // same decision, read from the decisions topic.
    let mut twin = risky.clone();
    twin.id = "K-1".into();
    let sent = request(&company, twin, None);
    pipeline.request_over_kafka(&token, &sent).await;
    let over_kafka = pipeline.decision_on_topic(&sent.request_id, false).await;
    assert_eq!(over_kafka.decision.as_str(), decided["decision"]);
    assert!((over_kafka.probability - decided["probability"].as_f64().expect("p")).abs() < 1e-12);
    let kafka_reasons: Vec<&str> = over_kafka
        .reasons
        .iter()
        .map(|r| r.feature.as_str())
        .collect();
    let http_reasons: Vec<&str> = reasons
        .iter()
        .filter_map(|r| r["feature"].as_str())
        .collect();
    assert_eq!(kafka_reasons, http_reasons);

    // Repeat: the first decision, marked.
    let (status, again) = post_decision(
        gateway,
        &token,
        "/v1/decisions",
        json!({"order": order_json(&risky)}),
        "en",
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["repeat"], true);
    assert_eq!(again["probability"], decided["probability"]);
    assert_eq!(again["request_id"], decided["request_id"]);
    // The same order straight over Kafka is the same order: a repeat there too.
    let same = request(&company, risky.clone(), None);
    pipeline.request_over_kafka(&token, &same).await;
    let (reply, _) = pipeline.reply(&same.request_id).await;
    assert_eq!(reply.status, ReplyStatusWire::Decided, "{reply:?}");
    let repeat = reply.decision.expect("the first decision");
    assert!(repeat.repeat);
    assert_eq!(
        repeat.request_id,
        decided["request_id"].as_str().expect("id")
    );
    // Another amount under the decided order id: 409 naming the first decision, over HTTP
    // and over Kafka.
    let mut changed = risky.clone();
    changed.amount_cents += 100;
    let (status, problem) = post_decision(
        gateway,
        &token,
        "/v1/decisions",
        json!({"order": order_json(&changed)}),
        "en",
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/order-conflict", "{problem}");
    assert_eq!(
        problem["first_decision"]["request_id"],
        decided["request_id"]
    );
    assert_eq!(
        problem["first_decision"]["decided_at"],
        decided["decided_at"]
    );
    assert_eq!(problem["first_decision"]["decision"], decided["decision"]);
    assert!(
        problem["detail"]
            .as_str()
            .zip(decided["request_id"].as_str())
            .is_some_and(|(detail, id)| detail.contains(id)),
        "{problem}"
    );
    let mut later = risky.clone();
    later.issued_at += 1_000;
    let conflicting = request(&company, later, None);
    pipeline.request_over_kafka(&token, &conflicting).await;
    let (reply, _) = pipeline.reply(&conflicting.request_id).await;
    assert_eq!(reply.status, ReplyStatusWire::Conflict, "{reply:?}");

    // Latency of fresh decisions through the gateway (debug build, same machine).
    let mut latencies = Vec::new();
    for n in 0..30 {
        let started = Instant::now();
        let (status, body) = post_decision(
            gateway,
            &token,
            "/v1/decisions",
            json!({"order": order_json(&order(&format!("L-{n}"), "C00007", 150_000))}),
            "en",
        )
        .await;
        latencies.push(started.elapsed());
        assert_eq!(status, 200, "{body}");
    }
    latencies.sort();
    println!(
        "HTTP decision latency over 30 sequential requests: p50 {:?}, p90 {:?}, max {:?}",
        latencies[15], latencies[27], latencies[29]
    );

    // Problems: invalid (422 with paths), no model (409), too many (413).
    let (status, problem) = post_decision(
        gateway,
        &token,
        "/v1/decisions",
        json!({"order": {"id": "X", "customer_id": "C00004", "amount": "-1"}}),
        "en",
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(fields.iter().any(|f| f.starts_with("order.")), "{fields:?}");
    let (_, other_token) = gateway.register().await;
    let (status, problem) = post_decision(
        gateway,
        &other_token,
        "/v1/decisions",
        json!({"order": order_json(&risky)}),
        "en",
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no active model")),
        "{problem}"
    );
    let too_many: Vec<_> = (0..501)
        .map(|n| order_json(&order(&format!("B-{n}"), "C00001", 100)))
        .collect();
    let (status, problem) = post_decision(
        gateway,
        &token,
        "/v1/decisions/batch",
        json!({"orders": too_many}),
        "en",
    )
    .await;
    assert_eq!(status, 413, "{problem}");

    // A batch: answered together, in order.
    let batch: Vec<_> = (0..3)
        .map(|n| order_json(&order(&format!("B-{n}"), "C00002", 100_000)))
        .collect();
    let (status, answered) = post_decision(
        gateway,
        &token,
        "/v1/decisions/batch",
        json!({"orders": batch}),
        "en",
    )
    .await;
    assert_eq!(status, 200, "{answered}");
    let decisions = answered["decisions"].as_array().expect("decisions");
    assert_eq!(decisions.len(), 3);
    for (n, d) in decisions.iter().enumerate() {
        assert_eq!(d["status"], 200, "{d}");
        assert_eq!(d["decision"]["order_id"], format!("B-{n}"));
    }

    // Two gateways at once on the same topics: each gets its own replies.
    let mut state = common::app_state(&common::stack().schema_registry_url).await;
    state.catalogue = pipeline.pipeline.catalogue.clone();
    let second = Gateway::start_with(state).await;
    let asks = (0..10).map(|n| {
        let (gateway, token) = (
            if n % 2 == 0 {
                gateway.clone()
            } else {
                second.clone()
            },
            token.clone(),
        );
        async move {
            post_decision(
                &gateway,
                &token,
                "/v1/decisions",
                json!({"order": order_json(&order(&format!("G-{n}"), "C00005", 100_000))}),
                "en",
            )
            .await
        }
    });
    for (n, (status, body)) in futures::future::join_all(asks)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["order_id"], format!("G-{n}"));
    }
    pipeline.pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_scorer_the_gateway_answers_504_with_a_clear_body() {
    // The shared test topics have no scorer; a short deadline keeps the test quick.
    let mut state = common::app_state(&common::stack().schema_registry_url).await;
    state.replies = Arc::new(aval_gateway::replies::ReplyRouter::new(
        &common::stack().kafka(),
        state.store.clone(),
        common::codec(),
        "aval-e2e-",
        Uuid::new_v4().to_string(),
        Duration::from_millis(500),
    ));
    let gateway = Gateway::start_with(state).await;
    let (_, token) = gateway.register().await;
    let (status, problem) = post_decision(
        &gateway,
        &token,
        "/v1/decisions",
        json!({"order": order_json(&order("T-1", "C1", 100))}),
        "en",
    )
    .await;
    assert_eq!(status, 504, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no decision for order T-1")),
        "{problem}"
    );
}

/// The scorer records decisions on a connection it keeps out of the pool. When the database
/// drops that connection, the statement that finds it dead gives it up (the scorer retries a
/// failed batch), and the next one records on a fresh connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_are_recorded_again_after_the_database_drops_the_writer_s_connection() {
    let name = format!("e2e-writer-{}", Uuid::new_v4().simple());
    let url = common::stack().database_url.clone();
    let url = format!(
        "{url}{}application_name={name}",
        if url.contains('?') { '&' } else { '?' }
    );
    let writer = aval_store::Store::connect(&url, 2)
        .await
        .expect("database reachable");
    let company = Uuid::new_v4();
    let decided_at = chrono::Utc::now();
    let decision = |order_id: &'static str| aval_store::facts::NewDecision {
        company_id: company,
        order_id,
        request_id: order_id,
        decision: r#"{"decision": "approved"}"#,
        decided_at,
        order_fingerprint: &[7; 32],
        customer_id: "C-1",
        outcome: "approved",
        probability: 0.1,
        threshold: 0.5,
        model_version: 1,
        arm: aval_core::experiment::Arm::Champion,
        drift_values: &[],
    };
    writer
        .record_decisions(&[decision("W-1")])
        .await
        .expect("the first decision is recorded");

    let observer = common::store().await;
    let dropped: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&name)
    .fetch_all(observer.pool())
    .await
    .expect("terminate the writer's connections");
    assert!(
        dropped.contains(&true),
        "the writer held no connection: {dropped:?}"
    );

    let second = [decision("W-2")];
    if let Err(e) = writer.record_decisions(&second).await {
        eprintln!("the statement on the dropped connection failed, as it may: {e}");
        writer
            .record_decisions(&second)
            .await
            .expect("recorded on a fresh connection");
    }
    let recorded: Vec<String> = sqlx::query_scalar(
        "SELECT order_id FROM decisions WHERE company_id = $1 ORDER BY order_id",
    )
    .bind(company)
    .fetch_all(observer.pool())
    .await
    .expect("read the decisions");
    assert_eq!(recorded, ["W-1", "W-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_decision_also_goes_to_its_company_s_own_topic_and_nowhere_else() {
    let pipeline = Decisions::start().await;
    let ((company, token), (other, other_token)) =
        tokio::join!(pipeline.trained_company(), pipeline.trained_company());
    let gateway = pipeline.gateway();
    let decide = async |token: &str, order: &OrderWire| {
        let (status, decided) = post_decision(
            gateway,
            token,
            "/v1/decisions",
            json!({"order": order_json(order)}),
            "en",
        )
        .await;
        assert_eq!(status, 200, "{decided}");
        decided["request_id"]
            .as_str()
            .expect("request id")
            .to_owned()
    };
    // One after the other: the other company's decision is on the broker before the
    // company's second one, so reading the company's topic up to that one covers it.
    let (o1, o2) = (
        order("O-1", "C00001", 120_000),
        order("O-2", "C00001", 120_000),
    );
    let first = decide(&token, &o1).await;
    let others = decide(&other_token, &o1).await;
    let second = decide(&token, &o2).await;

    let catalogue = &pipeline.pipeline.catalogue;
    let shared = &catalogue.topic(TopicRole::Decisions).name;
    let own = |company: &str| {
        let id = Uuid::parse_str(company).expect("company id");
        catalogue.company_decisions(id).name
    };
    assert_eq!(own(&company), format!("{shared}.{company}"));
    // The shared topic has several partitions: read until all three are found there.
    let on_shared = decisions_until(shared, &[&first, &others, &second]).await;
    let on_own = decisions_until(&own(&company), &[&second]).await;
    let codec = common::codec();
    let mut seen = Vec::new();
    for (key, value) in &on_own {
        let decision: DecisionRecord = codec.decode(value).await.expect("decode");
        assert_eq!(decision.company_id, company, "another company's decision");
        assert_eq!(key.as_slice(), company.as_bytes());
        // The very record of the shared topic: same key, same bytes (same schema id).
        assert!(
            on_shared.contains(&(key.clone(), value.clone())),
            "{} is not on the shared topic as it is on the company's",
            decision.request_id
        );
        seen.push(decision.request_id);
    }
    assert_eq!(seen, vec![first, second.clone()]);

    let theirs = decisions_until(&own(&other), &[&others]).await;
    assert_eq!(theirs.len(), 1);
    assert!(on_shared.contains(&theirs[0]));

    // A repeat is published again, as on the shared topic.
    let (status, again) = post_decision(
        gateway,
        &token,
        "/v1/decisions",
        json!({"order": order_json(&o2)}),
        "en",
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["repeat"], true);
    let mut repeated = Vec::new();
    let consumer = common::consumer_from_start(&own(&company));
    while repeated.len() < 3 {
        let message = tokio::time::timeout(DEADLINE, consumer.recv())
            .await
            .expect("the repeat in time")
            .expect("consume");
        let decision: DecisionRecord = codec
            .decode(message.payload().expect("value"))
            .await
            .expect("decode");
        repeated.push((decision.request_id, decision.repeat));
    }
    assert_eq!(repeated[2], (second, true));
    pipeline.pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_company_topics_off_only_the_shared_topic_is_written() {
    let pipeline = Decisions::start_with(false).await;
    let (company, token) = pipeline.trained_company().await;
    let (status, decided) = post_decision(
        pipeline.gateway(),
        &token,
        "/v1/decisions",
        json!({"order": order_json(&order("O-1", "C00001", 120_000))}),
        "en",
    )
    .await;
    assert_eq!(status, 200, "{decided}");
    let request_id = decided["request_id"].as_str().expect("request id");
    pipeline.decision_on_topic(request_id, false).await;
    let own = pipeline
        .pipeline
        .catalogue
        .company_decisions(Uuid::parse_str(&company).expect("company id"))
        .name;
    use rdkafka::consumer::Consumer;
    let client: rdkafka::consumer::BaseConsumer = common::stack()
        .kafka()
        .client_config()
        .create()
        .expect("client");
    let metadata = client
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    assert!(
        !metadata.topics().iter().any(|t| t.name() == own),
        "{own} was created with company topics off"
    );
    pipeline.pipeline.stop().await;
}
