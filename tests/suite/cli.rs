//! The real binary in temporary homes: the four steps, output, bad input, durability.

use crate::kit::{Device, snapshot_tree};
use alliance::store::layout;

fn family() -> (Device, String) {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let dir = ada.alliance_dir();
    let id = dir.file_name().unwrap().to_string_lossy().to_string();
    (ada, id)
}

#[test]
fn init_twice_says_so_and_changes_nothing() {
    let d = Device::new(7);
    let first = d.json(&["init", "--name", "Ada"]);
    assert_eq!(first["created"], true);
    let key_file = d.home().join(layout::IDENTITY_DIR).join(layout::DEVICE_KEY);
    let before = std::fs::read(&key_file).unwrap();
    let again = d.ok(&["init", "--name", "Someone else"]);
    assert!(again.contains("already set up for Ada"), "{again}");
    assert_eq!(std::fs::read(&key_file).unwrap(), before);
    assert_eq!(d.json(&["whoami"])["name"], "Ada");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The secret never appears in any output.
    let secret = String::from_utf8(before)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    for args in [
        &["whoami"][..],
        &["--json", "whoami"],
        &["init", "--name", "x"],
    ] {
        assert!(!d.ok(args).contains(&secret));
    }
}

#[test]
fn the_four_steps_show_and_export() {
    let (ada, _) = family();
    let need = ada.add(&["need", "add", "an hour-long walk every morning"]);
    ada.add(&[
        "plan",
        "add",
        "--when",
        "Sunday 7pm",
        "--how",
        "date night at home",
        "--agenda",
        "needs first, then the vision",
    ]);
    ada.ok(&["vision", "set", "We listen first and assume good intent."]);
    let e = ada.add(&["expect", "add", "no screens after 8pm"]);
    ada.ok(&["expect", "agree", &e]);
    ada.add(&[
        "checkin",
        "add",
        "--rating",
        "4",
        "--reflection",
        "Calmer evenings.",
        "--propose",
        "walks on Sunday too",
        "--next",
        "2w",
        "--date",
        "2026-11-24",
    ]);
    assert!(need.starts_with('n') && e.starts_with('e'));
    insta::assert_snapshot!("show", ada.ok(&["show"]));
    insta::assert_snapshot!("export_md", ada.ok(&["export", "--format", "md"]));
    let json = ada.json(&["export", "--format", "json"]);
    assert_eq!(json["needs"][0]["text"], "an hour-long walk every morning");
    assert_eq!(json["expectations"][0]["status"], "agreed");
    assert_eq!(json["checkins"][0]["reflections"][0]["rating"], 4);
    insta::assert_snapshot!("log", ada.ok(&["log"]));
}

#[test]
fn every_command_honours_json() {
    let (ada, _) = family();
    let n = ada.add(&["need", "add", "quiet mornings"]);
    ada.json(&["need", "edit", &n, "quiet mornings, please"]);
    let p = ada.add(&["plan", "add", "--when", "Friday", "--how", "video call"]);
    assert!(p.starts_with('p'));
    assert!(ada.json(&["vision", "set", "Kindness."])["change"].is_string());
    let e = ada.add(&["expect", "add", "dishes done by 9"]);
    assert_eq!(ada.json(&["expect", "agree", &e])["id"], e.as_str());
    let c = ada.add(&["checkin", "add", "--rating", "3"]);
    assert!(c.starts_with('c'));
    assert_eq!(
        ada.json(&["checkin", "reflect", &c, "--rating", "5"])["id"],
        c.as_str()
    );
    for read in [
        &["show"][..],
        &["list"],
        &["need", "list"],
        &["plan", "list"],
        &["vision", "show"],
        &["expect", "list"],
        &["checkin", "list"],
        &["member", "list"],
        &["log"],
        &["verify"],
        &["whoami"],
    ] {
        let v = ada.json(read);
        assert!(v.is_object() || v.is_array(), "{read:?}");
    }
    let log = ada.json(&["log"]);
    for key in ["hash", "author", "device", "time", "summary", "verified"] {
        assert!(log[0].get(key).is_some(), "log entry lacks {key}");
    }
    assert_eq!(log[0]["author"], "Ada");
    assert_eq!(log.as_array().unwrap().len(), 9);
    ada.json(&["need", "remove", &n]);
    assert!(ada.json(&["need", "list"]).as_array().unwrap().is_empty());
    ada.json(&["expect", "retire", &e]);
    assert_eq!(ada.json(&["expect", "list"])[0]["status"], "retired");
}

