//! A family's first evening (issue 18), through the real binary in temporary homes: what broke
//! when a family of three and a coach followed the README, each item as the person met it.

use crate::kit::Device;

#[test]
fn a_mistyped_ticket_says_to_copy_the_whole_line_again() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let _serve = ada.serve();
    let ticket = ada.invite_ticket();
    let ben = Device::new(2);
    // One character changed, one dropped, the line cut short: each is recognised as mistyped
    // before anything is dialled, and nothing is written on Ben's device.
    let i = ticket.len() / 2;
    let changed = {
        let c = if &ticket[i..i + 1] == "a" { "b" } else { "a" };
        format!("{}{c}{}", &ticket[..i], &ticket[i + 1..])
    };
    let dropped = format!("{}{}", &ticket[..i], &ticket[i + 1..]);
    let cut = ticket[..ticket.len() - 3].to_string();
    for bad in [changed, dropped, cut] {
        let err = ben.fails(&["join", &bad, "--name", "Ben"], 1);
        assert!(err.contains("mistyped"), "{err}");
        assert!(err.contains("copy the whole line"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    let err = ben.fails(&["join", "https://example.com/x", "--name", "Ben"], 1);
    assert!(err.contains("not an alliance invite ticket"), "{err}");
    assert!(
        !ben.home().join("alliances").exists()
            || std::fs::read_dir(ben.home().join("alliances"))
                .unwrap()
                .next()
                .is_none(),
        "a bad ticket writes no alliance"
    );
}

/// The hash of the newest change whose summary contains `what`, from `log --json`.
fn change_with(d: &Device, what: &str) -> String {
    let log = d.json(&["log"]);
    log.as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["summary"].as_str().unwrap_or_default().contains(what))
        .unwrap_or_else(|| panic!("no change '{what}' in {log:#}"))["hash"]
        .as_str()
        .unwrap()
        .to_string()
}

const VISION: &str = "We listen first.\nWe say sorry.\nWe keep Sundays for long walks together.";

#[test]
fn emptying_or_replacing_most_of_the_vision_asks_first_and_restore_brings_it_back() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    ada.ok(&["vision", "set", VISION]);
    let vision = || {
        ada.json(&["vision", "show"])["vision"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Without a terminal to ask on, a wipe or a rewrite of most of it is refused, nothing written.
    let err = ada.fails(&["vision", "set", ""], 1);
    assert!(err.contains("empties the shared vision"), "{err}");
    assert!(err.contains("--yes"), "{err}");
    let err = ada.fails(&["vision", "set", "Something else entirely"], 1);
    assert!(err.contains("replaces"), "{err}");
    assert_eq!(vision(), VISION);
    // A small edit needs no question.
    let saturdays = VISION.replace("Sundays", "Saturdays");
    ada.ok(&["vision", "set", &saturdays]);
    // --yes answers for scripts.
    ada.ok(&["vision", "set", "", "--yes"]);
    assert_eq!(vision(), "");
    // Restore the first version by its change: a new change; the history keeps every version.
    let first = change_with(&ada, "edited the vision: added line 1");
    let restored = ada.json(&["vision", "restore", "--at", &first[..12]]);
    assert!(
        restored["summary"]
            .as_str()
            .unwrap()
            .starts_with("restored the vision as of"),
        "{restored:#}"
    );
    assert_eq!(vision(), VISION);
    let summaries: Vec<String> = ada
        .json(&["log"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["summary"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        summaries.iter().filter(|s| s.contains("vision")).count(),
        4,
        "{summaries:#?}"
    );
    // Restoring to the start of the day (before the vision was written) would empty it: asked.
    let err = ada.fails(&["vision", "restore", "--at", "2026-11-24"], 1);
    assert!(err.contains("empties the shared vision"), "{err}");
    let err = ada.fails(&["vision", "restore", "--at", "zzzzzz"], 1);
    assert!(err.contains("--at 'zzzzzz'"), "{err}");
    assert_eq!(vision(), VISION);
}

#[test]
fn a_vision_edit_on_line_three_shows_line_three_in_diff_and_log() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    ada.ok(&["vision", "set", VISION]);
    ada.ok(&["seen"]);
    ada.ok(&["vision", "set", &VISION.replace("Sundays", "Saturdays")]);
    let diff = ada.ok(&["diff"]);
    assert!(
        diff.contains(
            "line 3: \"We keep Sundays for long walks…\" → \"We keep Saturdays for long walks…\""
        ),
        "{diff}"
    );
    assert!(
        !diff.contains("We listen first"),
        "unchanged lines stay out: {diff}"
    );
    let log = ada.ok(&["log"]);
    assert!(log.contains("line 3"), "{log}");
}

#[test]
fn blame_groups_the_vision_by_line_and_names_who_wrote_most() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    ada.ok(&["vision", "set", VISION]);
    ada.ok(&["vision", "set", &VISION.replace("Sundays", "Saturdays")]);
    let out = ada.ok(&["blame", "vision"]);
    assert!(out.starts_with("Written by Ada (100%)."), "{out}");
    assert!(
        out.contains("Ada | We keep Saturdays for long walks together."),
        "{out}"
    );
    assert_eq!(out.matches(" | ").count(), 3, "one row a line: {out}");
    let detail = ada.ok(&["blame", "vision", "--detail"]);
    assert!(detail.contains("Ada | We listen first."), "{detail}");
    let json = ada.json(&["blame", "vision"]);
    assert_eq!(json["lines"].as_array().unwrap().len(), 3);
    assert_eq!(json["authors"][0]["author"], "Ada");
}

#[test]
fn names_refuse_invisible_characters_and_texts_show_them_visibly() {
    let d = Device::new(4);
    for bad in ["Ad\u{1b}[31ma", "Ada\u{202e}nimda", "Ada\nBen"] {
        let err = d.fails(&["init", "--name", bad], 1);
        assert!(err.contains("invisible character"), "{err}");
    }
    d.ok(&["init", "--name", "Zoë 🌻"]);
    d.ok(&["new", "Family", "--role", "parent"]);
    d.ok(&["member", "add", "Bo", "--role", "teen"]);
    d.ok(&["need", "add", "quiet\u{1b}[2J mornings"]);
    // A bidirectional control would make what is shown differ from what is stored: refused.
    let err = d.fails(&["need", "add", "walks \u{202e}sdrawkcab"], 1);
    assert!(err.contains("type it without"), "{err}");
    let needs = d.ok(&["need", "list"]);
    assert!(needs.contains("quiet\\u{1b}[2J mornings"), "{needs}");
    assert!(
        !needs.contains('\u{1b}') && !needs.contains('\u{202e}'),
        "{needs}"
    );
    // Columns line up by what the terminal shows: an emoji takes two columns.
    let members = d.ok(&["member", "list"]);
    let starts: Vec<usize> = members
        .lines()
        .filter(|l| l.contains("Zoë") || l.contains("Bo "))
        .map(|l| {
            let name_end = l.find("  ").unwrap();
            let rest = &l[name_end..];
            let col = name_end + rest.len() - rest.trim_start().len();
            unicode_width::UnicodeWidthStr::width(&l[..col])
        })
        .collect();
    assert_eq!(starts.len(), 2, "{members}");
    assert_eq!(starts[0], starts[1], "{members}");
}

#[test]
fn one_node_per_home_a_second_serve_says_which_process_serves_and_the_first_goes_on() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let first = ada.serve();
    let err = ada.fails(&["serve"], 1);
    assert!(err.contains("already serving (process"), "{err}");
    assert!(err.contains(&first.addrs[0]), "{err}");
    // The first still serves, and its announcement was not taken down by the second.
    let ticket = ada.invite_ticket();
    let ben = Device::new(2);
    ben.ok(&["join", &ticket, "--name", "Ben"]);
    assert!(first.stop(), "the first serve stops cleanly");
}

#[test]
fn invite_without_serve_refuses_and_join_without_the_inviter_says_it_must_serve() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let err = ada.fails(&["invite"], 1);
    assert!(err.contains("nothing is serving on this device"), "{err}");
    assert!(err.contains("alliance serve"), "{err}");
    assert_eq!(
        ada.json(&["invite", "list"]).as_array().unwrap().len(),
        0,
        "nothing written"
    );
    // A ticket made while serving, used after the inviter stopped.
    let serve = ada.serve();
    let ticket = ada.invite_ticket();
    assert!(serve.stop());
    let ben = Device::new(2);
    let err = ben.fails(&["join", &ticket, "--name", "Ben"], 1);
    assert!(err.contains("could not reach the inviting device"), "{err}");
    assert!(err.contains("must be running `alliance serve`"), "{err}");
    // A stale announcement (a serve killed without cleaning up) does not count as serving.
    let serve = ada.serve();
    drop(serve); // SIGKILL: serve.json stays behind
    let err = ada.fails(&["invite"], 1);
    assert!(err.contains("nothing is serving"), "{err}");
}

