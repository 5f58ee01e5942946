//! The family's page (`alliance app`), the real binary: page loads (request to the whole HTML
//! received) on a stored alliance against `alliance show` on the same one; and a keystroke burst
//! typed into the vision in one page until it is visible in another page, two devices on
//! loopback, in headless Chromium when it is installed.

use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::measure::{percentile, time_cli};
use crate::{Row, ms, workload};

/// `alliance app --no-open` on `home`; killed on drop.
struct App {
    child: Child,
    port: u16,
    url: String,
}

impl App {
    fn start(bin: &Path, home: &Path) -> App {
        let mut child = Command::new(bin)
            .env("ALLIANCE_HOME", home)
            .env("ALLIANCE_BIND", "127.0.0.1:0")
            .env("ALLIANCE_RELAY", "disabled")
            .args(["--json", "app", "--no-open"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("alliance app starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the app prints its link");
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        let url = v["url"].as_str().expect("url").to_string();
        let port = url
            .trim_start_matches("http://127.0.0.1:")
            .split('/')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        App { child, port, url }
    }

    /// Trades the one-time link for the session cookie.
    fn login(&self) -> String {
        let path = self
            .url
            .trim_start_matches(&format!("http://127.0.0.1:{}", self.port));
        let (_, head, _) = get(self.port, path, "");
        head.lines()
            .find_map(|l| l.strip_prefix("set-cookie: "))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_string()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(port: u16, path: &str, cookie: &str) -> (u16, String, usize) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    let cookie = if cookie.is_empty() {
        String::new()
    } else {
        format!("Cookie: {cookie}\r\n")
    };
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{cookie}Connection: close\r\n\r\n"
    )
    .expect("writes");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("reads");
    let text = String::from_utf8_lossy(&out).to_lowercase();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_string();
    (status, head, out.len())
}

fn release_binary() -> Option<std::path::PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--bin", "alliance"])
        .status()
        .is_ok_and(|s| s.success());
    let exe = std::env::current_exe().ok()?;
    exe.parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("alliance"))
        .filter(|b| built && b.exists())
}

