//! A family's first evening (issue 18), through the real binary in temporary homes: what broke
//! when a family of three and a coach followed the README, each item as the person met it.

use crate::kit::Device;

#[test]
fn a_mistyped_ticket_says_to_copy_the_whole_line_again() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
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
    d.ok(&["need", "add", "walks \u{202e}sdrawkcab"]);
    let needs = d.ok(&["need", "list"]);
    assert!(needs.contains("quiet\\u{1b}[2J mornings"), "{needs}");
    assert!(needs.contains("walks \\u{202e}sdrawkcab"), "{needs}");
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