#[test]
fn a_taken_port_is_named_in_the_error() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = ada
        .cmd()
        .env("ALLIANCE_BIND", format!("127.0.0.1:{port}"))
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(err.status.code(), Some(1));
    let err = String::from_utf8_lossy(&err.stderr);
    assert!(err.contains(&format!("port {port}")), "{err}");
}

#[test]
fn one_duration_syntax_everywhere_with_units_required() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let _serve = ada.serve();
    let err = ada.fails(&["invite", "--expires", "30"], 1);
    assert!(err.contains("the unit is missing"), "{err}");
    let two_weeks = ada.json(&["invite", "--expires", "2w"]);
    assert_eq!(
        two_weeks["expires"],
        serde_json::to_value(alliance::core::Timestamp(crate::kit::NOW + 14 * 86_400)).unwrap()
    );
    // `m` alone is ambiguous where minutes make sense (an invite), not in a cadence counted
    // in days, where `1m` is a month (the page's example).
    let err = ada.fails(&["invite", "--expires", "30m"], 1);
    assert!(err.contains("minutes or months"), "{err}");
    let month = ada.json(&["checkin", "add", "--rating", "4", "--next", "1m"]);
    assert!(month["changed"] == true, "{month}");
    assert_eq!(ada.json(&["checkin", "list"])[0]["next_in_days"], 30);
    ada.ok(&[
        "checkin",
        "add",
        "--rating",
        "4",
        "--next",
        "1mo",
        "--date",
        "2026-11-25",
    ]);
}