#[test]
fn bad_input_is_one_clear_line_and_writes_nothing() {
    let (ada, _) = family();
    let n = ada.add(&["need", "add", "sleep"]);
    let before = snapshot_tree(ada.home());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["need", "edit", "nzzzz", "x"], "no need with ID nzzzz"),
        (vec!["need", "edit", "hello", "x"], "is not an item ID"),
        (vec!["need", "add", "   "], "must not be empty"),
        (vec!["expect", "agree", &n], "no expectation with ID"),
        (
            vec!["checkin", "add", "--rating", "6"],
            "rating must be between 1 and 5",
        ),
        (
            vec!["checkin", "add", "--rating", "0"],
            "rating must be between 1 and 5",
        ),
        (
            vec!["checkin", "add", "--rating", "3", "--date", "tomorrow"],
            "YYYY-MM-DD",
        ),
        (
            vec!["checkin", "add", "--rating", "3", "--next", "soon"],
            "not a length of time",
        ),
        (
            vec!["expect", "add", "x", "--of", "Nobody"],
            "no member 'Nobody'",
        ),
        (
            vec!["member", "add", "Ben", "--device", "abc"],
            "not a device key",
        ),
        (
            vec!["--alliance", "Other family", "show"],
            "no alliance 'Other family'",
        ),
    ];
    for (args, expected) in cases {
        let err = ada.fails(&args, 1);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(
        snapshot_tree(ada.home()),
        before,
        "a failed command wrote something"
    );
}

