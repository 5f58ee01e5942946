//! The family's page (`alliance app`), tested as people and attackers meet it: the real binary
//! in temporary homes, real nodes on 127.0.0.1 (relays disabled), plain HTTP for the attacks
//! and headless Chromium over WebDriver for the end-to-end story.
//!
//! The browser tests need Debian's `chromium` and `chromium-driver`; without them each says so
//! where `cargo test` shows it (a `SKIPPED` line) and passes, except under CI (`CI` set to
//! anything non-empty), where it fails.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::kit::Device;
use crate::kit::{http, session_cookie};
use alliance::store::{Home, LockMode};

/// A running `alliance app --no-open` of a device; stopped (SIGTERM) on drop.
pub(crate) struct App {
    child: Child,
    pub(crate) url: String,
    pub(crate) port: u16,
}

impl App {
    pub(crate) fn start(home: &Path) -> App {
        App::start_at(home, None)
    }

    /// Starts the app with its clock pinned to `now` (Unix seconds), or the real one.
    pub(crate) fn start_at(home: &Path, now: Option<i64>) -> App {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("alliance"));
        command
            .env("ALLIANCE_HOME", home)
            .env("ALLIANCE_BIND", "127.0.0.1:0")
            .env("ALLIANCE_RELAY", "disabled")
            .env_remove("ALLIANCE_TEST_SEED")
            .env_remove("ALLIANCE_TEST_NOW");
        if let Some(now) = now {
            command.env("ALLIANCE_TEST_NOW", now.to_string());
        }
        let mut child = command
            .args(["--json", "app", "--no-open"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).expect("the app prints its link");
        assert_eq!(v["started"], true, "{v}");
        let url = v["url"].as_str().unwrap().to_string();
        let port = url
            .trim_start_matches("http://127.0.0.1:")
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        App { child, url, port }
    }

    fn token(&self) -> String {
        self.url.split("token=").nth(1).unwrap().to_string()
    }

    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-15", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        std::mem::forget(self);
    }
}

impl App {
    /// The address of one of alliance `id`'s pages (`""` for its overview).
    pub(crate) fn page(&self, id: &str, page: &str) -> String {
        format!("http://127.0.0.1:{}/a/{id}/{page}", self.port)
    }

