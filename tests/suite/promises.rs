//! Smaller promises the README makes, each checked where a person meets it: the real binary in
//! temporary homes (arguments that are not text, JSON that scripts read, `log --who` for
//! someone removed, `diff` of an appended line, log lines without colour in files, a second
//! `alliance app`, the test hooks left out of real builds) and the page over plain HTTP (the
//! printable view, bidirectional controls, store errors in words).

use std::ffi::OsString;
use std::io::{BufRead, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::kit::{Device, alliance};
use crate::kit::{http, session_cookie};

/// The bytes ff fe fd: not UTF-8 in any position.
fn not_text() -> OsString {
    OsString::from_vec(vec![0xff, 0xfe, 0xfd])
}

/// Every command path of the CLI (`["need", "add"]`, ...), from its own definition.
fn leaf_commands() -> Vec<(Vec<String>, clap::Command)> {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
        let subs: Vec<_> = cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .collect();
        if subs.is_empty() {
            out.push((path, cmd.clone()));
            return;
        }
        for s in subs {
            let mut p = path.clone();
            p.push(s.get_name().to_string());
            walk(s, p, out);
        }
    }
    let mut cmd = alliance::cli::Cli::command();
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, Vec::new(), &mut out);
    out
}

/// Runs `alliance ARGS` in `cwd` (files a command writes land there), stopped after a minute.
fn run_os(d: &Device, cwd: &Path, args: &[OsString]) -> (Option<i32>, String) {
    let mut child = alliance(d.home(), d.seed)
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let mut code = None;
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            code = Some(status.code());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if code.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stderr = reader.join().unwrap();
    (code.flatten(), stderr)
}

#[test]
fn arguments_that_are_not_utf8_get_a_clear_error_from_every_command() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    let log = ada
        .alliance_dir()
        .join(alliance::store::layout::CHANGES_LOG);
    let before = std::fs::read(&log).unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let bad = not_text();
    let mut runs = 0;
    for (path, cmd) in leaf_commands() {
        let words: Vec<OsString> = path.iter().map(OsString::from).collect();
        // The bytes as the command's first positional argument (or an unexpected one), then as
        // the value of each of its options.
        let mut tries: Vec<Vec<OsString>> = vec![[words.clone(), vec![bad.clone()]].concat()];
        for arg in cmd.get_arguments() {
            let takes_value = arg.get_action().takes_values();
            if arg.is_global_set() || arg.is_positional() || !takes_value {
                continue;
            }
            // `demo --keep DIR` would run the whole demo in a directory of that name.
            if path == ["demo"] {
                continue;
            }
            if let Some(long) = arg.get_long() {
                let mut t = words.clone();
                t.push(format!("--{long}").into());
                t.push(bad.clone());
                tries.push(t);
            }
        }
        for args in tries {
            runs += 1;
            let (code, stderr) = run_os(&ada, cwd.path(), &args);
            assert!(
                code.is_some() && code != Some(101) && !stderr.contains("panicked"),
                "alliance {args:?} ended with {code:?}: {stderr}"
            );
        }
    }
    // The global options too, once.
    for opt in ["--alliance", "--lookup", "--relay", "--bind"] {
        let args: Vec<OsString> = vec!["list".into(), opt.into(), bad.clone()];
        let (code, stderr) = run_os(&ada, cwd.path(), &args);
        assert_eq!(code, Some(2), "alliance {args:?}: {stderr}");
    }
    assert!(runs > 60, "only {runs} runs");
    // The issue's example: the bytes as a need. A clear error, exit 2, nothing written.
    let args: Vec<OsString> = vec!["need".into(), "add".into(), bad.clone()];
    let (code, stderr) = run_os(&ada, cwd.path(), &args);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("not valid UTF-8 text") && stderr.contains("Usage: alliance need add"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&log).unwrap(), before, "nothing written");
    assert!(ada.needs().is_empty());
}