pub fn section(sizes: &[usize], runs: usize) -> Vec<Row> {
    let Some(bin) = release_binary() else {
        eprintln!("skipping the page section: could not build target/release/alliance");
        return Vec::new();
    };
    let mut rows = Vec::new();
    for &n in sizes {
        eprintln!("storing an alliance of {n} signed changes for the page...");
        let w = workload::load_or_build(n);
        let r = &w.replica;
        let dir = tempfile::tempdir().expect("temp dir");
        let home = alliance::store::Home::new(dir.path());
        home.init("Ben", [2; 32]).expect("identity");
        home.create_alliance_from(r, Some(w.people[1].tag))
            .expect("store");
        let changes = r.len();
        let show = time_cli(&bin, dir.path(), &["show"], runs);
        rows.push(Row {
            measure: "baseline: alliance show",
            changes,
            millis: ms(show.0),
            vs_view: 1.0,
            peak_mib: show.1,
            bytes: None,
            note: "process start to exit".into(),
        });
        let app = App::start(&bin, dir.path());
        let cookie = app.login();
        let id = r.id().to_string();
        let pages: [(&'static str, String); 6] = [
            ("page: what needs me (status+diff)", format!("/a/{id}/")),
            ("page: needs", format!("/a/{id}/needs")),
            ("page: vision", format!("/a/{id}/vision")),
            (
                "part: who wrote which part (blame)",
                format!("/a/{id}/part/blame"),
            ),
            ("page: expectations", format!("/a/{id}/expectations")),
            ("page: printable", format!("/a/{id}/print")),
        ];
        for (measure, path) in pages {
            // One load first: the index cache is built then, as on a page opened before.
            let (status, _, bytes) = get(app.port, &path, &cookie);
            assert_eq!(status, 200, "{path}");
            let mut samples: Vec<Duration> = (0..runs)
                .map(|_| {
                    let t = Instant::now();
                    get(app.port, &path, &cookie);
                    t.elapsed()
                })
                .collect();
            let d = percentile(&mut samples, 50);
            rows.push(Row {
                measure,
                changes,
                millis: ms(d),
                vs_view: d.as_secs_f64() / show.0.as_secs_f64(),
                peak_mib: None,
                bytes: None,
                note: format!("HTML ready ({} KiB), index cache warm", bytes / 1024),
            });
        }
    }
    rows
}

/// The keystroke burst: Ada types a word into the vision in her page; the time until Ben's
/// page shows it (the page gathers a burst's keys for 40 ms, then sends; while typing goes
/// on, a splice every 120 ms at most). Two devices, each running `alliance app`, on
/// 127.0.0.1; headless Chromium over WebDriver. Also counts the signed changes the bursts made
/// (changes per burst of five keys).
pub fn typing_section(bursts: usize) -> Vec<Row> {
    let Some(bin) = release_binary() else {
        return Vec::new();
    };
    let (Some(chromium), Some(driver)) = (which("chromium"), which("chromedriver")) else {
        eprintln!(
            "skipping the keystroke burst: chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)"
        );
        return Vec::new();
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let ada_dir = tempfile::tempdir().expect("temp dir");
        let ben_dir = tempfile::tempdir().expect("temp dir");
        let run = |home: &Path, args: &[&str]| {
            let out = Command::new(&bin)
                .env("ALLIANCE_HOME", home)
                .env("ALLIANCE_BIND", "127.0.0.1:0")
                .env("ALLIANCE_RELAY", "disabled")
                .args(args)
                .output()
                .expect("runs");
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).to_string()
        };
        run(ada_dir.path(), &["init", "--name", "Ada"]);
        run(ada_dir.path(), &["new", "Family"]);
        let ada = App::start(&bin, ada_dir.path());
        let invite: serde_json::Value =
            serde_json::from_str(&run(ada_dir.path(), &["--json", "invite"])).expect("json");
        run(
            ben_dir.path(),
            &["join", invite["ticket"].as_str().expect("ticket"), "--name", "Ben"],
        );
        let ben = App::start(&bin, ben_dir.path());
        let id = alliance::store::Home::new(ada_dir.path())
            .alliance_ids()
            .expect("ids")[0]
            .to_string();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let mut wd = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut profiles = Vec::new();
        let mut browser = || {
            let profile = tempfile::tempdir().expect("profile");
            let caps = serde_json::json!({
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--no-first-run", "--disable-quic", format!("--user-data-dir={}", profile.path().display())],
                },
            });
            profiles.push(profile);
            let serde_json::Value::Object(caps) = caps else { unreachable!() };
            let url = format!("http://127.0.0.1:{port}");
            async move {
                fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps)
                    .connect(&url)
                    .await
                    .expect("a browser")
            }
        };
        let a = browser().await;
        let b = browser().await;
        for (c, app) in [(&a, &ada), (&b, &ben)] {
            c.goto(&app.url).await.expect("login");
            c.goto(&format!("http://127.0.0.1:{}/a/{id}/vision", app.port))
                .await
                .expect("vision");
            let live = Instant::now() + Duration::from_secs(20);
            while c
                .execute("return document.documentElement.dataset.live === '1'", vec![])
                .await
                .ok()
                != Some(serde_json::Value::Bool(true))
                && Instant::now() < live
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let ta = a
            .find(fantoccini::Locator::Css("#vision"))
            .await
            .expect("the editor");
        let count = |home: &Path| {
            let log: serde_json::Value =
                serde_json::from_str(&run(home, &["--json", "log"])).expect("json");
            log.as_array().map(Vec::len).unwrap_or(0)
        };
        let before = count(ada_dir.path());
        let mut samples = Vec::new();
        for i in 0..bursts {
            let word = format!(" w{i}x");
            let wait = format!(
                "const done = arguments[arguments.length - 1]; const t = document.querySelector('#vision');
                 const check = () => t.value.includes({w}) ? done(Date.now()) : setTimeout(check, 1); check();",
                w = serde_json::to_string(&word).expect("json")
            );
            let t0 = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_millis() as f64;
            // Ben's page starts watching while Ada's types.
            let (seen, typed) = tokio::join!(b.execute_async(&wait, vec![]), ta.send_keys(&word));
            typed.expect("types");
            let t1 = seen.expect("seen").as_f64().expect("a time");
            samples.push(Duration::from_secs_f64((t1 - t0).max(0.0) / 1e3));
        }
        // Every burst sent and stored: the changes they made.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let per_burst = (count(ada_dir.path()) - before) as f64 / bursts as f64;
        // Another command on Ada's device (`alliance need add`, a process of its own) until
        // the need shows on her open page and on Ben's: from the command's exit.
        for c in [&a, &b] {
            let app = if std::ptr::eq(c, &a) { &ada } else { &ben };
            c.goto(&format!("http://127.0.0.1:{}/a/{id}/needs", app.port))
                .await
                .expect("needs");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (mut own, mut other) = (Vec::new(), Vec::new());
        for i in 0..bursts.min(20) {
            let text = format!("need {i}x");
            let wait = format!(
                "const done = arguments[arguments.length - 1]; const p = () => document.querySelector('[data-part=needs]');
                 const check = () => (p() && p().textContent.includes({w})) ? done(Date.now()) : setTimeout(check, 1); check();",
                w = serde_json::to_string(&text).expect("json")
            );
            let cli = async {
                // The pages' watchers are in place first; the time starts at the command's exit.
                tokio::time::sleep(Duration::from_millis(100)).await;
                run(ada_dir.path(), &["need", "add", &text]);
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock")
                    .as_millis() as f64
            };
            let (seen_a, seen_b, t0) = tokio::join!(
                a.execute_async(&wait, vec![]),
                b.execute_async(&wait, vec![]),
                cli
            );
            let at = |v: Result<serde_json::Value, _>| {
                let t1 = v.expect("seen").as_f64().expect("a time");
                Duration::from_secs_f64((t1 - t0).max(0.0) / 1e3)
            };
            own.push(at(seen_a));
            other.push(at(seen_b));
        }
        let _ = a.close().await;
        let _ = b.close().await;
        let _ = wd.kill();
        let _ = wd.wait();
        drop((ada, ben));
        let row = |measure, samples: &mut Vec<Duration>, p, note: String| {
            let d = percentile(samples, p);
            Row {
                measure,
                changes: 2,
                millis: ms(d),
                vs_view: d.as_secs_f64() / 0.3,
                peak_mib: None,
                bytes: None,
                note,
            }
        };
        let burst = format!(
            "{bursts} bursts of 5 keys; sent 40 ms after the first key; {per_burst:.2} changes per burst"
        );
        let cli = "from the command's exit; 20 needs".to_string();
        vec![
            row("keystroke burst to other page, p50", &mut samples, 50, burst.clone()),
            row("keystroke burst to other page, p99", &mut samples, 99, burst),
            row("CLI edit to own page, p50", &mut own, 50, cli.clone()),
            row("CLI edit to own page, p99", &mut own, 99, cli.clone()),
            row("CLI edit to other page, p50", &mut other, 50, cli.clone()),
            row("CLI edit to other page, p99", &mut other, 99, cli),
        ]
    })
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}
