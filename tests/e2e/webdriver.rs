//! A small W3C WebDriver client (the calls the console test needs) over the HTTP client the
//! tests already use, driving Debian's headless Chromium through its chromedriver, which it
//! starts on a free port and stops when dropped.

use crate::common;
use crate::processes::free_address;
use base64::Engine as _;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key W3C WebDriver names a found element by.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session; the browser and its driver end when this is dropped.
#[derive(Debug)]
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    driver: Child,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
}

impl Browser {
    /// Starts chromedriver (`CHROMEDRIVER` from `.stack.env`, which `scripts/stack up`
    /// installs) and a headless Chromium whose preferred languages are `languages` (as the
    /// browser's `Accept-Language` and `navigator.languages`), in a `width`×`height` window.
    pub async fn start(languages: &str, width: u32, height: u32) -> Self {
        let executable = common::stack_setting("CHROMEDRIVER");
        let address = free_address();
        let port = address.rsplit(':').next().expect("port").to_owned();
        let driver = Command::new(&executable)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {executable}: {e}"));
        let http = reqwest::Client::new();
        let base = format!("http://{address}");
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(
                started.elapsed() < common::DEADLINE,
                "chromedriver at {base} never became ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "args": [
                    "--headless=new",
                    // Tests run as root in CI, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    format!("--window-size={width},{height}"),
                    format!("--lang={}", languages.split(',').next().unwrap_or("en")),
                ],
                "prefs": {"intl.accept_languages": languages},
            },
        }}});
        let mut browser = Self {
            http,
            session: String::new(),
            driver,
        };
        let created = browser
            .call("POST", &format!("{base}/session"), capabilities)
            .await;
        let id = created["sessionId"].as_str().expect("a session id");
        browser.session = format!("{base}/session/{id}");
        browser
    }

    async fn call(&self, method: &str, url: &str, body: Value) -> Value {
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status();
        let reply: Value = response.json().await.expect("WebDriver answers JSON");
        assert!(
            status.is_success(),
            "{method} {url} {body}: {status} {reply}"
        );
        reply["value"].clone()
    }

    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(method, &format!("{}{path}", self.session), body)
            .await
    }

    pub async fn goto(&self, url: &str) {
        self.command("POST", "/url", json!({"url": url})).await;
    }

    /// Loads the current page again, as a new document.
    pub async fn refresh(&self) {
        self.command("POST", "/refresh", json!({})).await;
    }

    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.command(
            "POST",
            "/window/rect",
            json!({"width": width, "height": height}),
        )
        .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns
    /// what it returns.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// The elements matching `css` now, in document order.
    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self
            .command(
                "POST",
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found
            .as_array()
            .expect("a list")
            .iter()
            .map(|e| Element {
                browser: self,
                id: e[ELEMENT_KEY].as_str().expect("an element id").to_owned(),
            })
            .collect()
    }

    /// The first element matching `css`, waiting for it up to `within`.
    pub async fn wait_for(&self, css: &str, within: Duration) -> Element<'_> {
        let started = Instant::now();
        loop {
            if let Some(element) = self.find_all(css).await.into_iter().next() {
                return element;
            }
            if started.elapsed() > within {
                let page = self
                    .execute("return document.body.innerText.slice(0, 2000);", json!([]))
                    .await;
                panic!("no element {css} within {within:?}; the page says:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Picks the option `value` of the `<select>` matching `css`, as a person would: the page
    /// hears a `change` event.
    pub async fn choose(&self, css: &str, value: &str) {
        let select = self.wait_for(css, crate::common::DEADLINE).await;
        self.execute(
            "const s = arguments[0]; s.value = arguments[1]; \
             s.dispatchEvent(new Event('change', {bubbles: true}));",
            json!([{ELEMENT_KEY: select.id}, value]),
        )
        .await;
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command("GET", "/screenshot", json!({})).await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 text"))
            .expect("a PNG in base64")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Killing chromedriver ends the browser it started.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Element<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/element/{}{rest}", self.id)
    }

    pub async fn click(&self) {
        self.browser
            .command("POST", &self.path("/click"), json!({}))
            .await;
    }

    /// Types `text` (for a file input: the path of the file to choose).
    pub async fn send_keys(&self, text: &str) {
        self.browser
            .command("POST", &self.path("/value"), json!({"text": text}))
            .await;
    }

    pub async fn clear(&self) {
        self.browser
            .command("POST", &self.path("/clear"), json!({}))
            .await;
    }

    /// The rendered text.
    pub async fn text(&self) -> String {
        let text = self
            .browser
            .command("GET", &self.path("/text"), json!({}))
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// The attribute's value, `None` when absent.
    pub async fn attribute(&self, name: &str) -> Option<String> {
        let value = self
            .browser
            .command("GET", &self.path(&format!("/attribute/{name}")), json!({}))
            .await;
        value.as_str().map(str::to_owned)
    }
}
