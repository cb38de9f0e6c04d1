//! The analyst console in a real headless Chromium, against `aval all` (the gateway serving
//! the console built into the binary, and every processor) on topics of its own: sign in,
//! upload a dataset through the page, read the model's metrics and check them against the
//! API, decide an order through the form and find it in the decisions list and the audit log,
//! switch the language, and look at it on a phone. Each page's screenshot is saved under the
//! test's temporary folder, and into `docs/console/` with `AVAL_WRITE_SCREENSHOTS=1`.

use crate::common::{self, Gateway};
use crate::processes::{Process, free_address};
use crate::training;
use crate::webdriver::Browser;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Uploading, validating and training a small dataset in a debug build on a busy machine.
const TRAINED_WITHIN: Duration = Duration::from_secs(240);
const PAGE_WITHIN: Duration = Duration::from_secs(30);

struct Screenshots {
    dirs: Vec<PathBuf>,
}

impl Screenshots {
    fn new() -> Self {
        let mut dirs = vec![PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console")];
        if std::env::var_os("AVAL_WRITE_SCREENSHOTS").is_some() {
            dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/console"));
        }
        for dir in &dirs {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        Self { dirs }
    }

    /// The whole page: the window is made as tall as the page (up to 4,000 px) for the shot.
    async fn take(&self, browser: &Browser, name: &str) {
        let size = browser
            .execute(
                "return [window.innerWidth, window.outerHeight, \
                 document.documentElement.scrollHeight];",
                json!([]),
            )
            .await;
        let [width, height, page] = [0, 1, 2].map(|i| size[i].as_u64().unwrap_or(800) as u32);
        browser
            .set_window_size(width, page.clamp(height, 4000))
            .await;
        let png = browser.screenshot().await;
        browser.set_window_size(width, height).await;
        assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
        for dir in &self.dirs {
            std::fs::write(dir.join(format!("{name}.png")), &png).expect("write screenshot");
        }
    }
}

async fn api(gateway: &Gateway, token: &str, path: &str) -> Value {
    let (status, body) = training::get(gateway, token, path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// `synth`'s JSON lines written as the CSV the console reads (dotted headers for nested
/// fields), so that the page's CSV path is exercised too.
fn jsonl_to_csv(jsonl: &Path, csv: &Path) {
    fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, v, out);
                }
            }
            Value::String(s) => out.push((prefix.to_owned(), s.clone())),
            Value::Null => {}
            other => out.push((prefix.to_owned(), other.to_string())),
        }
    }
    let rows: Vec<Vec<(String, String)>> = std::fs::read_to_string(jsonl)
        .expect("synth file")
        .lines()
        .map(|line| {
            let mut cells = Vec::new();
            flatten(
                "",
                &serde_json::from_str(line).expect("json line"),
                &mut cells,
            );
            cells
        })
        .collect();
    let mut header: Vec<String> = Vec::new();
    for row in &rows {
        for (key, _) in row {
            if !header.contains(key) {
                header.push(key.clone());
            }
        }
    }
    let quote = |cell: &str| {
        if cell.contains([',', '"', '\n']) {
            format!("\"{}\"", cell.replace('"', "\"\""))
        } else {
            cell.to_owned()
        }
    };
    let mut text = header.join(",") + "\n";
    for row in &rows {
        let cells: Vec<String> = header
            .iter()
            .map(|h| {
                row.iter()
                    .find(|(k, _)| k == h)
                    .map_or(String::new(), |(_, v)| quote(v))
            })
            .collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    std::fs::write(csv, text).expect("write csv");
}

/// Waits until the page `name` has loaded its data.
async fn page_ready(browser: &Browser, name: &str) {
    ready(browser, &format!("[data-page=\"{name}\"]")).await;
}

/// Waits for `main#page` with these attributes to have loaded its data.
async fn ready(browser: &Browser, attributes: &str) {
    browser
        .wait_for(
            &format!("main#page{attributes}[data-ready=\"true\"]"),
            PAGE_WITHIN,
        )
        .await;
}

