//! `/docs` in a real browser: headless Chromium, driven through chromedriver (Debian's `chromium`
//! and `chromium-driver`), opens Swagger UI, completes Authorize with the OAuth2 password flow
//! (the built-in public client `swagger`, the admin's credentials), then runs "Try it out" on
//! `GET /users/me` and reads the admin back. Everything the page does runs under the `/docs`
//! content security policy, so a policy too strict for Swagger UI fails here.
//!
//! Without Chromium or chromedriver the test says so and passes, except under `CI=true`. On a
//! failure it saves a screenshot to `target/browser-failure.png` and prints the browser's console.
//! With `BOUNCER_SCREENSHOT=1` it saves the page after "Try it out" to `docs/swagger-ui.png`.
//!
//! Here: the test and its walk through the page. chromedriver and the ways of waiting for and
//! finding what the page shows are in `driver`.

mod driver;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};

use crate::support::{ADMIN, ADMIN_PASSWORD, TestApp};
use driver::{Driver, Step, class, click, shown, shown_in, wait};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long one step (a render, a dialog, a response) may take.
const STEP: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);
/// The window, and so the screenshot in the README.
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;

#[tokio::test]
async fn swagger_ui_authorizes_with_the_password_flow_and_tries_users_me() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = TestApp::spawn().await;
    let started = Instant::now();
    let client = driver.connect().await;

    let mut outcome = walk_through(&client, &app).await;
    // Read once: chromedriver hands each console entry out only once.
    let console = driver.console(&client).await;
    if outcome.is_ok() && console.contains("Content Security Policy") {
        // Refused on the way without failing a step (a CSP violation is only a console error).
        outcome = Err("the /docs CSP refused something (see the console)".into());
    }
    match &outcome {
        Ok(()) => eprintln!("Swagger UI walk-through took {:?}", started.elapsed()),
        Err(e) => {
            let shot = workspace().join("target/browser-failure.png");
            let _ = std::fs::create_dir_all(shot.parent().expect("target/"));
            match client.screenshot().await {
                Ok(png) => match std::fs::write(&shot, png) {
                    Ok(()) => eprintln!("screenshot of the failure: {}", shot.display()),
                    Err(w) => eprintln!("could not write {}: {w}", shot.display()),
                },
                Err(s) => eprintln!("no screenshot: {s}"),
            }
            eprintln!("browser console:\n{console}");
            eprintln!("failed after {:?}: {e}", started.elapsed());
        }
    }
    let _ = client.close().await;
    drop(driver);
    app.stop().await;
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

