//! chromedriver and the browser it starts (a process group of their own, killed on drop), and the
//! ways the walk-through looks at the page: waiting (bounded by `STEP`) for an element that is
//! shown, clicking it, XPath class predicates.

use std::future::Future;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use super::{CHROMEDRIVER, CHROMIUM, HEIGHT, POLL, STEP, WIDTH};
use crate::support::free_port;

/// What one look at the page found.
pub(super) enum Step<T> {
    Done(T),
    Wait,
    Fail(String),
}

/// Looks until `attempt` is done, fails, or `STEP` has passed; WebDriver errors (an element
/// replaced while React re-renders) count as "not yet".
pub(super) async fn wait<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Step<T>, CmdError>>,
{
    let deadline = Instant::now() + STEP;
    let mut last = None;
    loop {
        match attempt().await {
            Ok(Step::Done(v)) => return Ok(v),
            Ok(Step::Fail(e)) => return Err(e),
            Ok(Step::Wait) => {}
            Err(e) => last = Some(e),
        }
        if Instant::now() >= deadline {
            let last = last
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default();
            return Err(format!("waited {STEP:?} for {what}{last}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Clicks the first shown element `at` as soon as there is one that takes the click.
pub(super) async fn click(c: &Client, what: &str, at: Locator<'_>) -> Result<(), String> {
    wait(what, || async {
        let Some(el) = shown(c, at).await? else {
            return Ok(Step::Wait);
        };
        if !el.is_enabled().await? {
            return Ok(Step::Wait);
        }
        el.click().await?;
        Ok(Step::Done(()))
    })
    .await
}

/// The first element `at` that is displayed, if any.
pub(super) async fn shown(c: &Client, at: Locator<'_>) -> Result<Option<Element>, CmdError> {
    first_shown(c.find_all(at).await?).await
}

pub(super) async fn shown_in(
    parent: &Element,
    at: Locator<'_>,
) -> Result<Option<Element>, CmdError> {
    first_shown(parent.find_all(at).await?).await
}

async fn first_shown(all: Vec<Element>) -> Result<Option<Element>, CmdError> {
    for el in all {
        if el.is_displayed().await? {
            return Ok(Some(el));
        }
    }
    Ok(None)
}

/// An XPath predicate: the element has the class `name` (a whole word of its `class`).
pub(super) fn class(name: &str) -> String {
    format!("contains(concat(' ', normalize-space(@class), ' '), ' {name} ')")
}

/// chromedriver on a free port, in its own process group with the Chromium it starts, all of them
/// killed on drop (even when the test panics); a fresh browser profile, removed after.
pub(super) struct Driver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Driver {
    /// `None` (after saying why) when Chromium or chromedriver is not installed; under `CI=true`
    /// that fails instead.
    pub(super) fn start() -> Option<Driver> {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            if !Path::new(path).is_file() {
                let why = format!("{path} is missing (apt-get install {package})");
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "{why}; CI needs it"
                );
                eprintln!("skipping the browser test: {why}");
                return None;
            }
        }
        let profile = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let log = std::fs::File::create(profile.path().join("chromedriver.log")).expect("log file");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        Some(Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile,
        })
    }

    /// A headless Chromium session, once chromedriver answers.
    pub(super) async fn connect(&self) -> Client {
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--no-default-browser-check",
                    format!("--window-size={WIDTH},{HEIGHT}"),
                    format!("--user-data-dir={}", self.profile.path().join("chromium").display()),
                ],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let deadline = Instant::now() + STEP;
        loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&self.url)
                .await
            {
                Ok(c) => return c,
                Err(_) if Instant::now() < deadline => tokio::time::sleep(POLL).await,
                Err(e) => panic!(
                    "no Chromium session from chromedriver at {} after {STEP:?}: {e}\n{}",
                    self.url,
                    std::fs::read_to_string(self.profile.path().join("chromedriver.log"))
                        .unwrap_or_default()
                ),
            }
        }
    }

    /// The browser's console since the last call (chromedriver's legacy log endpoint), one entry a
    /// line.
    pub(super) async fn console(&self, c: &Client) -> String {
        let Ok(Some(session)) = c.session_id().await else {
            return "(no session)".into();
        };
        let res = reqwest::Client::new()
            .post(format!("{}/session/{session}/se/log", self.url))
            .json(&json!({"type": "browser"}))
            .send()
            .await;
        let Ok(body) = async { res?.json::<Value>().await }.await else {
            return "(no console log)".into();
        };
        body["value"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        format!(
                            "{} {}",
                            e["level"].as_str().unwrap_or("?"),
                            e["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_else(|| body.to_string())
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the browser processes it started.
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on a process group this test created; no memory is involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}
