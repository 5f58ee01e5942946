//! The real binary: a start that fits who you are (`new --for`, `prompts`), readers
//! (`invite --reader`, `member list`), the calendar (`export --format ics`, read back by the
//! `ical` crate's parser) and the open export (`export --format automerge`, read back by
//! Automerge's JavaScript implementation under node).

use std::path::Path;

use crate::kit::{Device, in_ci, skip};

#[test]
fn founding_for_coaching_sets_the_questions_every_step_asks() {
    let d = Device::new(1);
    d.ok(&["init", "--name", "Sam"]);
    let made = d.ok(&[
        "new",
        "Coaching: Sam & Alex",
        "--role",
        "coach",
        "--for",
        "coaching",
    ]);
    let made = made.replace(&d.json(&["list"])[0]["id"].as_str().unwrap()[..12], "ID");
    insta::assert_snapshot!("new_for_coaching", made);
    insta::assert_snapshot!("prompts_coaching", d.ok(&["prompts"]));
    let two = d.json(&["prompts", "2"]);
    assert_eq!(two["start"], "coaching");
    assert_eq!(two["steps"].as_array().unwrap().len(), 1);
    assert!(
        two["steps"][0]["examples"][0]
            .as_str()
            .unwrap()
            .contains("first session")
    );
    // The choice is in the document: the JSON export carries it.
    assert_eq!(d.json(&["export", "--format", "json"])["start"], "coaching");
    // Nothing the founder did not choose was written: no need, no session, no vision.
    let show = d.json(&["export", "--format", "json"]);
    assert!(show["needs"].as_array().unwrap().is_empty());
    assert!(show["plan"].as_array().unwrap().is_empty());
    assert_eq!(show["vision"], "");
    let err = d.fails(&["prompts", "9"], 1);
    assert!(err.contains("the steps are 1 to 4"), "{err}");
}

#[test]
fn a_starting_point_that_does_not_exist_is_refused_with_the_three_that_do() {
    let d = Device::new(2);
    d.ok(&["init", "--name", "Ada"]);
    let err = d.fails(&["new", "The Okafors", "--for", "club"], 2);
    assert!(err.contains("family, coaching or team"), "{err}");
    // Without --for: a family, whose step 1 asks what you need at this time.
    let made = d.ok(&["new", "The Okafors"]);
    assert!(made.contains("for a family at home"), "{made}");
    assert!(
        made.contains("What do you need from the others at this time"),
        "{made}"
    );
}

#[test]
fn a_reader_joins_sees_everything_is_listed_as_a_reader_and_cannot_write() {
    let ada = Device::founder(3, "Ada", "The Okafor family", "parent");
    ada.ok(&["need", "add", "quiet mornings"]);
    let _serve = ada.serve();
    let invite = ada.json(&["invite", "--reader", "--role", "grandparent"]);
    assert_eq!(invite["reader"], true);
    let gran = Device::new(4);
    gran.json(&["join", invite["ticket"].as_str().unwrap(), "--name", "Gran"]);
    assert_eq!(gran.needs(), ["quiet mornings"], "a reader sees everything");
    let members = ada.json(&["member", "list"]);
    let g = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "Gran")
        .unwrap();
    assert_eq!(g["reader"], true);
    assert!(ada.ok(&["member", "list"]).contains("grandparent (reader)"));
    assert!(ada.ok(&["invite", "list"]).contains("grandparent (reader)"));
    // The reader's device refuses to sign, and says why and whom to ask.
    let err = gran.fails(&["need", "add", "visits on Sundays"], 1);
    assert!(
        err.contains("you are a reader here") && err.contains("Ada"),
        "{err}"
    );
    let err = gran.fails(&["vision", "set", "Gran decides"], 1);
    assert!(err.contains("reader"), "{err}");
    assert_eq!(gran.needs(), ["quiet mornings"]);
}

/// A property's values in `event`, by name.
fn props<'a>(event: &'a ical::parser::ical::component::IcalEvent, name: &str) -> Vec<&'a str> {
    event
        .properties
        .iter()
        .filter(|p| p.name == name)
        .filter_map(|p| p.value.as_deref())
        .collect()
}

fn param(
    event: &ical::parser::ical::component::IcalEvent,
    name: &str,
    key: &str,
) -> Option<String> {
    event
        .properties
        .iter()
        .find(|p| p.name == name)?
        .params
        .as_ref()?
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.join(","))
}

fn unescape(s: &str) -> String {
    s.replace("\\n", "\n")
        .replace("\\,", ",")
        .replace("\\;", ";")
        .replace("\\\\", "\\")
}