/// Writes `text` as a new need of the device's person, signed by its key, the way an older
/// version or a modified client could (today's `alliance` refuses such text).
fn raw_need(d: &Device, id: &str, text: &str) {
    crate::cli_review::signed_raw_edit(d, |doc| {
        use automerge::transaction::Transactable;
        use automerge::{ObjType, ROOT, ReadDoc};
        let (_, members) = doc.get(ROOT, "members").unwrap().unwrap();
        let owner = doc.keys(&members).next().unwrap();
        let (_, needs) = doc.get(ROOT, "needs").unwrap().unwrap();
        let mut tx = doc.transaction();
        let n = tx.put_object(&needs, id, ObjType::Map).unwrap();
        tx.put(&n, "owner", owner.as_str()).unwrap();
        tx.put(&n, "text", text).unwrap();
        tx.put(&n, "created_at", crate::kit::NOW).unwrap();
        tx.commit().0.unwrap()
    });
}

/// Every kind of odd character a document can hold: bidirectional controls and marks, an
/// escape sequence, DEL and a C1 control, a carriage return, quotes and backslashes, emoji,
/// right-to-left script.
const ODD: &str = "Ada \u{202e}live\u{202c} \u{2066}x\u{2069} \u{200f}\u{61c} \u{1b}[31m \u{7f}\u{85}\u{9b} \r \"q\" \\ 🌻 שלום";

#[test]
fn every_json_output_is_valid_json_whatever_the_document_holds() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    // What the CLI still takes (everything but the bidirectional controls)...
    let typed: String = ODD
        .chars()
        .filter(|&c| !alliance::core::text::is_bidi_control(c))
        .collect();
    let need = ada.add(&["need", "add", &typed]);
    ada.ok(&["plan", "add", "--when", &typed, "--how", &typed]);
    ada.ok(&["expect", "add", &typed]);
    ada.ok(&["vision", "set", &format!("one\n{typed}")]);
    // ... and what an older or modified client could sign.
    raw_need(&ada, "nzzz8", ODD);
    let runs: &[&[&str]] = &[
        &["show"],
        &["log"],
        &["status"],
        &["diff"],
        &["whoami"],
        &["list"],
        &["member", "list"],
        &["device", "list"],
        &["need", "list"],
        &["plan", "list"],
        &["expect", "list"],
        &["checkin", "list"],
        &["vision", "show"],
        &["history", &need],
        &["history", "nzzz8"],
        &["blame", "vision"],
        &["verify"],
        &["peers"],
        &["invite", "list"],
        &["export", "--format", "json", "--history"],
    ];
    for args in runs {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = ada.ok(&all);
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("alliance {all:?} printed no JSON ({e}): {out}"));
        // The characters that would restyle a terminal are JSON escapes, never raw.
        assert!(
            !out.chars().any(alliance::core::text::is_unsafe),
            "alliance {all:?}: {out:?}"
        );
        let _ = v;
    }
    // And a script reads back exactly what is stored.
    let needs = ada.json(&["need", "list"]);
    let texts: Vec<&str> = needs
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&ODD), "{texts:?}");
    assert!(texts.contains(&typed.as_str()), "{texts:?}");
    // Errors with --json are JSON too.
    let out = ada
        .cmd()
        .args(["--json", "history", "nzzz6"])
        .output()
        .unwrap();
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert!(err["error"].is_string());
}

#[test]
fn bidi_controls_are_refused_in_what_people_write() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    let need = ada.add(&["need", "add", "a walk"]);
    let rlo = "Ada \u{202e}live";
    for args in [
        &["need", "add", rlo][..],
        &["need", "edit", &need, rlo],
        &["plan", "add", "--when", rlo, "--how", "home"],
        &[
            "plan", "add", "--when", "Sunday", "--how", "home", "--agenda", rlo,
        ],
        &["expect", "add", rlo],
        &["vision", "set", rlo],
        &["new", rlo],
        &["member", "add", "Ben", "--role", rlo],
    ] {
        let err = ada.fails(args, 1);
        assert!(
            err.contains("\\u{202e}") && err.contains("type it without"),
            "alliance {args:?}: {err}"
        );
    }
    assert_eq!(ada.needs(), ["a walk"]);
    assert_eq!(ada.json(&["vision", "show"])["vision"], "");
}