#[test]
fn a_second_checkin_on_the_same_day_points_to_reflect() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let first = ada.add(&["checkin", "add", "--rating", "4"]);
    let err = ada.fails(&["checkin", "add", "--rating", "3"], 1);
    assert!(
        err.contains(&format!("alliance checkin reflect {first}")),
        "{err}"
    );
    ada.ok(&["checkin", "add", "--rating", "3", "--date", "2026-11-25"]);
}

#[test]
fn the_export_has_one_heading_a_step_and_the_vision_in_paragraphs() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    ada.ok(&["vision", "set", VISION]);
    let md = ada.ok(&["export", "--format", "md"]);
    for step in ["## 1.", "## 2.", "## 3.", "## 4."] {
        assert_eq!(md.matches(step).count(), 1, "{step} in {md}");
    }
    assert!(
        md.contains("> We listen first.\n>\n> We say sorry.\n>\n"),
        "{md}"
    );
}

#[test]
fn log_names_an_unknown_person_as_an_error_takes_ids_and_says_each_name_once() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let e = ada.add(&["expect", "add", "no screens after 8pm"]);
    ada.ok(&["expect", "agree", &e]);
    let err = ada.fails(&["log", "--who", "Nobody"], 1);
    assert!(
        err.contains("nobody in this alliance's history has that name or ID"),
        "{err}"
    );
    assert!(err.contains("Ada"), "{err}");
    let me = ada.json(&["member", "list"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let by_id = ada.json(&["log", "--who", &me]);
    assert_eq!(by_id.as_array().unwrap().len(), 3);
    let log = ada.ok(&["log"]);
    assert!(!log.contains("Ada agreed"), "{log}");
    assert!(log.contains("agreed to expectation"), "{log}");
}

#[test]
fn a_plan_can_change_who_attends() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    ada.ok(&["member", "add", "Ben", "--role", "teen"]);
    let p = ada.add(&[
        "plan",
        "add",
        "--when",
        "Sunday 7pm",
        "--how",
        "kitchen",
        "--with",
        "Ada",
    ]);
    assert!(ada.ok(&["export", "--format", "md"]).contains("with Ada\n"));
    ada.ok(&["plan", "edit", &p, "--with", "Ada", "--with", "Ben"]);
    assert!(
        ada.ok(&["export", "--format", "md"])
            .contains("with Ada, Ben")
    );
    let err = ada.fails(&["plan", "edit", &p, "--with", "Zed"], 1);
    assert!(err.contains("Zed"), "{err}");
}

