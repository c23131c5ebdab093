//! A headless Chromium driven over the W3C WebDriver protocol by Debian's
//! chromedriver (scripts/test.sh installs both), with plain HTTP calls:
//! no Selenium, nothing but reqwest.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::free_port;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver session of its own chromedriver.
pub struct Driver {
    child: Child,
    http: reqwest::Client,
    base: String,
    session: String,
}

impl Driver {
    pub async fn start(profile: &Path) -> Self {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/test.sh installs chromium-driver)");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium(), "args": args},
            }}}))
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session answer");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("a session: {answer}"))
            .to_owned();
        Self {
            child,
            http,
            base,
            session,
        }
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("webdriver JSON");
        answer["value"].clone()
    }

    pub async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn run(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Polls `script` until it returns something truthy (at most 30 s).
    pub async fn wait_for(&self, what: &str, script: &str) -> Value {
        for _ in 0..300 {
            let v = self.run(script).await;
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // What the page said went wrong, if anything.
        let errors = self
            .run("return [...document.querySelectorAll('.error')].map((e) => e.textContent).join(' | ');")
            .await;
        panic!("timed out waiting for {what} (errors shown: {errors})");
    }

    pub async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {found}"))
            .to_owned()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn screenshot(&self, name: &str) {
        let png = self
            .call(reqwest::Method::GET, "/screenshot", None)
            .await
            .as_str()
            .map(|b| base64::engine::general_purpose::STANDARD.decode(b))
            .expect("a screenshot")
            .expect("base64");
        let dir = screenshots();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Opens the console at `base` and logs in as `admin`.
    pub async fn log_in(&self, base: &str, password: &str) {
        self.go(&format!("{base}/#/login")).await;
        self.wait_for(
            "the login form",
            "return !!document.querySelector('#login');",
        )
        .await;
        self.type_into("#username", "admin").await;
        self.type_into("#password", password).await;
        self.click("#login button[type=submit]").await;
        self.wait_for(
            "the overview after login",
            "return window.oxmon.ready && location.hash === '#/';",
        )
        .await;
    }

    /// Loads `hash` of the console at `base` afresh (the session's token
    /// kept) and waits until the page has drawn and `css` is in it.
    pub async fn page(&self, base: &str, hash: &str, css: &str) {
        // A fresh document: going to the address shown changes nothing.
        self.go("about:blank").await;
        self.go(&format!("{base}/{hash}")).await;
        self.wait_for(
            hash,
            &format!("return window.oxmon.ready && !!document.querySelector('{css}');"),
        )
        .await;
    }

    /// Waits until the page shown has drawn and `css` is in it.
    pub async fn present(&self, css: &str) {
        self.wait_for(
            css,
            &format!("return window.oxmon.ready && !!document.querySelector('{css}');"),
        )
        .await;
    }

    /// The text of the first element matching `css` ("" when none).
    pub async fn text(&self, css: &str) -> String {
        self.run(&format!(
            "const e = document.querySelector('{css}'); return e ? e.textContent : '';"
        ))
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Waits until the text of `css` contains `needle`; that text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let script = format!(
            "const e = document.querySelector('{css}'); \
             return e && e.textContent.includes({needle:?}) && e.textContent;"
        );
        self.wait_for(&format!("{needle:?} in {css}"), &script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn quit(mut self) {
        self.call(reqwest::Method::DELETE, "", None).await;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("/usr/bin/chromium")
}

pub fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots")
}

/// Whether the browser tests are to run (`OXMON_BROWSER_TESTS=0` skips
/// them where no Chromium can be installed).
pub fn enabled() -> bool {
    std::env::var("OXMON_BROWSER_TESTS").as_deref() != Ok("0")
}