#[test]
fn log_who_finds_a_person_after_they_were_removed() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    let tunde = Device::new(2);
    tunde.ok(&["init", "--name", "Tunde"]);
    ada.ok(&[
        "member",
        "add",
        "Tunde",
        "--role",
        "uncle",
        "--device",
        &tunde.device_key(),
    ]);
    let path = ada.home().join("to-tunde.bundle");
    ada.ok(&["bundle", "export", path.to_str().unwrap()]);
    tunde.ok(&["bundle", "import", path.to_str().unwrap()]);
    tunde.ok(&["need", "add", "Sunday calls"]);
    let path = tunde.home().join("to-ada.bundle");
    tunde.ok(&["bundle", "export", path.to_str().unwrap()]);
    ada.ok(&["bundle", "import", path.to_str().unwrap()]);
    ada.ok(&["member", "remove", "Tunde", "--yes"]);

    for who in ["Tunde", "tunde"] {
        let log = ada.json(&["log", "--who", who]);
        let what: Vec<&str> = log
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["summary"].as_str().unwrap())
            .collect();
        assert_eq!(what.len(), 1, "{log:#}");
        assert!(what[0].contains("Sunday calls"), "{log:#}");
    }
    let text = ada.ok(&["log", "--who", "Tunde"]);
    assert!(text.contains("Sunday calls"), "{text}");
    let err = ada.fails(&["log", "--who", "Zoe"], 1);
    assert!(err.contains("Tunde (removed)"), "{err}");
}

#[test]
fn diff_of_an_appended_line_names_only_the_new_line() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    ada.ok(&[
        "vision",
        "set",
        "We listen.\nWe say sorry.\nWe walk.\nWe laugh.",
    ]);
    ada.ok(&["seen"]);
    ada.ok(&[
        "vision",
        "set",
        "We listen.\nWe say sorry.\nWe walk.\nWe laugh.\nWe rest.",
    ]);
    let diff = ada.ok(&["diff"]);
    assert!(diff.contains("added line 5: \"We rest.\""), "{diff}");
    assert!(!diff.contains("line 4"), "{diff}");
    let log = ada.ok(&["log", "--kind", "vision", "-n", "1"]);
    assert!(log.contains("added line 5"), "{log}");
    assert!(!log.contains("line 4"), "{log}");
}