#[test]
fn adding_a_member_says_which_expectations_of_everyone_will_wait_for_them() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let e = ada.add(&["expect", "add", "no screens after 8pm"]);
    ada.ok(&["expect", "agree", &e]);
    let out = ada
        .cmd()
        .args(["member", "add", "Coach Rivera", "--role", "coach"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "1 expectation(s) of everyone ({e}) now wait for Coach Rivera's agreement"
        )),
        "{err}"
    );
    assert!(err.contains("--of"), "{err}");
    // Named expectations do not wait for a newcomer.
    ada.ok(&["expect", "add", "Ada cooks on Sundays", "--of", "Ada"]);
}

#[test]
fn usage_lines_do_not_list_the_global_network_options() {
    let d = Device::new(1);
    let out = d
        .cmd()
        .args(["need", "add"])
        .env_remove("ALLIANCE_RELAY")
        .env_remove("ALLIANCE_BIND")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let usage = err
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or_default();
    assert_eq!(usage, "Usage: alliance need add [OPTIONS] <TEXT>", "{err}");
}

#[test]
fn several_alliances_have_a_default_and_status_covers_them_all() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    ada.ok(&["new", "Coaching: Sam", "--role", "coach"]);
    // The last one created is the default: no --alliance needed.
    ada.ok(&["need", "add", "an hour to prepare"]);
    let coaching = ada.json(&["--alliance", "Coaching: Sam", "need", "list"]);
    assert_eq!(coaching.as_array().unwrap().len(), 1);
    ada.ok(&["use", "The Okafor family"]);
    ada.ok(&["need", "add", "a walk every morning"]);
    assert_eq!(
        ada.json(&["need", "list"])[0]["text"],
        "a walk every morning"
    );
    // status covers every alliance, the default first.
    let status = ada.ok(&["status"]);
    let family = status.find("== \"The Okafor family\"").expect(&status);
    let coach = status.find("== \"Coaching: Sam\"").expect(&status);
    assert!(family < coach, "{status}");
    // A title that exists already is refused; a short or unknown name says what is here.
    let err = ada.fails(&["new", "the okafor family"], 1);
    assert!(err.contains("already holds an alliance titled"), "{err}");
    let err = ada.fails(&["--alliance", "99", "show"], 1);
    assert!(err.contains("too short"), "{err}");
    assert!(err.contains("The Okafor family"), "{err}");
    let err = ada.fails(&["--alliance", "Nope", "show"], 1);
    assert!(err.contains("the ones here"), "{err}");
    // Forgetting one on this device asks first; then it is gone from here.
    let err = ada.fails(&["forget", "Coaching: Sam"], 1);
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(ada.json(&["list"]).as_array().unwrap().len(), 2);
    ada.ok(&["forget", "Coaching: Sam", "--yes"]);
    assert_eq!(ada.json(&["list"]).as_array().unwrap().len(), 1);
    ada.ok(&["show"]);
}

#[test]
fn a_bundle_of_an_alliance_this_device_is_not_in_is_refused_saying_whose_it_is() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let bundle = ada.home().join("family.bundle");
    ada.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    let ben = Device::new(2);
    ben.ok(&["init", "--name", "Ben"]);
    let err = ben.fails(&["bundle", "import", bundle.to_str().unwrap()], 1);
    assert!(err.contains("The Okafor family"), "{err}");
    assert!(err.contains("Ada"), "{err}");
    assert!(err.contains("not a member"), "{err}");
    assert_eq!(ben.json(&["list"]).as_array().unwrap().len(), 0);
}