/// Goes to `route` and waits for that route's page to be ready. The route in the wait keeps
/// the page being replaced from answering it (models/1, then models/2); going to the route
/// the browser is already on changes nothing in a hash-routed page, so that page is loaded
/// again instead.
async fn open(browser: &Browser, base: &str, route: &str, name: &str) {
    let hash = browser.execute("return location.hash;", json!([])).await;
    if hash.as_str() == Some(&format!("#/{route}")) {
        browser.refresh().await;
    } else {
        browser.goto(&format!("{base}/#/{route}")).await;
    }
    ready(
        browser,
        &format!("[data-page=\"{name}\"][data-route=\"/{route}\"]"),
    )
    .await;
}

async fn number(browser: &Browser, css: &str) -> f64 {
    let element = browser.wait_for(css, PAGE_WITHIN).await;
    let value = element.attribute("data-value").await;
    value
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{css} has no numeric data-value: {value:?}"))
}

async fn html_lang(browser: &Browser) -> String {
    let lang = browser
        .execute("return document.documentElement.lang;", json!([]))
        .await;
    lang.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_uploads_sees_the_model_decides_and_looks_back_in_the_browser() {
    let prefix = format!("console-{}.", uuid::Uuid::new_v4().simple());
    let catalogue = aval_topics::Catalogue::new(&prefix, 1);
    let address = free_address();
    let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{prefix}log"));
    let mut all = Process::start(
        "all",
        &catalogue,
        "e2e-console",
        &[("AVAL_HTTP_ADDR", address.clone())],
        Some(log),
    );
    let gateway = Gateway {
        base: format!("http://{address}"),
        http: reqwest::Client::new(),
    };
    let started = Instant::now();
    while !matches!(
        gateway.http.get(gateway.url("/readyz")).send().await,
        Ok(r) if r.status() == 200
    ) {
        assert!(started.elapsed() < common::DEADLINE, "aval all never ready");
        if let Some(exit) = all.exited() {
            panic!("aval all exited early: {exit}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, token) = gateway.register().await;

    let data = std::env::temp_dir().join(format!("aval-e2e-console-{}", uuid::Uuid::new_v4()));
    let options = aval_tools::synth::Options {
        customers: 60,
        orders: 1500,
        seed: 5,
        out: data.clone(),
    };
    aval_tools::synth::run(&options, &mut std::io::sink()).expect("synth");
    jsonl_to_csv(&data.join("customers.jsonl"), &data.join("customers.csv"));
    let first_customer: Value = serde_json::from_str(
        std::fs::read_to_string(data.join("customers.jsonl"))
            .expect("customers")
            .lines()
            .next()
            .expect("a customer"),
    )
    .expect("json");
    let customer_id = first_customer["id"].as_str().expect("id").to_owned();
    let customers: Vec<String> = std::fs::read_to_string(data.join("customers.jsonl"))
        .expect("customers")
        .lines()
        .map(|line| {
            let customer: Value = serde_json::from_str(line).expect("json");
            customer["id"].as_str().expect("id").to_owned()
        })
        .collect();

    let shots = Screenshots::new();
    let browser = Browser::start("pt-BR,pt,en", 1366, 900).await;

    // Sign in: Portuguese first, as the browser prefers it.
    browser.goto(&gateway.url("/")).await;
    let token_input = browser.wait_for("#signin-token", PAGE_WITHIN).await;
    assert_eq!(html_lang(&browser).await, "pt-BR");
    let first_render = browser
        .execute(
            "const p = performance.getEntriesByName('first-contentful-paint')[0]; \
             return p ? p.startTime : null;",
            json!([]),
        )
        .await;
    println!("console: first contentful paint {first_render} ms");
    shots.take(&browser, "sign-in").await;
    browser
        .wait_for("#signin-submit", PAGE_WITHIN)
        .await
        .click()
        .await;
    browser.wait_for("#signin-error", PAGE_WITHIN).await;
    token_input.send_keys(&token).await;
    browser
        .wait_for("#signin-submit", PAGE_WITHIN)
        .await
        .click()
        .await;
    page_ready(&browser, "overview").await;
    let url = browser.execute("return location.href;", json!([])).await;
    assert!(
        !url.as_str().unwrap_or_default().contains(&token),
        "the token is never in a URL: {url}"
    );

    // Upload through the page: customers as CSV, the rest as JSON lines.
    browser
        .wait_for("a[data-nav=\"datasets\"]", PAGE_WITHIN)
        .await
        .click()
        .await;
    page_ready(&browser, "datasets").await;
    for (input, file) in [
        ("#upload-customers", "customers.csv"),
        ("#upload-credit-limits", "credit_limits.jsonl"),
        ("#upload-bureau-reports", "bureau_reports.jsonl"),
        ("#upload-orders", "orders.jsonl"),
    ] {
        let path = data.join(file);
        browser
            .wait_for(input, PAGE_WITHIN)
            .await
            .send_keys(path.to_str().expect("utf8 path"))
            .await;
    }
    browser
        .wait_for("#upload-submit", PAGE_WITHIN)
        .await
        .click()
        .await;
    let done = browser
        .wait_for("#upload-status[data-state=\"done\"]", TRAINED_WITHIN)
        .await;
    let dataset_id = done.attribute("data-dataset-id").await.expect("dataset id");
    let dataset = api(&gateway, &token, &format!("/v1/datasets/{dataset_id}")).await;
    assert_eq!(dataset["status"], "trained", "{dataset}");
    assert_eq!(dataset["counts"]["stored"]["orders"], 1500, "{dataset}");
    assert_eq!(dataset["counts"]["stored"]["customers"], 60, "{dataset}");
    let progress = browser.wait_for("#upload-progress", PAGE_WITHIN).await;
    assert_eq!(
        progress.attribute("value").await,
        progress.attribute("max").await
    );
    shots.take(&browser, "datasets").await;

    // Some decisions over the API, so that the pages have a history to show.
    let orders: Vec<Value> = (0..40)
        .map(|i| {
            json!({"order": {
                "id": format!("api-{i}"),
                "customer_id": customers[i % customers.len()],
                "issued_at": chrono::Utc::now().to_rfc3339(),
                "amount": format!("{}.00", 1500 + i * 900),
            }})
        })
        .collect();
    let batch = gateway
        .http
        .post(gateway.url("/v1/decisions/batch"))
        .bearer_auth(&token)
        .json(&json!({"orders": orders}))
        .send()
        .await
        .expect("request");
    assert_eq!(batch.status(), 200, "{:?}", batch.text().await);

    // The model's page says what the API says.
    let model = api(&gateway, &token, "/v1/models/1").await;
    let holdout = &model["metrics"]["holdout"];
    open(&browser, &gateway.base, "models/1", "model").await;
    for metric in ["roc_auc", "accuracy", "precision", "recall", "ks"] {
        let shown = number(&browser, &format!("[data-metric=\"{metric}\"]")).await;
        let expected = holdout[metric].as_f64().expect("a metric");
        assert!(
            (shown - expected).abs() < 1e-9,
            "{metric}: page {shown}, API {expected}"
        );
    }
    for cell in [
        "approved_predicted_approved",
        "approved_predicted_blocked",
        "blocked_predicted_approved",
        "blocked_predicted_blocked",
    ] {
        let element = browser
            .wait_for(
                &format!("table#confusion td[data-cell=\"{cell}\"]"),
                PAGE_WITHIN,
            )
            .await;
        let count = element.attribute("data-count").await;
        assert_eq!(
            count.as_deref().and_then(|c| c.parse::<u64>().ok()),
            holdout["confusion"][cell].as_u64(),
            "{cell}"
        );
    }
    let threshold = number(&browser, "#threshold").await;
    assert!((threshold - model["threshold"].as_f64().expect("threshold")).abs() < 1e-9);
    for chart in [
        "#chart-roc",
        "#chart-scores",
        "#chart-calibration",
        "#chart-importance",
    ] {
        browser
            .wait_for(
                &format!("{chart} canvas, {chart} .bar, {chart} svg"),
                PAGE_WITHIN,
            )
            .await;
    }
    shots.take(&browser, "model").await;
    // A second version, then the two compared, and the one not active activated, in the page.
    let retrain = gateway
        .http
        .post(gateway.url("/v1/models/retrain"))
        .bearer_auth(&token)
        .json(&json!({"dataset_ids": [dataset_id]}))
        .send()
        .await
        .expect("request");
    assert_eq!(retrain.status(), 202);
    let started = Instant::now();
    let models = loop {
        let models = api(&gateway, &token, "/v1/models").await;
        if models["models"].as_array().is_some_and(|m| m.len() == 2) {
            break models;
        }
        assert!(
            started.elapsed() < TRAINED_WITHIN,
            "no second version: {models}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let active = models["active_version"]
        .as_i64()
        .expect("an active version");
    let other = 3 - active;
    open(&browser, &gateway.base, &format!("models/{other}"), "model").await;
    browser
        .choose("select#compare-with", &active.to_string())
        .await;
    browser
        .wait_for("#comparison[data-ready=\"true\"] table", PAGE_WITHIN)
        .await;
    let compared = browser.find_all("#comparison th[data-version]").await;
    assert_eq!(compared.len(), 2, "both versions side by side");
    browser
        .wait_for("#activate", PAGE_WITHIN)
        .await
        .click()
        .await;
    browser
        .wait_for("dialog#confirm-activate[open]", PAGE_WITHIN)
        .await;
    browser
        .wait_for("#confirm-yes", PAGE_WITHIN)
        .await
        .click()
        .await;
    browser
        .wait_for("#activate-result [data-activated=\"true\"]", PAGE_WITHIN)
        .await;
    let models = api(&gateway, &token, "/v1/models").await;
    assert_eq!(
        models["active_version"], other,
        "activated through the page"
    );
    open(&browser, &gateway.base, "models", "models").await;
    browser
        .wait_for(
            &format!("#models-table tr[data-version=\"{other}\"][data-active=\"true\"]"),
            PAGE_WITHIN,
        )
        .await;
    shots.take(&browser, "models").await;

    // Decide an order through the form.
    open(&browser, &gateway.base, "decide", "decide").await;
    let order_id = format!("console-{}", uuid::Uuid::new_v4().simple());
    for (field, value) in [
        ("#order-id", order_id.as_str()),
        ("#customer-id", customer_id.as_str()),
        ("#amount", "12500"),
        ("#payment-term-days", "30"),
        ("#installments", "1"),
    ] {
        let input = browser.wait_for(field, PAGE_WITHIN).await;
        input.clear().await;
        input.send_keys(value).await;
    }
    browser
        .wait_for("#decide-submit", PAGE_WITHIN)
        .await
        .click()
        .await;
    let decision = browser
        .wait_for("#decision[data-decision]", PAGE_WITHIN)
        .await;
    let shown_decision = decision.attribute("data-decision").await.expect("decision");
    let request_id = browser
        .wait_for("#decision-request-id", PAGE_WITHIN)
        .await
        .text()
        .await;
    let recorded = api(&gateway, &token, &format!("/v1/decisions/{request_id}")).await;
    assert_eq!(recorded["order_id"], order_id.as_str());
    assert_eq!(recorded["decision"], shown_decision.as_str());
    let probability = number(&browser, "#probability").await;
    assert!((probability - recorded["probability"].as_f64().expect("p")).abs() < 1e-9);
    assert!(
        !browser.find_all("#reasons li").await.is_empty(),
        "reasons shown"
    );
    shots.take(&browser, "decide").await;

    // Find it in the decisions list, then in the audit log.
    open(&browser, &gateway.base, "decisions", "decisions").await;
    browser
        .wait_for("#filter-order-id", PAGE_WITHIN)
        .await
        .send_keys(&order_id)
        .await;
    browser
        .wait_for("#filter-apply", PAGE_WITHIN)
        .await
        .click()
        .await;
    browser
        .wait_for(
            &format!("#decisions-table tr[data-request-id=\"{request_id}\"]"),
            PAGE_WITHIN,
        )
        .await;
    assert_eq!(
        browser
            .find_all("#decisions-table tr[data-request-id]")
            .await
            .len(),
        1
    );
    shots.take(&browser, "decisions").await;

    // Monitoring: the active version's drift over the last week, and each version's live
    // measures, as the API reports them.
    open(&browser, &gateway.base, "monitoring", "monitoring").await;
    let drift = api(&gateway, &token, "/v1/monitoring/drift").await;
    assert_eq!(
        number(&browser, "#drift-decisions").await,
        drift["decisions"].as_f64().expect("decisions")
    );
    assert!(drift["decisions"].as_u64() >= Some(1), "{drift}");
    assert_eq!(
        browser
            .find_all("#drift-table tr[data-feature]")
            .await
            .len(),
        drift["features"].as_array().expect("features").len()
    );
    let verdict = browser
        .wait_for("#drift-verdict", PAGE_WITHIN)
        .await
        .attribute("data-retrain")
        .await;
    assert_eq!(
        verdict.as_deref(),
        Some(if drift["retrain_suggested"] == true {
            "true"
        } else {
            "false"
        })
    );
    let performance = api(&gateway, &token, "/v1/monitoring/performance").await;
    let versions = performance["versions"].as_array().expect("versions");
    assert!(!versions.is_empty(), "{performance}");
    for version in versions {
        let css = format!(
            "#performance-table tr[data-version=\"{}\"] td[data-cell=\"decisions\"]",
            version["model_version"]
        );
        assert_eq!(
            number(&browser, &css).await,
            version["decisions"].as_f64().expect("decisions")
        );
    }
    shots.take(&browser, "monitoring").await;

    open(&browser, &gateway.base, "audit", "audit").await;
    let verified = browser
        .wait_for("#audit-verify[data-valid]", PAGE_WITHIN)
        .await;
    assert_eq!(
        verified.attribute("data-valid").await.as_deref(),
        Some("true")
    );
    let audit_text = browser
        .wait_for("#audit-table", PAGE_WITHIN)
        .await
        .text()
        .await;
    assert!(
        audit_text.contains(&order_id),
        "the decision is in the audit log: {audit_text}"
    );
    shots.take(&browser, "audit").await;

    // Switch to English.
    open(&browser, &gateway.base, "overview", "overview").await;
    let nav = browser
        .wait_for("a[data-nav=\"decisions\"]", PAGE_WITHIN)
        .await;
    let portuguese = nav.text().await;
    browser.choose("#language", "en").await;
    page_ready(&browser, "overview").await;
    assert_eq!(html_lang(&browser).await, "en");
    let english = browser
        .wait_for("a[data-nav=\"decisions\"]", PAGE_WITHIN)
        .await
        .text()
        .await;
    assert_ne!(
        portuguese, english,
        "the navigation speaks the new language"
    );
    shots.take(&browser, "overview").await;

    // On a phone: nothing wider than the screen.
    browser.set_window_size(390, 844).await;
    open(&browser, &gateway.base, "overview", "overview").await;
    let overflow = browser
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            json!([]),
        )
        .await;
    assert!(
        overflow.as_i64().unwrap_or(i64::MAX) <= 0,
        "wider than the phone by {overflow} px"
    );
    shots.take(&browser, "overview-phone").await;

    drop(browser);
    all.terminate(Duration::from_secs(30)).await;
    common::delete_topics(&catalogue).await;
    let _ = std::fs::remove_dir_all(&data);
}