#[test]
fn log_lines_in_a_file_or_pipe_carry_no_colour() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = alliance(ada.home(), ada.seed)
        .args(["--json", "serve", "-v"])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .stdout(Stdio::piped())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("addrs"), "{line}");
    // Ben joins: Ada's node logs the session (`serve -v`).
    let ticket = ada.invite_ticket();
    let ben = Device::new(2);
    ben.ok(&["join", &ticket, "--name", "Ben"]);
    assert!(crate::kit::eventually(20, || {
        std::fs::read_to_string(log.path()).is_ok_and(|t| t.contains("session ended"))
    }));
    let _ = Command::new("kill")
        .args(["-15", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

#[test]
fn a_release_build_ignores_the_test_seed_and_clock() {
    // The hooks are a feature that only the tests' dev-dependency on the crate turns on: a
    // normal build (`cargo build --release`, `cargo install`) resolves without it.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let features = |edges: &str| {
        let out = Command::new(&cargo)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["tree", "--offline", "-i", "alliance", "-e", edges])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let release = features("normal,build,features");
    assert!(!release.contains("test-hooks"), "{release}");
    let tests = features("normal,build,dev,features");
    assert!(tests.contains("test-hooks"), "{tests}");
    // Without the hooks, the variables are not read at all.
    assert!(alliance::system::test_var("PATH", false).is_none());
    assert!(alliance::system::test_var("PATH", true).is_some());
}

/// A running `alliance app --no-open` (stopped on drop), and its session cookie.
struct Page {
    child: std::process::Child,
    port: u16,
    cookie: String,
}

impl Drop for Page {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Page {
    fn open(d: &Device, log: Stdio) -> Page {
        let mut child = alliance(d.home(), d.seed)
            .args(["--json", "app", "--no-open"])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).expect("the app prints its link");
        let url = v["url"].as_str().unwrap().to_string();
        let rest = url.trim_start_matches("http://127.0.0.1:");
        let port: u16 = rest.split('/').next().unwrap().parse().unwrap();
        let path = &rest[rest.find('/').unwrap()..];
        let host = format!("127.0.0.1:{port}");
        let (s, head, _) = http(
            port,
            &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(s, 303, "{head}");
        let session = session_cookie(&head);
        Page {
            child,
            port,
            cookie: format!("alliance_session={session}"),
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        let (s, _, body) = http(
            self.port,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: {}\r\nConnection: close\r\n\r\n",
                self.port, self.cookie
            ),
        );
        (s, body)
    }

    /// A form sent as the page's script sends it (session cookie, `Origin`, CSRF header).
    fn post(&self, path: &str, form: &str) -> (u16, String) {
        let (_, session) = self.get("/session");
        let v: serde_json::Value = serde_json::from_str(&session).unwrap();
        let csrf = v["csrf"].as_str().unwrap();
        let (s, _, body) = http(
            self.port,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {}\r\nOrigin: http://127.0.0.1:{port}\r\nX-Alliance-CSRF: {csrf}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
                self.cookie,
                form.len(),
                port = self.port,
            ),
        );
        (s, body)
    }
}

fn alliance_id(d: &Device) -> String {
    alliance::store::Home::new(d.home()).alliance_ids().unwrap()[0].to_string()
}

#[test]
fn the_printable_page_never_turns_what_people_wrote_into_links_or_markup() {
    let ada = Device::founder(1, "Ada", "Family *and* friends", "parent");
    ada.ok(&["need", "add", "[text](https://example.com)"]);
    ada.ok(&[
        "need",
        "add",
        "![x](https://example.com/p.png) <https://example.org> **loud**",
    ]);
    ada.ok(&[
        "expect",
        "add",
        "see [this](https://example.net) | and `code`",
    ]);
    ada.ok(&[
        "vision",
        "set",
        "# Not a heading\n1. not a list\n    not code",
    ]);
    let page = Page::open(&ada, Stdio::null());
    let (s, body) = page.get(&format!("/a/{}/print", alliance_id(&ada)));
    assert_eq!(s, 200);
    let article = body.split("<article>").nth(1).unwrap();
    for markup in [
        "<a ",
        "<img",
        "<strong>loud",
        "<em>and",
        "<code>",
        "<h1>Not",
        "<ol",
        "<pre",
    ] {
        assert!(!article.contains(markup), "{markup} in {article}");
    }
    for typed in [
        "[text](https://example.com)",
        "**loud**",
        "see [this](https://example.net) | and `code`",
        "# Not a heading",
        "1. not a list",
        "Family *and* friends",
    ] {
        let html = typed.replace('<', "&lt;").replace('>', "&gt;");
        assert!(
            article.contains(&html),
            "{typed} not shown as typed in {article}"
        );
    }
}

#[test]
fn the_page_shows_a_bidi_control_in_a_need_as_stored() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    raw_need(&ada, "nzzz7", "Ada \u{202e}live");
    let page = Page::open(&ada, Stdio::null());
    let id = alliance_id(&ada);
    for path in [format!("/a/{id}/needs"), format!("/a/{id}/print")] {
        let (s, body) = page.get(&path);
        assert_eq!(s, 200, "{path}");
        assert!(!body.contains('\u{202e}'), "{path} holds the raw override");
        assert!(body.contains("Ada \\u{202e}live"), "{path}: {body}");
    }
    let (_, needs) = page.get(&format!("/a/{id}/needs"));
    assert!(needs.contains("<bdi>Ada \\u{202e}live</bdi>"), "{needs}");
}