#[test]
fn missing_identity_and_unwritable_home_say_what_to_do() {
    let d = Device::new(3);
    let err = d.fails(&["new", "Us"], 1);
    assert!(err.contains("alliance init --name"), "{err}");
    let err = d.fails(&["show"], 1);
    assert!(err.contains("alliance new"), "{err}");
    // A home that cannot be created (its parent is a file).
    let file = d.home().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = d
        .cmd()
        .env("ALLIANCE_HOME", file.join("home"))
        .args(["init", "--name", "Ada"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot"), "{err}");
}

#[test]
fn selecting_among_several_alliances() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    ada.ok(&["new", "Coaching with Sam", "--role", "client"]);
    // The one created last is the default; `use` picks another.
    assert!(ada.ok(&["show"]).starts_with("Coaching with Sam"));
    ada.ok(&["use", "Family"]);
    assert!(ada.ok(&["show"]).starts_with("Family"));
    let out = ada.ok(&[
        "--alliance",
        "coaching with sam",
        "need",
        "add",
        "weekly calls",
    ]);
    assert!(out.contains("Added need"));
    let list = ada.json(&["list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let id = list[0]["id"].as_str().unwrap();
    ada.ok(&["--alliance", &id[..8], "show"]);
}

/// `vision edit` applies the editor's changes as splices, and keeps an edit that another
/// command made while the editor was open.
#[test]
fn vision_edit_merges_with_edits_made_while_the_editor_was_open() {
    let (ada, _) = family();
    ada.ok(&["vision", "set", "We listen first."]);
    let script = ada.home().join("editor.sh");
    let bin = assert_cmd::cargo::cargo_bin("alliance");
    // The "editor": another command edits the vision meanwhile, then the user's edit is saved.
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\"{}\" vision set 'Together, we listen first.' >/dev/null || exit 1\nprintf 'We listen first, always.\\n' > \"$1\"\n",
            bin.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = ada
        .cmd()
        .env("EDITOR", &script)
        .args(["vision", "edit"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ada.ok(&["vision", "show"]).trim_end(),
        "Together, we listen first, always."
    );
    assert_eq!(ada.json(&["verify"])["ok"], true);
    // An editor that fails changes nothing.
    let before = ada.ok(&["vision", "show"]);
    ada.cmd()
        .env("EDITOR", "false")
        .args(["vision", "edit"])
        .assert()
        .code(1);
    assert_eq!(ada.ok(&["vision", "show"]), before);
}

#[test]
fn log_filters_by_person_date_and_change() {
    let ben = Device::new(2);
    ben.ok(&["init", "--name", "Ben"]);
    let ada = Device::founder(1, "Ada", "Family", "parent");
    ada.add(&["member", "add", "Ben", "--device", &ben.device_key()]);
    let bundle = ada.home().join("b");
    ada.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    ben.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    ben.add(&["need", "add", "sleep"]);
    ben.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    ada.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    let mark = ada.json(&["log"])[0]["hash"].as_str().unwrap().to_string();
    ada.add(&["need", "add", "sunlight"]);
    let bens = ada.json(&["log", "--who", "ben"]);
    assert_eq!(bens.as_array().unwrap().len(), 1);
    assert!(bens[0]["summary"].as_str().unwrap().contains("sleep"));
    let after = ada.json(&["log", "--since", &mark[..8]]);
    assert_eq!(after.as_array().unwrap().len(), 1);
    assert!(after[0]["summary"].as_str().unwrap().contains("sunlight"));
    assert_eq!(
        ada.json(&["log", "--since", "2026-11-24"])
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert!(
        ada.json(&["log", "--since", "2026-11-25"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let err = ada.fails(&["log", "--since", "yesterday"], 1);
    assert!(err.contains("neither a date"), "{err}");
}

#[test]
fn history_shows_every_version_of_an_item_with_its_author() {
    let ben = Device::new(2);
    ben.ok(&["init", "--name", "Ben"]);
    let ada = Device::founder(1, "Ada", "Family", "parent");
    let m = ada.add(&["member", "add", "Ben", "--device", &ben.device_key()]);
    let e = ada.add(&["expect", "add", "no screens after 8pm"]);
    ada.ok(&["expect", "agree", &e]);
    let bundle = ada.home().join("b");
    ada.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    ben.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    ben.ok(&["expect", "edit", &e, "no screens after 9pm"]);
    ben.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    ada.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    let h = ada.json(&["history", &e]);
    assert_eq!(h["item"], e.as_str());
    assert!(h["conflicts"].as_array().unwrap().is_empty());
    let versions = h["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3, "{h:#}");
    assert_eq!(versions[0]["author"], "Ada");
    assert_eq!(versions[2]["author"], "Ben");
    assert!(versions.iter().all(|v| v["verified"] == true));
    let text = versions[2]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "text")
        .unwrap();
    assert_eq!(text["old"], "no screens after 8pm");
    assert_eq!(text["new"], "no screens after 9pm");
    // Membership history: who added Ben, and when.
    let mh = &ada.json(&["history", &m])["versions"];
    assert_eq!(mh[0]["author"], "Ada");
    assert!(
        mh[0]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["field"] == "name" && f["new"] == "Ben")
    );
    insta::assert_snapshot!("history", ada.ok(&["history", &e]));
    let err = ada.fails(&["history", "ezzzz"], 1);
    assert!(err.contains("no expectation ezzzz"), "{err}");
}

/// A stored document that makes Automerge panic while loading (a checksummed fixture, see
/// tests/fixtures/automerge_panics) is refused with one error line: Rust's panic message does
/// not reach the person's terminal.
#[test]
fn a_panic_inside_automerge_stays_off_the_terminal() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    let doc = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/automerge_panics/load_document_panics.bin"),
    )
    .unwrap();
    let snapshot = alliance::store::format::encode_snapshot(
        &doc,
        &std::collections::HashMap::new(),
        &std::collections::HashMap::new(),
    );
    std::fs::write(ada.alliance_dir().join(layout::SNAPSHOT), snapshot).unwrap();
    let out = ada.cmd().args(["show"]).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
}

/// A person removed by an admin learns it (here from a bundle) in one line that says who and
/// when, on every command that would write or ask for them; `show` still reads what they hold.
#[test]
fn a_removed_person_is_told_who_removed_them_and_when() {
    let ada = Device::founder(1, "Ada", "Family", "parent");
    let ben = Device::new(2);
    ben.ok(&["init", "--name", "Ben"]);
    ada.ok(&[
        "member",
        "add",
        "Ben",
        "--role",
        "teen",
        "--device",
        &ben.device_key(),
    ]);
    let bundle = ada.home().join("family.bundle");
    let bundle = bundle.to_str().unwrap();
    ada.ok(&["bundle", "export", bundle]);
    ben.ok(&["bundle", "import", bundle]);
    ben.ok(&["need", "add", "time alone after school"]);
    // Not an admin: Ben cannot remove Ada, nor make himself an admin.
    let err = ben.fails(&["member", "remove", "Ada", "--yes"], 1);
    assert!(
        err.contains("only an admin can remove a person; ask Ada"),
        "{err}"
    );
    let err = ben.fails(&["member", "admin", "Ben"], 1);
    assert!(err.contains("only an admin"), "{err}");
    ada.ok(&["member", "remove", "Ben", "--yes"]);
    ada.ok(&["bundle", "export", bundle]);
    ben.ok(&["bundle", "import", bundle]);
    let err = ben.fails(&["status"], 1);
    assert!(err.contains("Ada removed you on 2026-11-24"), "{err}");
    let err = ben.fails(&["need", "add", "x"], 1);
    assert!(err.contains("Ada removed you"), "{err}");
    assert!(ben.ok(&["member", "list"]).contains("removed by Ada"));
    // What Ben wrote while he did not know was never Ada's to see: it is withdrawn on his
    // device too once it hears of the removal.
    assert!(ben.needs().is_empty(), "{:?}", ben.needs());
}