    /// Kills the app at once (SIGKILL), as a crash or a power cut would stop it.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::forget(self);
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request with the given extra header lines and form body.
pub(crate) fn req(method: &str, path: &str, host: &str, headers: &[String], body: &str) -> String {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    if method == "POST" {
        r.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r
}

pub(crate) fn heads(home: &Path) -> Vec<String> {
    let h = Home::new(home);
    let id = h.alliance_ids().unwrap()[0];
    let open = h.open(&id, LockMode::Shared).unwrap();
    let mut v: Vec<String> = open
        .replica()
        .heads()
        .iter()
        .map(ToString::to_string)
        .collect();
    v.sort();
    v
}

pub(crate) fn alliance_id(home: &Path) -> String {
    Home::new(home).alliance_ids().unwrap()[0].to_string()
}

#[test]
fn attacks_over_plain_http_are_refused_and_write_nothing() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    let need = ada.add(&["need", "add", "a walk"]);
    // Text other people's devices wrote is shown, never run.
    let xss = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    ada.ok(&["expect", "add", xss]);
    let app = App::start(ada.home());
    let (port, token, id) = (app.port, app.token(), alliance_id(ada.home()));
    let host = format!("127.0.0.1:{port}");
    let origin = format!("Origin: http://127.0.0.1:{port}");
    let before = heads(ada.home());

    // DNS rebinding: another name for 127.0.0.1 is refused, and the link is not used up.
    for bad in [
        format!("evil.example:{port}"),
        format!("localhost:{port}"),
        "127.0.0.1".into(),
    ] {
        let (s, _, body) = http(
            port,
            &req("GET", &format!("/login?token={token}"), &bad, &[], ""),
        );
        assert_eq!(s, 403, "Host {bad}");
        assert!(!body.contains("alliance_session"));
    }
    // No cookie: no page, no parts, no events, no API.
    for path in [
        format!("/a/{id}/"),
        format!("/a/{id}/part/needs"),
        format!("/a/{id}/events"),
        format!("/a/{id}/vision/text"),
        "/".into(),
    ] {
        assert_eq!(
            http(port, &req("GET", &path, &host, &[], "")).0,
            401,
            "{path}"
        );
    }
    let add = format!("/a/{id}/do/need-add");
    let (s, _, _) = http(
        port,
        &req(
            "POST",
            &add,
            &host,
            std::slice::from_ref(&origin),
            "text=pwned",
        ),
    );
    assert_eq!(s, 401);

    // The one-time link becomes an HttpOnly, SameSite=Strict cookie, once.
    let (s, head, _) = http(
        port,
        &req("GET", &format!("/login?token={token}"), &host, &[], ""),
    );
    assert_eq!(s, 303);
    let cookie_line = head
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .expect("a cookie")
        .to_string();
    assert!(cookie_line.contains("httponly"), "{cookie_line}");
    assert!(cookie_line.contains("samesite=strict"), "{cookie_line}");
    let session = session_cookie(&cookie_line);
    let cookie = format!("Cookie: alliance_session={session}");
    let (s, _, _) = http(
        port,
        &req("GET", &format!("/login?token={token}"), &host, &[], ""),
    );
    assert_eq!(s, 403, "a replayed link is refused");
    let (s, _, _) = http(port, &req("GET", "/login?token=00", &host, &[], ""));
    assert_eq!(s, 403, "a made-up link is refused");

    // The page, with its safety headers and its CSRF token.
    let (s, head, page) = http(
        port,
        &req(
            "GET",
            &format!("/a/{id}/"),
            &host,
            std::slice::from_ref(&cookie),
            "",
        ),
    );
    assert_eq!(s, 200);
    for h in [
        "content-security-policy: default-src 'none'; script-src 'self'",
        "frame-ancestors 'none'",
        "x-frame-options: deny",
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
    ] {
        assert!(head.contains(h), "missing {h} in {head}");
    }
    assert!(!head.contains("access-control-allow-origin"));
    assert!(!page.contains("<script>"), "no inline script");
    for path in [format!("/a/{id}/expectations"), format!("/a/{id}/print")] {
        let (s, _, page) = http(
            port,
            &req("GET", &path, &host, std::slice::from_ref(&cookie), ""),
        );
        assert_eq!(s, 200, "{path}");
        assert!(
            !page.contains("<script>alert") && !page.contains("<img src=x"),
            "{path}"
        );
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}"
        );
    }
    let csrf = page
        .split("name=\"alliance-csrf\" content=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let csrf_h = format!("X-Alliance-CSRF: {csrf}");

    // Cross-site POSTs: no CSRF header; a foreign Origin; no Origin; a wrong token; another
    // Host with everything else right.
    let evil = "Origin: http://evil.example".to_string();
    for (name, host, headers) in [
        (
            "no CSRF header",
            host.clone(),
            vec![cookie.clone(), origin.clone()],
        ),
        (
            "foreign Origin",
            host.clone(),
            vec![cookie.clone(), csrf_h.clone(), evil.clone()],
        ),
        (
            "no Origin",
            host.clone(),
            vec![cookie.clone(), csrf_h.clone()],
        ),
        (
            "wrong CSRF token",
            host.clone(),
            vec![
                cookie.clone(),
                origin.clone(),
                "X-Alliance-CSRF: 1234".into(),
            ],
        ),
        (
            "rebound Host",
            format!("evil.example:{port}"),
            vec![cookie.clone(), origin.clone(), csrf_h.clone()],
        ),
        (
            "cross-site form",
            host.clone(),
            vec![cookie.clone(), evil.clone()],
        ),
    ] {
        let (s, _, _) = http(port, &req("POST", &add, &host, &headers, "text=pwned"));
        assert_eq!(s, 403, "{name}");
    }
    // No CORS: a preflight gets nothing that would let a page send the header.
    let (s, head, _) = http(
        port,
        &req(
            "OPTIONS",
            &add,
            &host,
            &[
                evil.clone(),
                "Access-Control-Request-Headers: x-alliance-csrf".into(),
            ],
            "",
        ),
    );
    assert!(s == 405 || s == 403, "{s}");
    assert!(!head.contains("access-control-allow"));
    // The link API needs the key from the 0600 file, and never answers a page.
    let (s, _, _) = http(
        port,
        &req(
            "POST",
            "/api/link",
            &host,
            &["X-Alliance-Key: 00".into()],
            "",
        ),
    );
    assert_eq!(s, 403);
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ada.home().join("app.json")).unwrap()).unwrap();
    let key = format!("X-Alliance-Key: {}", file["key"].as_str().unwrap());
    let (s, _, _) = http(
        port,
        &req("POST", "/api/link", &host, &[key.clone(), evil.clone()], ""),
    );
    assert_eq!(s, 403);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ada.home().join("app.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "app.json is readable by this user only");
    }

    // Bad input from the page itself: a clear message, nothing written.
    let ok = [cookie.clone(), origin.clone(), csrf_h.clone()];
    let huge = format!("text={}", "x".repeat(1 << 20));
    let cases: Vec<(String, String, &str)> = vec![
        (format!("/a/{id}/do/expect-add"), huge, "too long"),
        (add.clone(), "text=a%07bell".into(), "control character"),
        (
            format!("/a/{id}/do/need-edit"),
            "id=..%2F..%2Fx&text=hi".into(),
            "ID",
        ),
        (
            format!("/a/{id}/do/need-remove"),
            "id=e7kq2".into(),
            "no need",
        ),
        (
            format!("/a/{id}/do/need-add"),
            "forged=1".into(),
            "must not be empty",
        ),
        (
            format!("/a/{id}/do/checkin-add"),
            "rating=9&next=2w".into(),
            "rating",
        ),
        (
            format!("/a/{id}/do/resolve"),
            format!("id={need}&field=text&pick=x"),
            "choose",
        ),
    ];
    for (path, body, says) in &cases {
        let (s, _, answer) = http(port, &req("POST", path, &host, &ok, body));
        assert_eq!(s, 400, "{path} {answer}");
        let v: serde_json::Value =
            serde_json::from_str(&answer).unwrap_or_else(|_| panic!("{answer}"));
        assert_eq!(v["ok"], false);
        let message = v["message"].as_str().unwrap();
        // The page says it as a sentence (capitalised, without the CLI's command hints).
        assert!(
            message.to_lowercase().contains(&says.to_lowercase()),
            "{path}: {message}"
        );
        assert!(!message.contains("panicked") && !message.contains("src/"));
    }
    let bad_splice = r#"{"base":[],"splices":[{"pos":99,"delete":5,"insert":"x"}]}"#;
    let mut r = req("POST", &format!("/a/{id}/vision/splice"), &host, &ok, "");
    r = r.replace(
        "Content-Length: 0\r\n\r\n",
        &format!("Content-Length: {}\r\n\r\n{bad_splice}", bad_splice.len()),
    );
    let (s, _, answer) = http(port, &r);
    assert_eq!(s, 400, "{answer}");
    let (s, _, _) = http(
        port,
        &req("POST", &format!("/a/{id}/do/format-disk"), &host, &ok, ""),
    );
    assert_eq!(s, 404);
    let (s, _, body) = http(
        port,
        &req(
            "GET",
            "/a/nonsense/",
            &host,
            std::slice::from_ref(&cookie),
            "",
        ),
    );
    assert_eq!(s, 404);
    assert!(body.contains("No such alliance"));

    assert_eq!(heads(ada.home()), before, "nothing was written");
    assert_eq!(ada.needs(), ["a walk"]);

    // The same request, made properly, does go through (the refusals were not the harness).
    let (s, _, answer) = http(port, &req("POST", &add, &host, &ok, "text=time+alone"));
    assert_eq!(s, 200, "{answer}");
    assert_ne!(heads(ada.home()), before);
    assert_eq!(ada.needs().len(), 2);

    // A second `alliance app` on this home gets a fresh link from the running one.
    let second = ada.json(&["app", "--no-open"]);
    assert_eq!(second["started"], false);
    let url = second["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("http://127.0.0.1:{port}/login?token=")));
    assert_ne!(url, app.url);
    app.stop();
}

