//! The one test kit: the pinned clock, devices at each level (in memory: [`memory`]; real
//! stores and iroh endpoints: [`net`]; the real binary in temporary homes: [`Device`]), the
//! families they form, and waiting for something to happen ([`eventually`]).

pub mod memory;
pub mod net;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The one pinned clock of every test: 2026-11-24 10:00:00 UTC.
pub const NOW: i64 = 1_795_514_400;

/// `alliance` on `home` as every test runs it: see [`pin`].
pub fn alliance(home: &Path, seed: u64) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("alliance"));
    pin(&mut c, home, seed);
    c
}

/// Sets what every test's `alliance` process runs with: `home`, the clock pinned to [`NOW`],
/// randomness pinned to `seed` (give each process that runs at the same time its own),
/// loopback only, no relays, no editor.
pub fn pin<'c>(
    c: &'c mut std::process::Command,
    home: &Path,
    seed: u64,
) -> &'c mut std::process::Command {
    c.env("ALLIANCE_HOME", home)
        .env("ALLIANCE_TEST_NOW", NOW.to_string())
        .env("ALLIANCE_TEST_SEED", seed.to_string())
        .env("ALLIANCE_BIND", "127.0.0.1:0")
        .env("ALLIANCE_RELAY", "disabled")
        .env_remove("EDITOR")
        .env_remove("VISUAL")
}

/// One device: a temporary home with its own pinned random seed.
pub struct Device {
    pub dir: tempfile::TempDir,
    pub seed: u64,
}

impl Device {
    pub fn new(seed: u64) -> Self {
        Device {
            dir: tempfile::tempdir().unwrap(),
            seed,
        }
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// `alliance` with this device's home, a pinned clock and pinned randomness.
    pub fn cmd(&self) -> Command {
        Command::from_std(alliance(self.home(), self.seed))
    }

    /// Runs `alliance ARGS`, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "alliance {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `alliance --json ARGS`, asserts success, parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Runs `alliance ARGS`, asserts failure with `code`, returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "alliance {args:?}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// Adds something and returns the `id` it printed.
    pub fn add(&self, args: &[&str]) -> String {
        self.json(args)["id"].as_str().unwrap().to_string()
    }

    /// The one alliance directory of this device.
    pub fn alliance_dir(&self) -> PathBuf {
        let dir = self.home().join(alliance::store::layout::ALLIANCES_DIR);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .collect();
        assert_eq!(entries.len(), 1);
        entries.pop().unwrap()
    }

    /// A set-up device with one alliance founded by `name`.
    pub fn founder(seed: u64, name: &str, title: &str, role: &str) -> Self {
        let d = Device::new(seed);
        d.ok(&["init", "--name", name]);
        d.ok(&["new", title, "--role", role]);
        d
    }

    /// The texts of the needs, as `need list` shows them.
    pub fn needs(&self) -> Vec<String> {
        self.json(&["need", "list"])
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["text"].as_str().unwrap().to_string())
            .collect()
    }