/// The walk-through itself: every step waits for what it needs, at most `STEP`.
async fn walk_through(c: &Client, app: &TestApp) -> Result<(), String> {
    c.goto(&app.at("/docs/"))
        .await
        .map_err(|e| format!("open /docs/: {e}"))?;

    // Swagger UI rendered the spec: the operation is there, and so is Authorize.
    let op = &format!(
        "//div[{}][.//*[@data-path='/users/me']]",
        class("opblock-get")
    );
    wait("Swagger UI to render GET /users/me", || async {
        Ok(shown(c, Locator::XPath(op))
            .await?
            .map(Step::Done)
            .unwrap_or(Step::Wait))
    })
    .await?;
    click(
        c,
        "the Authorize button",
        Locator::Css(".scheme-container button.authorize"),
    )
    .await?;

    // The password flow's form in the dialog (the only flow with a username).
    let form = format!(
        "//div[{}][.//input[@id='oauth_username']]",
        class("auth-container")
    );
    let form: Element = wait("the OAuth2 password-flow form", || async {
        Ok(shown(c, Locator::XPath(&form))
            .await?
            .map(Step::Done)
            .unwrap_or(Step::Wait))
    })
    .await?;
    let client_id = form
        .find(Locator::Css("#client_id_password"))
        .await
        .map_err(|e| format!("client_id field: {e}"))?
        .prop("value")
        .await
        .map_err(|e| format!("client_id value: {e}"))?;
    if client_id.as_deref() != Some("swagger") {
        return Err(format!(
            "client_id is prefilled {client_id:?}, not \"swagger\""
        ));
    }
    let fill = async {
        form.find(Locator::Css("#oauth_username"))
            .await?
            .send_keys(ADMIN)
            .await?;
        form.find(Locator::Css("#oauth_password"))
            .await?
            .send_keys(ADMIN_PASSWORD)
            .await?;
        // "Basic auth header": `Authorization: Basic swagger:` (an empty secret).
        form.find(Locator::Css("#password_type"))
            .await?
            .select_by_value("basic")
            .await?;
        form.find(Locator::Css("button.authorize"))
            .await?
            .click()
            .await
    };
    fill.await
        .map_err(|e| format!("fill in and submit the password flow: {e}"))?;

    // Authorized: the dialog offers Logout. An error from the token endpoint shows in the form.
    wait("the token (Logout in the dialog)", || async {
        if let Some(err) = shown_in(&form, Locator::Css(".errors")).await? {
            return Ok(Step::Fail(format!(
                "Authorize failed: {}",
                err.text().await?
            )));
        }
        let button = form.find(Locator::Css("button.authorize")).await?;
        Ok(if button.text().await?.trim() == "Logout" {
            Step::Done(())
        } else {
            Step::Wait
        })
    })
    .await?;
    async {
        form.find(Locator::Css("button.btn-done"))
            .await?
            .click()
            .await
    }
    .await
    .map_err(|e| format!("close the dialog: {e}"))?;
    wait("the dialog to close", || async {
        Ok(match shown(c, Locator::Css(".dialog-ux")).await? {
            Some(_) => Step::Wait,
            None => Step::Done(()),
        })
    })
    .await?;

    // Expand GET /users/me, "Try it out", "Execute".
    let summary = format!("{op}//button[{}]", class("opblock-summary-control"));
    click(c, "GET /users/me", Locator::XPath(&summary)).await?;
    let try_out = format!("{op}//button[{}]", class("try-out__btn"));
    click(c, "Try it out", Locator::XPath(&try_out)).await?;
    let execute = format!("{op}//button[{}]", class("execute"));
    click(c, "Execute", Locator::XPath(&execute)).await?;

    // The live response: 200, the admin's profile, fetched with the token.
    let row = format!(
        "{op}//table[{}]//tr[{}]",
        class("live-responses-table"),
        class("response")
    );
    let status = format!("{row}/td[{}]", class("response-col_status"));
    let body = format!("{row}/td[{}]", class("response-col_description"));
    let (code, text) = wait("the response to GET /users/me", || async {
        let Some(code) = shown(c, Locator::XPath(&status)).await? else {
            return Ok(Step::Wait);
        };
        let Some(body) = shown(c, Locator::XPath(&body)).await? else {
            return Ok(Step::Wait);
        };
        let text = body.text().await?;
        Ok(if text.trim().is_empty() {
            Step::Wait
        } else {
            Step::Done((code.text().await?.trim().to_owned(), text))
        })
    })
    .await?;
    if code != "200" {
        return Err(format!("GET /users/me answered {code}:\n{text}"));
    }
    let username = format!("\"username\": \"{ADMIN}\"");
    if !text.contains(&username) {
        return Err(format!(
            "the response body does not show {username}:\n{text}"
        ));
    }
    let curl = format!("{op}//div[{}]", class("curl-command"));
    let curl = shown(c, Locator::XPath(&curl))
        .await
        .map_err(|e| format!("the curl command: {e}"))?
        .ok_or("no curl command shown")?
        .text()
        .await
        .map_err(|e| format!("the curl command: {e}"))?;
    if !curl.contains("Authorization: Bearer ") {
        return Err(format!("the request did not carry the token:\n{curl}"));
    }

    if std::env::var("BOUNCER_SCREENSHOT").as_deref() == Ok("1") {
        screenshot_for_readme(c, op).await?;
    }
    Ok(())
}

/// `docs/swagger-ui.png`: the operation at the top of the window, its response below.
async fn screenshot_for_readme(c: &Client, op: &str) -> Result<(), String> {
    let el = c
        .find(Locator::XPath(op))
        .await
        .map_err(|e| format!("GET /users/me: {e}"))?;
    let arg = serde_json::to_value(&el).map_err(|e| e.to_string())?;
    c.execute("arguments[0].scrollIntoView({block: 'start'});", vec![arg])
        .await
        .map_err(|e| format!("scroll: {e}"))?;
    let png = c
        .screenshot()
        .await
        .map_err(|e| format!("screenshot: {e}"))?;
    let path = workspace().join("docs/swagger-ui.png");
    std::fs::create_dir_all(path.parent().expect("docs/")).map_err(|e| e.to_string())?;
    std::fs::write(&path, png).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("saved {}", path.display());
    Ok(())
}

/// The workspace's root (this crate is `crates/bouncer`).
fn workspace() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .nth(2)
        .unwrap_or(crate_dir)
        .to_path_buf()
}