#[test]
fn a_text_two_people_rewrote_at_once_shows_on_the_page_and_waits_to_be_agreed_to() {
    let ben = Device::new(2);
    ben.ok(&["init", "--name", "Ben"]);
    let ada = Device::founder(1, "Ada", "Family", "parent");
    ada.add(&["member", "add", "Ben", "--device", &ben.device_key()]);
    let e = ada.add(&["expect", "add", "No screens after 9pm on weekends."]);
    let carry = |from: &Device, to: &Device| {
        let bundle = from.home().join("carried.bundle");
        from.ok(&["bundle", "export", bundle.to_str().unwrap()]);
        to.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    };
    carry(&ada, &ben);
    ada.ok(&["expect", "edit", &e, "Screens off at dinner."]);
    ben.ok(&["expect", "edit", &e, "Screens off after homework."]);
    carry(&ben, &ada);

    let app = App::start(ada.home());
    let (port, token, id) = (app.port, app.token(), alliance_id(ada.home()));
    let host = format!("127.0.0.1:{port}");
    let (_, head, _) = http(
        port,
        &req("GET", &format!("/login?token={token}"), &host, &[], ""),
    );
    let session = session_cookie(&head);
    let cookie = format!("Cookie: alliance_session={session}");
    let (s, _, page) = http(
        port,
        &req(
            "GET",
            &format!("/a/{id}/"),
            &host,
            std::slice::from_ref(&cookie),
            "",
        ),
    );
    assert_eq!(s, 200);
    assert!(page.contains("2 people rewrote it at once"), "{page}");
    assert!(page.contains("Screens off after homework.") && page.contains("Merged now"));
    assert!(
        !page.contains("I agree to"),
        "no agree button while in conflict"
    );
    let csrf = page
        .split("name=\"alliance-csrf\" content=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let ok = [
        cookie.clone(),
        format!("Origin: http://127.0.0.1:{port}"),
        format!("X-Alliance-CSRF: {csrf}"),
    ];
    let post = |action: &str, body: &str| {
        http(
            port,
            &req("POST", &format!("/a/{id}/do/{action}"), &host, &ok, body),
        )
    };
    // The agree action refuses by the same core call as the CLI.
    let (s, _, answer) = post("expect-agree", &format!("id={e}"));
    assert_eq!(s, 400, "{answer}");
    assert!(answer.contains("in conflict"), "{answer}");
    let (s, _, answer) = post("resolve", &format!("id={e}&field=text&pick=1"));
    assert_eq!(s, 200, "{answer}");
    let (s, _, answer) = post("expect-agree", &format!("id={e}"));
    assert_eq!(s, 200, "{answer}");
    app.stop();
}

// ---- the browser ----

use fantoccini::{Client, ClientBuilder, Locator};

/// Debian's Chromium and its driver, if installed.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names.iter().find_map(|n| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join(n))
                    .find(|p| p.is_file())
            })
        })
    };
    Some((
        find(&["chromium", "chromium-browser", "google-chrome"])?,
        find(&["chromedriver"])?,
    ))
}

/// The browser tools, or `None` after saying why the test skips ([`crate::kit::skip`]: a
/// failure under any non-empty `CI`).
pub(crate) fn tools_or_skip(test: &str) -> Option<(PathBuf, PathBuf)> {
    let tools = browser_tools();
    if tools.is_none() {
        crate::kit::skip(&format!(
            "{test} needs chromium and chromedriver, which are not installed \
             (apt-get install -y chromium chromium-driver)"
        ));
    }
    tools
}

/// A chromedriver on a free port; killed on drop.
pub(crate) struct Driver {
    child: Child,
    url: String,
    _profiles: Vec<tempfile::TempDir>,
    chromium: PathBuf,
}

