//! Progress on long work: what the library reports as a sync goes (data, no terminal), and what
//! the real binary draws with it: a bar on a terminal only, nothing in pipes, with `--json` or
//! with `-q`.

use std::sync::{Arc, Mutex};

use crate::kit::net::{Dev, introduce, now};
use crate::kit::{Device, pin};
use alliance::core::DeviceId;
use alliance::net::node::{join_reporting, save_join};
use alliance::net::session::{OnProgress, SyncProgress};

/// Every step a progress sink heard, in order.
type Heard = Arc<Mutex<Vec<(DeviceId, SyncProgress)>>>;

/// A progress sink that keeps every step it hears.
fn recorder() -> (OnProgress, Heard) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let on: OnProgress = Arc::new(move |d, p| sink.lock().unwrap().push((d, p)));
    (on, seen)
}

/// The `Received` counts in order.
fn received(steps: &[(DeviceId, SyncProgress)]) -> Vec<usize> {
    steps
        .iter()
        .filter_map(|(_, p)| match p {
            SyncProgress::Received { received } => Some(*received),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_and_a_sync_report_what_is_verified_and_how_many_changes_arrived() {
    let ada = Dev::new(1, "Ada");
    ada.found("Counting");
    ada.edit(|r, w, e| {
        for i in 0..300 {
            r.add_need(w, e, &format!("need {i}")).unwrap();
        }
    });
    let total = ada
        .home
        .open(&ada.id(), alliance::store::LockMode::Shared)
        .unwrap()
        .replica()
        .len();
    assert!(total > 300);

    // A join: the whole alliance arrives as one document; every change of it is verified at
    // once, then counted as received.
    let node = ada.node().await;
    let ben = Dev::new(2, "Ben");
    let ticket = ada.invite(&node, [51; 32], 3600);
    let temp = ben.node().await;
    let (on, seen) = recorder();
    let (replica, report, addrs) =
        join_reporting(&temp.endpoint, &ticket, "Ben", temp.addrs(), Some(on))
            .await
            .unwrap();
    temp.shutdown().await;
    save_join(&ben.home, &replica, &node.device(), &addrs, now()).unwrap();
    let steps = seen.lock().unwrap().clone();
    assert!(steps.iter().all(|(d, _)| *d == node.device()), "{steps:?}");
    assert!(
        steps.contains(&(
            node.device(),
            SyncProgress::Checking {
                received: 0,
                checking: report.received
            }
        )),
        "{steps:?}"
    );
    assert_eq!(received(&steps).last(), Some(&report.received));
    // Everything Ada's device held, and the change that admitted Ben.
    assert_eq!(report.received, total + 1);
    node.shutdown().await;

    // A sync of 200 new changes: they travel one by one; the counts only grow, each frame's
    // changes are announced before they are verified, and the last count is what arrived.
    ada.edit(|r, w, e| {
        for i in 0..200 {
            r.add_need(w, e, &format!("later need {i}")).unwrap();
        }
    });
    let (na, nb) = (ada.node().await, ben.node().await);
    introduce(&nb, &na);
    let (on, seen) = recorder();
    let shared = nb.listener.alliances()[0].clone();
    let outcomes = nb
        .sync_once_reporting(&shared, Some(&[ada.key().device_id()]), Some(on))
        .await
        .unwrap();
    let report = outcomes[0].result.as_ref().unwrap();
    assert_eq!(report.received, 200);
    let steps = seen.lock().unwrap().clone();
    let counts = received(&steps);
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
    assert_eq!(counts.last(), Some(&200));
    // Each announcement says how many had arrived before it, and all of them cover the 200.
    let mut so_far = 0;
    let mut announced = 0;
    for (_, p) in &steps {
        match *p {
            SyncProgress::Checking { received, checking } => {
                assert_eq!(received, so_far, "{steps:?}");
                announced += checking;
            }
            SyncProgress::Received { received } => so_far = received,
            SyncProgress::Arriving { .. } => {}
        }
    }
    assert!(announced >= 200, "{steps:?}");
    na.shutdown().await;
    nb.shutdown().await;
}

#[tokio::test]
async fn a_large_frame_reports_its_bytes_as_they_arrive() {
    use alliance::constants::MAX_FRAME_BYTES;
    use alliance::core::sync::SyncMessage;
    use alliance::net::wire::{Frame, OBSERVED_FRAME_BYTES, read_frame_observed, write_frame};
    let big = Frame::Sync(SyncMessage {
        message: (0..3 * OBSERVED_FRAME_BYTES)
            .map(|i| (i * 7919 % 251) as u8)
            .collect(),
        signatures: vec![],
        changes: 0,
    });
    let small = Frame::Done;
    let mut buf = Vec::new();
    write_frame(&mut buf, &big).await.unwrap();
    write_frame(&mut buf, &small).await.unwrap();
    let mut r = buf.as_slice();
    let mut steps = Vec::new();
    let got = read_frame_observed(&mut r, MAX_FRAME_BYTES, &mut |b, of| steps.push((b, of)))
        .await
        .unwrap();
    assert_eq!(got, big);
    let of = steps[0].1;
    assert!(of > 3 * OBSERVED_FRAME_BYTES);
    assert_eq!(steps.first(), Some(&(0, of)));
    assert_eq!(steps.last(), Some(&(of, of)));
    assert!(steps.windows(2).all(|w| w[0].0 < w[1].0 && w[1].1 == of));
    // A small frame says nothing.
    let mut steps = Vec::new();
    let got = read_frame_observed(&mut r, MAX_FRAME_BYTES, &mut |b, of| steps.push((b, of)))
        .await
        .unwrap();
    assert_eq!(got, small);
    assert!(steps.is_empty());
}

/// Ada's alliance with `n` needs, and a bundle of it.
fn alliance_with_a_bundle(n: usize) -> (Device, std::path::PathBuf) {
    let ada = Device::founder(31, "Ada", "The Okafors", "parent");
    for i in 0..n {
        ada.ok(&["need", "add", &format!("need {i}")]);
    }
    let bundle = ada.home().join("family.bundle");
    ada.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    (ada, bundle)
}

/// Runs `alliance ARGS` on `d` and returns (stdout, stderr), asserting success.
fn piped(d: &Device, args: &[&str]) -> (String, String) {
    let out = d.cmd().args(args).output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(out.status.success(), "alliance {args:?}: {stderr}");
    (stdout, stderr)
}

#[test]
fn nothing_extra_in_pipes_with_json_or_with_quiet() {
    let (ada, bundle) = alliance_with_a_bundle(3);
    let _serve = ada.serve();
    let bundle = bundle.to_str().unwrap();
    for (seed, flags) in [(41, &[][..]), (42, &["--json"][..]), (43, &["-q"][..])] {
        let ben = Device::new(seed);
        let ticket = ada.invite_ticket();
        let mut join = flags.to_vec();
        join.extend(["join", ticket.as_str(), "--name", "Ben"]);
        let (stdout, stderr) = piped(&ben, &join);
        assert_eq!(stderr, "", "join {flags:?}");
        assert!(
            !stdout.contains('\r') && !stdout.contains('\u{1b}'),
            "{stdout:?}"
        );
        let mut sync = flags.to_vec();
        sync.push("sync");
        let (stdout, stderr) = piped(&ben, &sync);
        assert_eq!(stderr, "", "sync {flags:?}");
        assert!(
            !stdout.contains('\r') && !stdout.contains('\u{1b}'),
            "{stdout:?}"
        );
        let mut import = flags.to_vec();
        import.extend(["bundle", "import", bundle]);
        let (stdout, stderr) = piped(&ben, &import);
        assert_eq!(stderr, "", "bundle import {flags:?}");
        assert!(
            !stdout.contains('\r') && !stdout.contains('\u{1b}'),
            "{stdout:?}"
        );
        if flags == ["--json"] {
            serde_json::from_str::<serde_json::Value>(&stdout).unwrap();
        }
    }
}

/// Runs `alliance ARGS` on `d` inside a pseudo-terminal (util-linux `script`), so stdout and
/// stderr are a terminal; returns what the terminal received.
fn on_a_terminal(d: &Device, args: &[&str]) -> Option<String> {
    let found = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        crate::kit::skip(
            "util-linux `script` is not installed (it gives the command a terminal; \
             apt-get install -y bsdutils)",
        );
        return None;
    }
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let bin = assert_cmd::cargo::cargo_bin("alliance");
    let mut line = quote(bin.to_str().unwrap());
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let mut c = std::process::Command::new("script");
    pin(&mut c, d.home(), d.seed);
    let out = c
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "alliance {args:?} on a terminal: {text}"
    );
    Some(text)
}

#[test]
fn on_a_terminal_a_join_and_a_bundle_import_show_their_progress_and_quiet_or_json_do_not() {
    let (ada, bundle) = alliance_with_a_bundle(3);
    let bundle = bundle.to_str().unwrap();
    // A bundle import (here: the founder's own bundle, all of it already there).
    let Some(shown) = on_a_terminal(&ada, &["bundle", "import", bundle]) else {
        return;
    };
    assert!(shown.contains("Verifying "), "{shown:?}");
    assert!(shown.contains(" signed change(s) from "), "{shown:?}");
    assert!(
        shown.contains("Verified and merged 0 new change(s)"),
        "{shown:?}"
    );
    let quiet = on_a_terminal(&ada, &["-q", "bundle", "import", bundle]).unwrap();
    assert!(!quiet.contains("Verifying"), "{quiet:?}");
    assert!(quiet.contains("Verified and merged"), "{quiet:?}");
    let json = on_a_terminal(&ada, &["--json", "bundle", "import", bundle]).unwrap();
    assert!(!json.contains("Verifying"), "{json:?}");
    serde_json::from_str::<serde_json::Value>(json.trim()).unwrap();

    // A join: what arrives from the inviting device is verified, and says so.
    let _serve = ada.serve();
    let ben = Device::new(46);
    let ticket = ada.invite_ticket();
    let shown = on_a_terminal(&ben, &["join", &ticket, "--name", "Ben"]).unwrap();
    assert!(
        shown.contains("change(s) from the inviting device"),
        "{shown:?}"
    );
    assert!(shown.contains("Joined \"The Okafors\""), "{shown:?}");
    let chioma = Device::new(47);
    let ticket = ada.invite_ticket();
    let quiet = on_a_terminal(&chioma, &["-q", "join", &ticket, "--name", "Chioma"]).unwrap();
    assert!(!quiet.contains("inviting device"), "{quiet:?}");
    assert!(quiet.contains("Joined"), "{quiet:?}");
}