#[test]
fn the_calendar_file_holds_the_sessions_at_their_times_and_the_check_in_cadence() {
    // The kit's clock: 2026-11-24 (a Tuesday).
    let ada = Device::founder(5, "Ada", "The Okafor family", "parent");
    let long_agenda = "needs first, then the vision; bring the list, the calendar, and \
                       patience: we read each need aloud and nobody answers until it is read";
    let dated = ada.add(&[
        "plan",
        "add",
        "--when",
        "2026-12-12 19:00",
        "--how",
        "date night at home",
        "--agenda",
        long_agenda,
    ]);
    let weekday = ada.add(&[
        "plan",
        "add",
        "--when",
        "Saturday 10am",
        "--how",
        "a call with Gran",
    ]);
    let vague = ada.add(&["plan", "add", "--when", "some evening", "--how", "a walk"]);
    ada.add(&[
        "checkin",
        "add",
        "--rating",
        "4",
        "--reflection",
        "calmer",
        "--next",
        "2w",
        "--date",
        "2026-11-24",
    ]);
    let out = ada
        .cmd()
        .args(["export", "--format", "ics"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&vague) && stderr.contains("some evening"),
        "the session it could not place is named: {stderr}"
    );
    // RFC 5545: CRLF line ends, no line longer than 75 octets (long ones folded).
    assert!(text.lines().all(|l| l.len() <= 76), "{text}");
    assert!(text.contains("\r\n"));
    assert!(text.contains("\r\n "), "the long agenda is folded");

    let mut parser = ical::IcalParser::new(text.as_bytes());
    let cal = parser.next().expect("one calendar").expect("it parses");
    assert!(parser.next().is_none());
    assert_eq!(cal.events.len(), 3, "two sessions and the cadence");
    let by_uid = |prefix: &str| {
        cal.events
            .iter()
            .find(|e| props(e, "UID")[0].starts_with(prefix))
            .unwrap_or_else(|| panic!("no event for {prefix}"))
    };
    let d = by_uid(&dated);
    assert_eq!(
        props(d, "DTSTART"),
        ["20261212T190000"],
        "floating local time"
    );
    assert_eq!(props(d, "DTEND"), ["20261212T200000"]);
    assert_eq!(props(d, "SUMMARY"), ["Design session: date night at home"]);
    let description = unescape(props(d, "DESCRIPTION")[0]);
    assert!(description.contains(long_agenda), "{description}");
    assert!(props(d, "DESCRIPTION")[0].contains("vision\\;"), "escaped");
    assert_eq!(props(d, "DTSTAMP"), ["20261124T100000Z"]);
    // "Saturday 10am", planned on Tuesday 2026-11-24: Saturday the 28th.
    let w = by_uid(&weekday);
    assert_eq!(props(w, "DTSTART"), ["20261128T100000"]);
    // The cadence: every two weeks from the next check-in, all day.
    let c = by_uid("checkins.");
    assert_eq!(props(c, "DTSTART"), ["20261208"]);
    assert_eq!(param(c, "DTSTART", "VALUE").as_deref(), Some("DATE"));
    assert_eq!(props(c, "RRULE"), ["FREQ=WEEKLY;INTERVAL=2"]);
    assert!(unescape(props(c, "DESCRIPTION")[0]).contains("What is working"));

    // Stable UIDs: exporting again (later) updates the same events.
    let again = ada.ok(&["export", "--format", "ics"]);
    let uids = |t: &str| {
        let mut u: Vec<String> = t
            .lines()
            .filter_map(|l| l.strip_prefix("UID:").map(|s| s.trim().to_string()))
            .collect();
        u.sort();
        u
    };
    assert_eq!(uids(&text), uids(&again));
}

/// The node that runs Automerge's JavaScript implementation, with its package installed
/// (`npm ci` in tests/js, as .ci/run does), or `None` after saying why (a failure under CI).
fn node_with_automerge() -> Option<std::path::PathBuf> {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        skip("node is not installed (Debian: apt-get install nodejs npm)");
        return None;
    }
    if !js.join("node_modules/@automerge/automerge").exists() {
        skip("@automerge/automerge is not installed (run `npm ci` in tests/js)");
        return None;
    }
    let _ = in_ci();
    Some(js.join("read.mjs"))
}