impl Driver {
    pub(crate) fn start(chromium: PathBuf, driver: PathBuf) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            crate::kit::eventually(20, || std::net::TcpStream::connect(("127.0.0.1", port))
                .is_ok()),
            "chromedriver did not start"
        );
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _profiles: Vec::new(),
            chromium,
        }
    }

    /// A fresh headless browser with its own profile.
    pub(crate) async fn browser(&mut self) -> Client {
        let profile = tempfile::tempdir().unwrap();
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-quic",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        self._profiles.push(profile);
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// Runs `script` in the page until it returns something truthy; returns it.
pub(crate) async fn until(c: &Client, what: &str, script: &str) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = c
            .execute(script, vec![])
            .await
            .unwrap_or(serde_json::Value::Null);
        let truthy = match &v {
            serde_json::Value::Null | serde_json::Value::Bool(false) => false,
            serde_json::Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return v;
        }
        if Instant::now() > deadline {
            let body = c
                .execute(
                    "return document.body ? document.body.innerText : ''",
                    vec![],
                )
                .await
                .unwrap_or_default();
            panic!("timed out waiting for {what}; the page reads:\n{body}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the text of the first element matching `css` contains `needle`.
pub(crate) async fn until_text(c: &Client, css: &str, needle: &str) {
    let script = format!(
        "const e = document.querySelector({}); return !!e && e.textContent.includes({});",
        serde_json::to_string(css).unwrap(),
        serde_json::to_string(needle).unwrap()
    );
    until(c, &format!("'{needle}' in {css}"), &script).await;
}

/// Types `text` into the field `css`. A live part may be redrawn between finding the field and
/// typing (the page leaves a part alone only once the focus is in it): then it is found again
/// (chromedriver 148 reports the replaced field as stale or, while it is being replaced, as not
/// interactable).
pub(crate) async fn fill(c: &Client, css: &str, text: &str) {
    for attempt in 0.. {
        let e = c.find(Locator::Css(css)).await.unwrap();
        let r = async {
            e.clear().await?;
            e.send_keys(text).await
        }
        .await;
        match r {
            Ok(()) => return,
            Err(e)
                if attempt < 5
                    && (e.to_string().contains("stale")
                        || e.to_string().contains("not interactable")) =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => panic!("typing into {css}: {e}"),
        }
    }
}

pub(crate) async fn click(c: &Client, css: &str) {
    for attempt in 0.. {
        let r = c.find(Locator::Css(css)).await.unwrap().click().await;
        match r {
            Ok(()) => return,
            Err(e) if attempt < 5 && e.to_string().contains("stale") => continue,
            Err(e) => panic!("clicking {css}: {e}"),
        }
    }
}

/// Sets a marker on the page's window; if it survives, the page was never reloaded.
async fn mark(c: &Client) {
    c.execute("window.__noReload = 1; return 1", vec![])
        .await
        .unwrap();
}

async fn not_reloaded(c: &Client) -> bool {
    c.execute("return window.__noReload === 1", vec![])
        .await
        .unwrap()
        == serde_json::Value::Bool(true)
}

pub(crate) async fn value(c: &Client, css: &str) -> String {
    c.execute(
        &format!(
            "return document.querySelector({}).value",
            serde_json::to_string(css).unwrap()
        ),
        vec![],
    )
    .await
    .unwrap()
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// Where the screenshots go, when `ALLIANCE_SCREENSHOTS` is set (`docs/app/` in the repo).
fn shots_dir() -> Option<PathBuf> {
    std::env::var_os("ALLIANCE_SCREENSHOTS").map(|_| {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/app");
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

/// A screenshot of the page at a laptop's and a phone's width.
pub(crate) async fn shoot(c: &Client, name: &str) {
    shoot_at(c, name, None).await
}

/// A screenshot with the element `css` scrolled into view.
pub(crate) async fn shoot_at(c: &Client, name: &str, css: Option<&str>) {
    let Some(dir) = shots_dir() else { return };
    for (w, h) in [(1280u32, 1100u32), (390, 1400)] {
        c.set_window_size(w, h).await.unwrap();
        if let Some(css) = css {
            let js = format!(
                "document.querySelector({}).scrollIntoView(); return 1",
                serde_json::to_string(css).unwrap()
            );
            c.execute(&js, vec![]).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        let png = c.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}-{w}.png")), png).unwrap();
    }
    c.set_window_size(1280, 1000).await.unwrap();
}

fn vision_show(d: &Device) -> String {
    d.json(&["vision", "show"])["vision"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_in_two_browsers_design_an_alliance_live() {
    let Some((chromium, chromedriver)) = tools_or_skip("two_devices_in_two_browsers") else {
        return;
    };
    let mut driver = Driver::start(chromium, chromedriver);
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let ben = Device::new(2);
    let ada_app = App::start(ada.home());
    let mut ben_app = App::start(ben.home());
    let a = driver.browser().await;
    let b = driver.browser().await;
    let id = alliance_id(ada.home());
    let base = |app: &App, path: &str| app.page(&id, path);

    // Ada's page: she makes a ticket on the People page.
    a.goto(&ada_app.url).await.unwrap();
    until(
        &a,
        "Ada's overview",
        "return location.pathname.startsWith('/a/')",
    )
    .await;
    a.goto(&base(&ada_app, "people")).await.unwrap();
    fill(&a, "#invite-role", "teen").await;
    click(&a, "form[action$='/do/invite'] button[type=submit]").await;
    until(
        &a,
        "the ticket",
        "return !!document.querySelector('#ticket-line')",
    )
    .await;
    let ticket = value(&a, "#ticket-line").await;
    assert!(ticket.starts_with("alliance"), "{ticket}");
    until(
        &a,
        "the QR code",
        "return !!document.querySelector('.qr svg')",
    )
    .await;
    shoot_at(&a, "invite", Some(".ticket")).await;

    // Ben's page: a new device; he joins from the page with the pasted ticket.
    b.goto(&ben_app.url).await.unwrap();
    until_text(&b, "h1", "Welcome").await;
    shoot(&b, "first-run").await;
    b.goto(&format!("http://127.0.0.1:{}/start", ben_app.port))
        .await
        .unwrap();
    fill(&b, "#join-ticket", &ticket).await;
    fill(&b, "#join-name", "Ben").await;
    click(&b, "form[action='/join'] button[type=submit]").await;
    until(
        &b,
        "Ben's alliance",
        "return location.pathname.startsWith('/a/')",
    )
    .await;
    until_text(&b, "main", "Hello, Ben").await;

    // A need added on Ada's page appears on Ben's, without a reload.
    a.goto(&base(&ada_app, "needs")).await.unwrap();
    b.goto(&base(&ben_app, "needs")).await.unwrap();
    until(
        &b,
        "Ben's live page",
        "return document.documentElement.dataset.live === '1'",
    )
    .await;
    mark(&b).await;
    fill(&a, "#need-text", "an hour-long walk every morning").await;
    click(&a, "form[action$='/do/need-add'] button[type=submit]").await;
    until_text(&b, "[data-part=needs]", "an hour-long walk every morning").await;
    assert!(not_reloaded(&b).await);
    fill(&b, "#need-text", "time alone after school").await;
    click(&b, "form[action$='/do/need-add'] button[type=submit]").await;
    until_text(&a, "[data-part=needs]", "time alone after school").await;
    // Another command on Ada's device shows up on her open page too.
    ada.ok(&["need", "add", "lights out by ten"]);
    until_text(&a, "[data-part=needs]", "lights out by ten").await;
    until_text(&b, "[data-part=needs]", "lights out by ten").await;
    shoot(&a, "needs").await;
    // "What changed since I last looked": Ada marks it all read; from then on it counts.
    a.goto(&base(&ada_app, "")).await.unwrap();
    click(&a, "[data-part=changes] form[action$='/do/seen'] button").await;
    until_text(&a, "[data-part=changes]", "Nothing new").await;

    // The vision: both type at once; both pages end with the same text, nothing lost, and
    // each caret where its person left it.
    a.goto(&base(&ada_app, "vision")).await.unwrap();
    b.goto(&base(&ben_app, "vision")).await.unwrap();
    for c in [&a, &b] {
        until(
            c,
            "a live vision page",
            "return document.documentElement.dataset.live === '1'",
        )
        .await;
        mark(c).await;
    }
    // The editor's three-way merge (others' edits and unsent typing, both kept), in the page.
    let merged = a
        .execute(
            "return [allianceMerge('Hello world', 'Hello big world', 'Hello world!'),
                     allianceMerge('ab', 'aXb', 'aYb'),
                     allianceMerge('abcdef', 'abcXdef', 'af'),
                     allianceMerge('héllo 👋', 'héllo 👋 you', 'oh héllo 👋')]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        merged,
        serde_json::json!(["Hello big world!", "aYXb", "aXf", "oh héllo 👋 you"]),
        "theirs first where both typed at one place; nothing of mine is lost"
    );
    // Typing goes through WebDriver key actions into the focused textarea, where the page put
    // the caret (element send-keys would apply the driver's own caret rule instead: chromedriver
    // 148 moves it to the end).
    let start = "We listen first.";
    caret_at(&a, "#vision", None).await;
    type_keys(&a, start).await;
    until(
        &b,
        "the first words on Ben's page",
        &format!(
            "return document.querySelector('#vision').value === {}",
            serde_json::to_string(start).unwrap()
        ),
    )
    .await;
    // Ben's caret at the start, Ada's at the end; then they type in bursts, each burst arriving
    // at the other page while that one has keystrokes not sent yet.
    caret_at(&b, "#vision", Some(0)).await;
    caret_at(&a, "#vision", None).await;
    let (ada_words, ben_words) = (
        [" Always", " kind", " and", " curious."],
        ["Together", ", ", "calmly", ": "],
    );
    let typing = |c: Client, words: [&'static str; 4], pause: [u64; 4]| async move {
        for (w, p) in words.iter().zip(pause) {
            type_keys(&c, w).await;
            tokio::time::sleep(Duration::from_millis(p)).await;
        }
        c
    };
    let (a, b) = tokio::join!(
        typing(a, ada_words, [120, 420, 90, 10]),
        typing(b, ben_words, [380, 100, 450, 10])
    );
    let expected = format!("{}{start}{}", ben_words.concat(), ada_words.concat());
    for c in [&a, &b] {
        until(
            c,
            "the merged vision",
            &format!(
                "const t = document.querySelector('#vision'); return t.value === {} && document.querySelector('#vision-state').textContent === 'Saved.'",
                serde_json::to_string(&expected).unwrap()
            ),
        )
        .await;
        assert!(not_reloaded(c).await);
    }
    let caret = |c: &Client| {
        let c = c.clone();
        async move {
            c.execute(
                "const t = document.querySelector('#vision'); return [t.selectionStart, t.selectionEnd]",
                vec![],
            )
            .await
            .unwrap()
        }
    };
    let ben_end = ben_words.concat().len();
    assert_eq!(
        caret(&b).await,
        serde_json::json!([ben_end, ben_end]),
        "Ben's caret stays after his words"
    );
    assert_eq!(
        caret(&a).await,
        serde_json::json!([expected.len(), expected.len()]),
        "Ada's caret stays after hers"
    );
    assert_eq!(vision_show(&ada), expected);
    a.execute(
        "document.querySelector('#blame-box').open = true; return 1",
        vec![],
    )
    .await
    .unwrap();
    until(
        &a,
        "the blame",
        "return document.querySelectorAll('.blame .by').length >= 2",
    )
    .await;
    shoot(&a, "vision").await;

    // Agreeing on one page shows on the other.
    a.goto(&base(&ada_app, "expectations")).await.unwrap();
    b.goto(&base(&ben_app, "expectations")).await.unwrap();
    until(
        &b,
        "Ben's live page",
        "return document.documentElement.dataset.live === '1'",
    )
    .await;
    fill(&a, "#expect-text", "no screens after 8pm").await;
    click(&a, "form[action$='/do/expect-add'] button[type=submit]").await;
    until_text(&b, "[data-part=expectations]", "no screens after 8pm").await;
    click(
        &b,
        "[data-part=expectations] form[action$='/do/expect-agree'] button",
    )
    .await;
    until_text(&a, "[data-part=expectations] .agreed-by", "Ben").await;
    shoot(&a, "expectations").await;

    // A check-in, for the screenshots and the due date.
    a.goto(&base(&ada_app, "checkins")).await.unwrap();
    a.find(Locator::Css("#checkin-rating option[value='4']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(&a, "#checkin-reflection", "calmer evenings").await;
    fill(&a, "#checkin-propose", "walks on Sunday too").await;
    click(&a, "form[action$='/do/checkin-add'] button[type=submit]").await;
    until_text(&a, "[data-part=checkins]", "calmer evenings").await;
    shoot(&a, "checkins").await;

    // A concurrent reschedule: Ada on her page while Ben's device is offline, Ben with the
    // command line; when his page comes back, both pages show the conflict, and Ada settles
    // it from hers.
    a.goto(&base(&ada_app, "plan")).await.unwrap();
    fill(&a, "#plan-when", "Sunday 7pm").await;
    fill(&a, "#plan-how", "at the kitchen table").await;
    click(&a, "form[action$='/do/plan-add'] button[type=submit]").await;
    until_text(&a, "[data-part=plan]", "Sunday 7pm").await;
    let plan_id = ada.json(&["plan", "list"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    b.goto(&base(&ben_app, "plan")).await.unwrap();
    until_text(&b, "[data-part=plan]", "Sunday 7pm").await;
    shoot(&a, "plan").await;
    ben_app.stop();
    a.execute(
        &format!("document.querySelector('#item-{plan_id} details').open = true; return 1"),
        vec![],
    )
    .await
    .unwrap();
    fill(&a, &format!("#when-{plan_id}"), "Saturday 10am").await;
    click(
        &a,
        &format!("#item-{plan_id} form[action$='/do/plan-edit'] button[type=submit]"),
    )
    .await;
    until_text(&a, "[data-part=plan]", "Saturday 10am").await;
    ben.ok(&["plan", "edit", &plan_id, "--when", "Monday 6pm"]);
    ben_app = App::start(ben.home());
    b.goto(&ben_app.url).await.unwrap();
    a.goto(&base(&ada_app, "")).await.unwrap();
    until_text(&a, "[data-part=changes]", "no screens after 8pm").await;
    for c in [&a, &b] {
        until_text(c, "[data-part=status]", "Monday 6pm").await;
        until_text(c, "[data-part=status]", "Saturday 10am").await;
        until_text(c, "[data-part=status]", "conflict").await;
    }
    shoot(&a, "overview").await;
    click(
        &a,
        "[data-part=status] button[aria-label^='Keep “Monday 6pm” by '][aria-label$=' for the time']",
    )
    .await;
    for c in [&a, &b] {
        until(
            c,
            "the conflict settled",
            "const s = document.querySelector('[data-part=status]'); return !!s && !s.textContent.includes('conflict')",
        )
        .await;
    }
    for d in [&ada, &ben] {
        assert_eq!(d.json(&["plan", "list"])[0]["when"], "Monday 6pm");
        assert!(
            d.json(&["show"])["conflicts"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }

    // The history of the session names each verified author; the printable view escapes.
    a.goto(&ada_app.page(&id, &format!("history/{plan_id}")))
        .await
        .unwrap();
    until_text(&a, "main", "Ben").await;
    a.goto(&base(&ada_app, "print")).await.unwrap();
    until_text(&a, "article", "Our vision and what we expect of each other").await;
    shoot(&a, "print").await;
    a.goto(&base(&ada_app, "people")).await.unwrap();
    until_text(&a, "[data-part=devices]", "online now").await;
    shoot(&a, "people").await;

    a.close().await.unwrap();
    b.close().await.unwrap();
    ben_app.stop();
    ada_app.stop();
}

// ---- sessions that survive a restart ----

/// Trades the app's one-time link for a session cookie; returns the cookie's value.
pub(crate) fn log_in(app: &App) -> String {
    let host = format!("127.0.0.1:{}", app.port);
    let (s, head, _) = http(
        app.port,
        &req(
            "GET",
            &format!("/login?token={}", app.token()),
            &host,
            &[],
            "",
        ),
    );
    assert_eq!(s, 303, "the link logs in");
    session_cookie(&head)
}

/// The page of the alliance with `session`'s cookie: its status, and its CSRF token when 200.
pub(crate) fn open_page(port: u16, id: &str, session: &str) -> (u16, String, String) {
    let (s, _, page) = http(
        port,
        &req(
            "GET",
            &format!("/a/{id}/"),
            &format!("127.0.0.1:{port}"),
            &[format!("Cookie: alliance_session={session}")],
            "",
        ),
    );
    let csrf = page
        .split("name=\"alliance-csrf\" content=\"")
        .nth(1)
        .and_then(|p| p.split('"').next())
        .unwrap_or_default()
        .to_string();
    (s, csrf, page)
}

/// Adds a need from the page's session; returns the status.
fn add_need_from(port: u16, id: &str, session: &str, csrf: &str, text: &str) -> (u16, String) {
    let (s, _, body) = http(
        port,
        &req(
            "POST",
            &format!("/a/{id}/do/need-add"),
            &format!("127.0.0.1:{port}"),
            &[
                format!("Cookie: alliance_session={session}"),
                format!("Origin: http://127.0.0.1:{port}"),
                format!("X-Alliance-CSRF: {csrf}"),
            ],
            &format!("text={text}"),
        ),
    );
    (s, body)
}

#[test]
fn page_sessions_survive_a_restart_are_kept_hashed_0600_and_end_after_12_idle_hours() {
    use crate::kit::NOW;
    let hour = 3600;
    let ada = Device::founder(1, "Ada", "Family", "parent");
    let id = alliance_id(ada.home());
    let app = App::start_at(ada.home(), Some(NOW));
    let port = app.port;
    let session = log_in(&app);
    let (s, csrf, _) = open_page(port, &id, &session);
    assert_eq!(s, 200);

    // The home keeps the session, readable by this user only, and never its secrets.
    let file = ada.home().join(alliance::store::layout::PAGE_SESSIONS);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the sessions file is readable by this user only"
        );
    }
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(kept["sessions"].as_array().unwrap().len(), 1, "{kept}");
    for (path, bytes) in crate::kit::snapshot_tree(ada.home()) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&session) && !text.contains(&csrf),
            "{} holds a secret of the session",
            path.display()
        );
    }

    // Killed and started again 11 hours later: the same cookie and the same CSRF token work,
    // on the same port, with no new link.
    app.kill();
    let app = App::start_at(ada.home(), Some(NOW + 11 * hour));
    assert_eq!(app.port, port, "the app binds the port it had");
    let (s, again, _) = open_page(port, &id, &session);
    assert_eq!(s, 200, "the session survived the restart");
    assert_eq!(again, csrf);
    let (s, body) = add_need_from(port, &id, &session, &csrf, "a+walk");
    assert_eq!(s, 200, "{body}");
    assert_eq!(ada.needs(), ["a walk"]);

    // Idle time counts from the last use, not the login: 22 hours after it, 11 after its last
    // use, it still works.
    app.kill();
    let app = App::start_at(ada.home(), Some(NOW + 22 * hour));
    assert_eq!(open_page(port, &id, &session).0, 200);

    // Idle for more than 12 hours: refused, in words, and forgotten by the home.
    app.kill();
    let app = App::start_at(ada.home(), Some(NOW + 34 * hour + 60));
    let (s, _, page) = open_page(port, &id, &session);
    assert_eq!(s, 401, "an expired session is refused");
    assert!(!page.contains("Run `"), "no command to run: {page}");
    let (s, _) = add_need_from(port, &id, &session, &csrf, "pwned");
    assert_eq!(s, 401);
    assert_eq!(ada.needs(), ["a walk"], "nothing was written");
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(
        kept["sessions"].as_array().unwrap().is_empty(),
        "an expired session is forgotten: {kept}"
    );
    // A fresh link still logs in.
    let fresh = log_in(&app);
    assert_eq!(open_page(port, &id, &fresh).0, 200);
    app.stop();
}

/// Types `text` into the focused element with WebDriver key actions, as a keyboard would: the
/// page's caret decides where the words go, not a driver's rule for `send_keys`.
pub(crate) async fn type_keys(c: &Client, text: &str) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let mut keys = KeyActions::new("keyboard".to_string());
    for ch in text.chars() {
        keys = keys
            .then(KeyAction::Down { value: ch })
            .then(KeyAction::Up { value: ch });
    }
    c.perform_actions(keys).await.unwrap();
}

/// Focuses the element `css` and puts the caret at `at` (`None`: at its end).
async fn caret_at(c: &Client, css: &str, at: Option<usize>) {
    let pos = at.map_or("t.value.length".to_string(), |p| p.to_string());
    c.execute(
        &format!(
            "const t = document.querySelector({}); t.focus(); t.setSelectionRange({pos}, {pos}); return 1",
            serde_json::to_string(css).unwrap()
        ),
        vec![],
    )
    .await
    .unwrap();
}

/// What the page says when its device does not answer (app.js): words, no command.
const DEVICE_AWAY: &str =
    "Your device is not answering; your words are kept and will be saved when it is back.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_page_keeps_unsent_words_while_its_device_restarts_and_saves_them() {
    let Some((chromium, chromedriver)) = tools_or_skip("an_open_page_keeps_unsent_words") else {
        return;
    };
    let mut driver = Driver::start(chromium, chromedriver);
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let id = alliance_id(ada.home());
    let app = App::start(ada.home());
    let port = app.port;
    let page = |path: &str| format!("http://127.0.0.1:{port}/a/{id}/{path}");
    // Two pages of Ada's device: the vision on one, the needs on the other (its own link).
    let a = driver.browser().await;
    let b = driver.browser().await;
    a.goto(&app.url).await.unwrap();
    until(
        &a,
        "Ada's page",
        "return location.pathname.startsWith('/a/')",
    )
    .await;
    a.goto(&page("vision")).await.unwrap();
    let second = ada.json(&["app", "--no-open"])["url"]
        .as_str()
        .unwrap()
        .to_string();
    b.goto(&second).await.unwrap();
    until(
        &b,
        "Ada's second page",
        "return location.pathname.startsWith('/a/')",
    )
    .await;
    b.goto(&page("needs")).await.unwrap();
    for c in [&a, &b] {
        until(
            c,
            "a live page",
            "return document.documentElement.dataset.live === '1'",
        )
        .await;
        mark(c).await;
    }

    // The app dies. Ada types her words anyway, and adds a need on the other page.
    app.kill();
    let words = "We listen first.";
    caret_at(&a, "#vision", None).await;
    type_keys(&a, words).await;
    until_text(&a, "#vision-state", DEVICE_AWAY).await;
    fill(&b, "#need-text", "a walk after dinner").await;
    click(&b, "form[action$='/do/need-add'] button[type=submit]").await;
    until_text(&b, "form[action$='/do/need-add'] .result", DEVICE_AWAY).await;
    for c in [&a, &b] {
        until_text(c, "#flash", DEVICE_AWAY).await;
        let text = c
            .execute("return document.body.innerText", vec![])
            .await
            .unwrap();
        let text = text.as_str().unwrap();
        assert!(!text.contains("alliance app"), "no command to run: {text}");
        assert!(
            !text.contains("Saved."),
            "nothing claims to be saved: {text}"
        );
    }
    // Meanwhile another command writes on the device: the pages must show it once back.
    ada.ok(&["need", "add", "lights out by ten"]);

    // The app starts again, on the same home: both pages recover with no new link, send what
    // they kept, and fetch what changed while they were away.
    let app = App::start(ada.home());
    assert_eq!(app.port, port, "the app binds the port it had");
    until(
        &a,
        "the words saved",
        &format!(
            "const t = document.querySelector('#vision'); return t.value === {} && document.querySelector('#vision-state').textContent === 'Saved.'",
            serde_json::to_string(words).unwrap()
        ),
    )
    .await;
    assert_eq!(vision_show(&ada), words);
    until_text(&b, "[data-part=needs]", "a walk after dinner").await;
    until_text(&b, "[data-part=needs]", "lights out by ten").await;
    for c in [&a, &b] {
        until(
            c,
            "the page live again",
            "return document.documentElement.dataset.live === '1' && document.querySelector('#flash').textContent === ''",
        )
        .await;
        assert!(not_reloaded(c).await, "the page recovered by itself");
    }
    let mut needs = ada.needs();
    needs.sort();
    assert_eq!(needs, ["a walk after dinner", "lights out by ten"]);

    a.close().await.unwrap();
    b.close().await.unwrap();
    app.stop();
}

/// Runs a Chrome DevTools command in the browser's current page, through chromedriver.
pub(crate) async fn devtools(driver: &Driver, c: &Client, cmd: &str, params: serde_json::Value) {
    let sid = c.session_id().await.unwrap().unwrap();
    let port: u16 = driver.url.rsplit(':').next().unwrap().parse().unwrap();
    let body = serde_json::json!({ "cmd": cmd, "params": params }).to_string();
    let request = format!(
        "POST /session/{sid}/goog/cdp/execute HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut reader = std::io::BufReader::new(s);
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        (head, String::from_utf8_lossy(&body).to_string())
    })
    .await
    .unwrap();
    assert!(answer.0.starts_with("HTTP/1.1 200"), "{cmd}: {answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_between_page_load_and_its_event_stream_is_shown() {
    let Some((chromium, chromedriver)) = tools_or_skip("a_change_between_page_load") else {
        return;
    };
    let mut driver = Driver::start(chromium, chromedriver);
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    ada.ok(&["need", "add", "a walk"]);
    let id = alliance_id(ada.home());
    let app = App::start(ada.home());
    let a = driver.browser().await;
    a.goto(&app.url).await.unwrap();
    until(
        &a,
        "Ada's page",
        "return location.pathname.startsWith('/a/')",
    )
    .await;
    // The page loads, but its event stream cannot connect yet.
    devtools(&driver, &a, "Network.enable", serde_json::json!({})).await;
    devtools(
        &driver,
        &a,
        "Network.setBlockedURLs",
        serde_json::json!({ "urls": ["*/events"] }),
    )
    .await;
    a.goto(&app.page(&id, "needs")).await.unwrap();
    until_text(&a, "[data-part=needs]", "a walk").await;
    mark(&a).await;
    assert_ne!(
        a.execute("return document.documentElement.dataset.live || ''", vec![])
            .await
            .unwrap(),
        "1",
        "the stream is blocked"
    );
    // A change lands in that gap; then the stream connects.
    ada.ok(&["need", "add", "lights out by ten"]);
    devtools(
        &driver,
        &a,
        "Network.setBlockedURLs",
        serde_json::json!({ "urls": [] }),
    )
    .await;
    until(
        &a,
        "the stream connected",
        "return document.documentElement.dataset.live === '1'",
    )
    .await;
    until_text(&a, "[data-part=needs]", "lights out by ten").await;
    assert!(not_reloaded(&a).await);
    a.close().await.unwrap();
    app.stop();
}

/// Types `text` where the focused element's caret (or selection) is, key by key, `pause_ms`
/// between keys, as one WebDriver actions call (the keys go where the person's caret is,
/// whatever a driver's element send-keys does with the caret).
async fn keys_at_caret(c: &Client, text: &str, pause_ms: u64) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let mut keys = KeyActions::new("keyboard".into());
    for ch in text.chars() {
        keys = keys
            .then(KeyAction::Down { value: ch })
            .then(KeyAction::Up { value: ch });
        if pause_ms > 0 {
            keys = keys.then(KeyAction::Pause {
                duration: Duration::from_millis(pause_ms),
            });
        }
    }
    c.perform_actions(keys).await.unwrap();
}

/// Selects `words` in the vision editor (focused, as a person's mouse leaves it).
async fn select_in_vision(c: &Client, words: &str) {
    let js = format!(
        "const t = document.querySelector('#vision'); const i = t.value.indexOf({w}); \
         if (i < 0) return false; t.focus(); t.setSelectionRange(i, i + {w}.length); return true",
        w = serde_json::to_string(words).unwrap()
    );
    assert_eq!(
        c.execute(&js, vec![]).await.unwrap(),
        serde_json::Value::Bool(true),
        "'{words}' is in the editor"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_rewording_the_same_words_on_live_pages_see_both_wordings_and_keep_one() {
    let Some((chromium, chromedriver)) = tools_or_skip("two_people_rewording") else {
        return;
    };
    let mut driver = Driver::start(chromium, chromedriver);
    let vision = "We listen first. We laugh a lot and forgive fast.";
    let tunde = Device::founder(1, "Tunde", "The Adeyemi family", "parent");
    tunde.ok(&["vision", "set", vision, "--yes"]);
    let tunde_app = App::start(tunde.home());
    let zoe = Device::new(2);
    // The ticket is made by the real clock (the app redeems it by the real clock).
    let out = tunde
        .cmd()
        .env_remove("ALLIANCE_TEST_NOW")
        .args(["--json", "invite"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let ticket: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    zoe.ok(&["join", ticket["ticket"].as_str().unwrap(), "--name", "Zoe"]);
    // A session both reschedule while Zoe's device is offline: a field conflict.
    let plan = tunde.add(&["plan", "add", "--when", "Sunday 7pm", "--how", "at home"]);
    zoe.ok(&["sync"]);
    tunde.ok(&["plan", "edit", &plan, "--when", "Saturday 10am"]);
    zoe.ok(&["plan", "edit", &plan, "--when", "Monday 6pm"]);
    let zoe_app = App::start(zoe.home());
    let id = alliance_id(tunde.home());
    let (t, z) = (driver.browser().await, driver.browser().await);
    for (c, app) in [(&t, &tunde_app), (&z, &zoe_app)] {
        c.goto(&app.url).await.unwrap();
        until(
            c,
            "the overview",
            "return location.pathname.startsWith('/a/')",
        )
        .await;
        c.goto(&app.page(&id, "plan")).await.unwrap();
    }
    // The Plan page itself shows the conflict, both values and "Keep this".
    for c in [&t, &z] {
        for needle in ["Saturday 10am", "Monday 6pm", "Keep this"] {
            until_text(c, "[data-part=plan] .conflict", needle).await;
        }
    }

    for (c, app) in [(&t, &tunde_app), (&z, &zoe_app)] {
        c.goto(&app.page(&id, "vision")).await.unwrap();
        until(
            c,
            "a live vision page",
            &format!(
                "return document.documentElement.dataset.live === '1' && document.querySelector('#vision').value === {}",
                serde_json::to_string(vision).unwrap()
            ),
        )
        .await;
    }
    // Both select "forgive fast" and type a replacement at the same time, a key every 60 ms:
    // the first to pause sends; the other is still typing when that change reaches their page.
    select_in_vision(&z, "forgive fast").await;
    select_in_vision(&t, "forgive fast").await;
    let (zoe_words, tunde_words) = ("never hold a grudge", "make up quickly");
    tokio::join!(
        keys_at_caret(&z, zoe_words, 60),
        keys_at_caret(&t, tunde_words, 60)
    );
    let (zoe_says, tunde_says) = (
        vision.replace("forgive fast", zoe_words),
        vision.replace("forgive fast", tunde_words),
    );
    // Every page: every letter either typed is there, "Saved.", and above the editor the
    // conflict with both wordings, their authors and "Keep this".
    for c in [&t, &z] {
        until(
            c,
            "both wordings in the editor, saved",
            &format!(
                "const t = document.querySelector('#vision'); return t.value.includes({}) && t.value.includes({}) && document.querySelector('#vision-state').textContent === 'Saved.'",
                serde_json::to_string(zoe_words).unwrap(),
                serde_json::to_string(tunde_words).unwrap()
            ),
        )
        .await;
        let sentence = |s: &str| s.split(". ").nth(1).unwrap().to_string();
        for needle in [sentence(&zoe_says), sentence(&tunde_says)] {
            until_text(c, "[data-part=vision-conflicts]", &needle).await;
        }
        for needle in ["Zoe", "Tunde", "Keep this"] {
            until_text(c, "[data-part=vision-conflicts]", needle).await;
        }
    }
    shoot_at(&z, "vision-conflict", Some("[data-part=vision-conflicts]")).await;
    // Tunde keeps Zoe's wording: every page shows it, the conflict gone.
    click(
        &t,
        "[data-part=vision-conflicts] button[aria-label='Keep “We laugh a lot and never hold a grudge.” by Zoe for the vision']",
    )
    .await;
    for c in [&t, &z] {
        until(
            c,
            "Zoe's wording kept",
            &format!(
                "const t = document.querySelector('#vision'); const p = document.querySelector('[data-part=vision-conflicts]'); return t.value === {} && !p.textContent.includes('Keep this')",
                serde_json::to_string(&zoe_says).unwrap()
            ),
        )
        .await;
    }
    for d in [&tunde, &zoe] {
        assert_eq!(vision_show(d), zoe_says);
    }
    // The kept words are still Zoe's.
    let blame = tunde.json(&["blame", "vision"]);
    let mut at = 0;
    let start = zoe_says.find(zoe_words).unwrap();
    let mut authors: Vec<String> = Vec::new();
    for s in blame["spans"].as_array().unwrap() {
        let text = s["text"].as_str().unwrap();
        let span = at..at + text.len();
        at = span.end;
        let author = s["author"].as_str().unwrap().to_string();
        if span.start < start + zoe_words.len() && start < span.end && !authors.contains(&author) {
            authors.push(author);
        }
    }
    assert_eq!(authors, ["Zoe"], "{blame:#}");
    t.close().await.unwrap();
    z.close().await.unwrap();
    tunde_app.stop();
    zoe_app.stop();
}