#[test]
fn a_store_error_on_the_page_is_said_in_words_and_its_details_go_to_the_log() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    for need in ["a walk", "a nap", "a call", "a book"] {
        ada.ok(&["need", "add", need]);
    }
    let log = tempfile::NamedTempFile::new().unwrap();
    let page = Page::open(&ada, Stdio::from(log.reopen().unwrap()));
    let id = alliance_id(&ada);
    // The alliance's change log damaged in the middle, behind the page's back.
    let dir = ada.alliance_dir();
    let file = dir.join(alliance::store::layout::CHANGES_LOG);
    let mut bytes = std::fs::read(&file).unwrap();
    assert!(bytes.len() > 64, "a change log to damage");
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid - 8..mid + 8] {
        *b ^= 0x5a;
    }
    bytes.push(0); // grown, so the page's device reads it again
    std::fs::write(&file, &bytes).unwrap();
    let (s, body) = page.get(&format!("/a/{id}/needs"));
    assert_eq!(s, 500, "{body}");
    let home = ada.home().to_string_lossy().to_string();
    assert!(!body.contains(&home), "a path on the page: {body}");
    assert!(
        body.contains("Part of this alliance's files on this device is damaged"),
        "{body}"
    );
    drop(page);
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        logged.contains(&home),
        "the details in the app's log: {logged}"
    );
    assert!(!logged.contains('\u{1b}'), "colour in a file: {logged:?}");
}

/// Issue 25: an edit from the page that meets a damaged store is the store's error (500), said
/// in words without a path, and changes nothing; the details go to the app's log.
#[test]
fn a_page_edit_that_meets_a_damaged_store_answers_500_in_words_and_writes_nothing() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    for need in ["a walk", "a nap", "a call", "a book"] {
        ada.ok(&["need", "add", need]);
    }
    let log = tempfile::NamedTempFile::new().unwrap();
    let page = Page::open(&ada, Stdio::from(log.reopen().unwrap()));
    let id = alliance_id(&ada);
    // The alliance's change log damaged in the middle, behind the page's back.
    let file = ada
        .alliance_dir()
        .join(alliance::store::layout::CHANGES_LOG);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid - 8..mid + 8] {
        *b ^= 0x5a;
    }
    bytes.push(0); // grown, so the page's device reads it again
    std::fs::write(&file, &bytes).unwrap();
    let (s, body) = page.post(&format!("/a/{id}/do/need-add"), "text=time+alone");
    assert_eq!(s, 500, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{body}"));
    assert_eq!(v["ok"], false);
    let message = v["message"].as_str().unwrap();
    assert!(
        message.contains("Part of this alliance's files on this device is damaged"),
        "{message}"
    );
    let home = ada.home().to_string_lossy().to_string();
    assert!(!body.contains(&home), "a path on the page: {body}");
    drop(page);
    assert_eq!(std::fs::read(&file).unwrap(), bytes, "nothing was written");
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        logged.contains(&home),
        "the details in the app's log: {logged}"
    );
}

#[test]
fn a_second_app_opens_only_a_link_to_its_own_page() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    // A node runs (it holds the home), and the remembered page port is now answered by another
    // program, with the right key even, which sends the browser elsewhere.
    let serve = ada.serve();
    let fake = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = fake.local_addr().unwrap().port();
    alliance::store::Home::new(ada.home())
        .save_app_file(&alliance::store::AppFile {
            port,
            pid: std::process::id(),
            key: "k".repeat(64),
            reminders: false,
        })
        .unwrap();
    let server = std::thread::spawn(move || {
        if let Ok((mut s, _)) = fake.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = r#"{"url":"https://evil.example/login?token=00"}"#;
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    // The browser, as webbrowser starts it on Linux ($BROWSER), records what it is given.
    let dir = tempfile::tempdir().unwrap();
    let opened = dir.path().join("opened");
    let browser = dir.path().join("browser");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", opened.display()),
    )
    .unwrap();
    Command::new("chmod")
        .args(["755", browser.to_str().unwrap()])
        .status()
        .unwrap();
    let out = ada
        .cmd()
        .args(["app"])
        .env("BROWSER", &browser)
        .env("DISPLAY", ":0")
        .output()
        .unwrap();
    server.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains("evil.example"), "{stdout}");
    assert!(
        !opened.exists(),
        "a browser was opened on {:?}",
        std::fs::read_to_string(&opened)
    );
    assert_eq!(out.status.code(), Some(1), "{stdout} {stderr}");
    drop(serve);
}