    /// A fresh invite ticket from `alliance invite`.
    pub fn invite_ticket(&self) -> String {
        self.json(&["invite"])["ticket"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The device key printed by `whoami`.
    pub fn device_key(&self) -> String {
        self.json(&["whoami"])["device"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// Whether this run is CI: `CI` set to anything but the empty string (`.ci/run` sets `true`
/// unless it is already set; CI services set `true` or `1`). Under CI a test never skips.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Says that the running test cannot run here (`why`, with what to install) and returns, so
/// the test can return early: under CI ([`in_ci`]) it fails instead.
///
/// Where a person sees it: `cargo test` captures only what `print!`/`eprint!` write, so the
/// line is written to the process's stderr directly (shown by `cargo test` even when the test
/// passes), and also to the terminal (`/dev/tty`) when stderr is not one, as under nextest,
/// which captures each test process's stderr. The line starts with `SKIPPED` and names the
/// test, so `cargo test 2>&1 | grep SKIPPED` lists every skip of a run.
pub fn skip(why: &str) {
    use std::io::{IsTerminal, Write};
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    if in_ci() {
        panic!("{test} cannot run: {why}; CI must run every test (it is set up by .ci/run)");
    }
    let line = format!("SKIPPED {test}: {why} (under CI=1 this fails)\n");
    let stderr = std::io::stderr();
    let _ = stderr.lock().write_all(line.as_bytes());
    if !stderr.is_terminal()
        && let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty")
    {
        let _ = tty.write_all(line.as_bytes());
    }
}

/// Every file under `dir`, with its bytes, for "nothing was written" checks.
pub fn snapshot_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// A running `alliance serve` of a device; killed (SIGKILL) on drop unless stopped.
pub struct Serve {
    pub child: std::process::Child,
    pub addrs: Vec<String>,
}

impl Device {
    /// Starts `alliance serve --json` on 127.0.0.1 and waits for its announcement.
    pub fn serve(&self) -> Serve {
        self.serve_at("127.0.0.1:0")
    }

    /// Starts `alliance serve --json` bound to `bind` (a fixed port keeps the device's address
    /// across restarts) and waits for its announcement.
    pub fn serve_at(&self, bind: &str) -> Serve {
        let (child, v) = self.announced(bind, &["serve"]);
        Serve {
            child,
            addrs: strings(&v["addrs"]),
        }
    }

    /// Starts `alliance --json ARGS` bound to `bind` (a running device: `serve`, `keeper`,
    /// `app --no-open`) and reads the one line it announces itself with.
    pub fn announced(&self, bind: &str, args: &[&str]) -> (std::process::Child, serde_json::Value) {
        use std::io::BufRead;
        let mut child = alliance(self.home(), self.seed)
            .env("ALLIANCE_BIND", bind)
            .arg("--json")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("alliance {args:?} announces itself: {line:?}"));
        (child, v)
    }
}

/// A JSON array of strings.
fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// A running `alliance keeper` of a device (its keeper home is `HOME/keeper`); killed
/// (SIGKILL) on drop unless stopped.
pub struct Keeper {
    pub serve: Serve,
    /// The keeper ticket it printed.
    pub ticket: String,
}

impl Device {
    /// Starts `alliance --json keeper` bound to `bind` and waits for its first line (its
    /// ticket). `extra`: more arguments (`--idle 1`).
    pub fn keeper_at(&self, bind: &str, extra: &[&str]) -> Keeper {
        let mut args = vec!["keeper"];
        args.extend_from_slice(extra);
        let (child, v) = self.announced(bind, &args);
        Keeper {
            serve: Serve {
                child,
                addrs: strings(&v["addrs"]),
            },
            ticket: v["ticket"].as_str().unwrap().to_string(),
        }
    }
}

/// A running `alliance serve` as a person sees it (its plain-word lines, read as they come);
/// killed on drop.
pub struct Watched {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
    /// What it wrote to stderr so far.
    errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A UDP port on 127.0.0.1 that was free a moment ago (a fixed address for a device that
/// stops and starts again).
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Device {
    /// Writes this device's address book for its alliance: each device's key at an address
    /// (as it would have learnt them by syncing with each), replacing what it knew.
    pub fn knows_at(&self, peers: &[(&Device, &str)]) {
        let book: serde_json::Map<String, serde_json::Value> = peers
            .iter()
            .map(|(d, addr)| {
                (
                    d.device_key(),
                    serde_json::json!({ "addrs": [addr], "relay": null, "last_seen": null, "last_error": null }),
                )
            })
            .collect();
        std::fs::write(
            self.alliance_dir().join(alliance::store::layout::PEER_BOOK),
            serde_json::json!({ "peers": book }).to_string(),
        )
        .unwrap();
    }

    /// Starts `alliance serve` (not `--json`) and reads what it says.
    pub fn serve_watched(&self) -> Watched {
        self.serve_watched_at("127.0.0.1:0")
    }

    /// [`Device::serve_watched`] bound to `bind`.
    pub fn serve_watched_at(&self, bind: &str) -> Watched {
        self.watched_at(bind, &["serve"])
    }

    /// `alliance ARGS` (a running device: `serve`, `app --no-open`, `keeper`) bound to `bind`,
    /// read as a person reads its terminal; what it writes to stderr is kept too.
    pub fn watched_at(&self, bind: &str, args: &[&str]) -> Watched {
        use std::io::BufRead;
        let mut child = alliance(self.home(), self.seed)
            .env("ALLIANCE_BIND", bind)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let kept = errors.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                kept.lock().unwrap().push(line);
            }
        });
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let mut watched = Watched {
            child,
            lines,
            seen: Vec::new(),
            errors,
        };
        watched.wait_for("Press Ctrl-C to stop.");
        watched
    }
}

impl Watched {
    /// Every line it wrote to stderr so far.
    pub fn stderr(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) until serve has said a line containing `what`; returns every line so
    /// far.
    pub fn wait_for(&mut self, what: &str) -> &[String] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !self.seen.iter().any(|l| l.contains(what)) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!("serve never said '{what}': {:#?}", self.seen),
            }
        }
        &self.seen
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Sends SIGTERM and waits; returns whether it exited cleanly.
    pub fn stop(mut self) -> bool {
        let pid = self.child.id() as i32;
        unsafe_kill(pid, 15);
        let ok = self.child.wait().map(|s| s.success()).unwrap_or(false);
        std::mem::forget(self);
        ok
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_kill(pid: i32, sig: i32) {
    let _ = std::process::Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status();
}

/// Polls `f` every 20 ms until it holds or `secs` pass; returns whether it held.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(POLL);
    }
    f()
}

/// [`eventually`] for async tests: waits without blocking a runtime thread.
pub async fn eventually_async(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(POLL).await;
    }
    f()
}

/// How often [`eventually`] looks.
const POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// A change as a modified member client makes it: `f`'s operations on `doc` as it was at
/// `heads`, under `actor`, signed with the device's real `key` (its signature and author are
/// genuine; only the rules can refuse it).
pub fn forge(
    doc: &automerge::Automerge,
    heads: &[automerge::ChangeHash],
    actor: automerge::ActorId,
    key: &alliance::core::DeviceKey,
    time: i64,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &automerge::Automerge),
) -> alliance::core::SignedChange<alliance::core::Unverified> {
    use automerge::transaction::CommitOptions;
    let mut doc = doc.fork_at(heads).expect("heads of this document");
    let before = doc.clone();
    doc.set_actor(actor);
    let mut tx = doc.transaction();
    f(&mut tx, &before);
    tx.commit_with(
        CommitOptions::default()
            .with_time(time)
            .with_message("forged by a modified client".to_string()),
    );
    let change = doc
        .get_last_local_change()
        .expect("the forged change")
        .clone();
    let sig = key.sign_change(&change.hash());
    alliance::core::SignedChange::from_bytes(change.raw_bytes().to_vec(), &sig.to_bytes()).unwrap()
}

/// One HTTP/1.1 exchange over a plain socket to 127.0.0.1:`port`, every header as given: the
/// status, the head (lower-cased) and the body.
pub fn http(port: u16, request: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_lowercase(), body.to_string())
}

/// The page's session cookie (its value) set in a response's `head`.
pub fn session_cookie(head: &str) -> String {
    head.split("alliance_session=")
        .nth(1)
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}