#[test]
fn a_new_device_is_pointed_to_init_and_status_news_start_at_the_join() {
    let fresh = Device::new(9);
    let err = fresh.fails(&["show"], 1);
    assert!(err.contains("alliance init --name"), "{err}");
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    ada.ok(&["need", "add", "before Ben joined"]);
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
    ada.ok(&["need", "add", "after Ben joined"]);
    let bundle = ada.home().join("family.bundle");
    ada.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    ben.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    let status = ben.json(&["status"]);
    let news: Vec<&str> = status["news"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    assert_eq!(news.len(), 1, "{news:?}");
    assert!(news[0].contains("after Ben joined"), "{news:?}");
}

#[test]
fn serve_says_in_plain_words_who_joined_connected_and_sent_changes_and_invite_list_names_them() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let mut serve = ada.serve_watched();
    let ben = Device::new(2);
    ben.ok(&["join", &ada.invite_ticket(), "--name", "Ben"]);
    serve.wait_for("Ben joined");
    ben.ok(&["need", "add", "rides to practice"]);
    ben.ok(&["sync"]);
    serve.wait_for("Ben connected");
    serve.wait_for("1 change from Ben");
    let seen = serve.wait_for("Ben disconnected");
    assert!(
        seen.iter()
            .all(|l| !l.contains("INFO") && !l.contains("peer=")),
        "no technical log lines by default: {seen:#?}"
    );
    drop(serve);
    let list = ada.ok(&["invite", "list"]);
    assert!(list.contains("Ben ("), "{list}");
}

#[test]
fn the_page_process_says_in_plain_words_who_joined_and_sent_changes_with_no_technical_lines() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let mut app = ada.watched_at("127.0.0.1:0", &["app", "--no-open"]);
    let ben = Device::new(2);
    ben.ok(&["join", &ada.invite_ticket(), "--name", "Ben"]);
    app.wait_for("Ben joined");
    ben.ok(&["need", "add", "rides to practice"]);
    ben.ok(&["sync"]);
    let seen = app.wait_for("1 change from Ben").to_vec();
    assert!(
        seen.iter()
            .all(|l| !l.contains("INFO") && !l.contains("peer=")),
        "{seen:#?}"
    );
    let errors = app.stderr();
    assert!(
        errors
            .iter()
            .all(|l| !l.contains("WARN") && !l.contains("INFO")),
        "the technical lines are behind -v: {errors:#?}"
    );
}

#[test]
fn status_says_which_of_my_changes_have_not_reached_whom() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let serve = ada.serve();
    let ben = Device::new(2);
    ben.ok(&["join", &ada.invite_ticket(), "--name", "Ben"]);
    ben.ok(&["sync"]);
    ben.ok(&["need", "add", "rides to practice"]);
    ben.ok(&["need", "add", "quiet evenings"]);
    let status = ben.ok(&["status"]);
    assert!(
        status.contains("2 of your changes have not reached Ada yet"),
        "{status}"
    );
    let json = ben.json(&["status"]);
    assert_eq!(json["unshared"][0]["member"], "Ada");
    assert_eq!(json["unshared"][0]["changes"], 2);
    let synced = ben.ok(&["sync"]);
    let status = ben.ok(&["status"]);
    assert!(!status.contains("have not reached"), "{synced}\n{status}");
    drop(serve);
}

#[test]
fn serve_picks_up_an_alliance_created_while_it_runs() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let mut serve = ada.serve_watched();
    ada.ok(&["new", "Coaching: Sam", "--role", "coach"]);
    serve.wait_for("Now also serving \"Coaching: Sam\"");
    // Someone can join it through the running serve.
    let ticket = ada.json(&["--alliance", "Coaching: Sam", "invite"])["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let sam = Device::new(5);
    let joined = sam.json(&["join", &ticket, "--name", "Sam"]);
    assert_eq!(joined["title"], "Coaching: Sam");
}