#[test]
fn the_automerge_export_reads_the_same_in_automerges_javascript_implementation() {
    let Some(script) = node_with_automerge() else {
        return;
    };
    let ada = Device::founder(6, "Ada", "The Okafor family", "parent");
    ada.add(&["need", "add", "quiet mornings, and a walk"]);
    ada.ok(&["vision", "set", "We listen first.\nWe assume good intent."]);
    let e = ada.add(&["expect", "add", "screens off at dinner"]);
    ada.ok(&["expect", "agree", &e]);
    ada.ok(&[
        "vision",
        "set",
        "We listen first.\nWe assume good intent.\nWe laugh at ourselves.",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("okafors.automerge");
    let sigs = dir.path().join("okafors.signatures.json");
    ada.ok(&[
        "export",
        "--format",
        "automerge",
        "-o",
        doc.to_str().unwrap(),
    ]);
    ada.ok(&[
        "export",
        "--format",
        "signatures",
        "-o",
        sigs.to_str().unwrap(),
    ]);
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(&doc)
        .arg(&sigs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours = ada.json(&["export", "--format", "json", "--history"]);
    assert_eq!(read["title"], ours["title"]);
    assert_eq!(read["vision"], ours["vision"]);
    let needs: Vec<(String, String)> = ours["needs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().into(),
                n["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    let theirs: Vec<(String, String)> = read["needs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().into(),
                n["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(theirs, needs);
    assert_eq!(read["expectations"][0]["id"], ours["expectations"][0]["id"]);
    assert_eq!(read["expectations"][0]["text"], "screens off at dinner");
    // The same history, change for change.
    let mut hashes: Vec<String> = ours["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hash"].as_str().unwrap().to_string())
        .collect();
    hashes.sort();
    let js_hashes: Vec<String> = read["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    assert_eq!(js_hashes, hashes);
    // Every signature this device keeps verifies there, by the key in the change's actor.
    assert_eq!(read["problems"], serde_json::json!([]));
    assert!(read["verified"].as_u64().unwrap() >= 1);
    // A tampered signature is caught by the same program.
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sigs).unwrap()).unwrap();
    let first = s["signatures"][0]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = format!(
        "{}{}",
        if first.starts_with('0') { "1" } else { "0" },
        &first[1..]
    );
    s["signatures"][0]["signature"] = flipped.into();
    std::fs::write(&sigs, s.to_string()).unwrap();
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(&doc)
        .arg(&sigs)
        .output()
        .unwrap();
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["problems"].as_array().unwrap().len(), 1, "{read}");
}

/// A program this machine has, or `None` after saying why the test skips (a failure under CI).
fn tool(name: &str, package: &str) -> Option<()> {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip(&format!(
            "{name} is not installed (Debian: apt-get install {package})"
        ));
        return None;
    }
    Some(())
}

/// A child process killed on drop.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_with_remind_sends_a_desktop_notification_for_a_session_tomorrow() {
    use std::io::BufRead;
    if tool("dbus-daemon", "dbus-daemon").is_none() || tool("dbus-monitor", "dbus-bin").is_none() {
        return;
    }
    // The kit's clock: 2026-11-24; the session is tomorrow.
    let ada = Device::founder(8, "Ada", "The Okafor family", "parent");
    ada.add(&[
        "plan",
        "add",
        "--when",
        "tomorrow 7pm",
        "--how",
        "date night at home",
    ]);
    // A session bus of its own, and a monitor of the desktop's notification service on it.
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix:path={}", dir.path().join("bus").display());
    let _bus = Killed(
        std::process::Command::new("dbus-daemon")
            .args(["--session", "--nofork", &format!("--address={address}")])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(crate::kit::eventually(10, || dir
        .path()
        .join("bus")
        .exists()));
    let mut monitor = std::process::Command::new("dbus-monitor")
        .args([
            "--address",
            &address,
            "interface='org.freedesktop.Notifications'",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = monitor.stdout.take().unwrap();
    let _monitor = Killed(monitor);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The monitor is listening once it has said anything (its own name on the bus).
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("the monitor starts");
    let serve = crate::kit::alliance(ada.home(), 8)
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .env("TZ", "UTC")
        .args(["--json", "serve", "--remind"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _serve = Killed(serve);
    let mut seen = Vec::new();
    let notified = crate::kit::eventually(30, || {
        while let Ok(line) = rx.try_recv() {
            seen.push(line);
        }
        let all = seen.join("\n");
        all.contains("member=Notify")
            && all.contains("A design session tomorrow in The Okafor family")
    });
    assert!(notified, "no notification on the bus:\n{}", seen.join("\n"));
    let all = seen.join("\n");
    assert!(
        all.contains("Tomorrow at 19:00 (tomorrow 7pm): date night at home"),
        "{all}"
    );
    assert!(all.contains("string \"alliance\""), "the app's name: {all}");
}
