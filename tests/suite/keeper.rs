//! A keeper (issue 26): an always-on device of no person that holds the alliance and forwards
//! what members sign, so that members who are never online at the same time still meet. The
//! real binary: members and a keeper in temporary homes, real iroh endpoints on 127.0.0.1.

use std::collections::BTreeSet;

use crate::kit::{Device, free_port};

/// Ada founds the alliance and adds a running keeper; Ben and Zoe join while Ada serves (so
/// they learn the keeper from the document). Afterwards nobody serves.
struct Family {
    ada: Device,
    ben: Device,
    zoe: Device,
    keeper: Device,
    keeper_at: String,
}

impl Family {
    fn new() -> (Family, crate::kit::Keeper) {
        let keeper = Device::new(40);
        let keeper_at = format!("127.0.0.1:{}", free_port());
        let running = keeper.keeper_at(&keeper_at, &[]);
        let ada = Device::founder(41, "Ada", "The Okafor family", "parent");
        let added = ada.json(&["keeper", "add", &running.ticket, "--name", "the Okafor NAS"]);
        assert_eq!(added["name"], "the Okafor NAS");
        assert_eq!(added["added_now"], true);
        let serve = ada.serve();
        let ben = Device::new(42);
        ben.ok(&["join", &ada.invite_ticket(), "--name", "Ben"]);
        let zoe = Device::new(43);
        zoe.ok(&["join", &ada.invite_ticket(), "--name", "Zoe"]);
        drop(serve);
        (
            Family {
                ada,
                ben,
                zoe,
                keeper,
                keeper_at,
            },
            running,
        )
    }
}

fn needs(d: &Device) -> BTreeSet<String> {
    d.needs().into_iter().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `sync`, which succeeds when the keeper is reached (the members it dials are all off).
fn sync(d: &Device) {
    let out = d.json(&["sync"]);
    let rows = out.as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["ok"] == true && r["name"].as_str().unwrap().contains("keeper")),
        "the keeper was not reached: {out:#}"
    );
}

#[test]
fn three_members_never_online_together_converge_through_the_keeper() {
    let (f, _keeper) = Family::new();
    f.ada.ok(&["need", "add", "Quiet mornings"]);
    sync(&f.ada);
    // Ada is gone. Ben comes later and gets her need from the keeper.
    sync(&f.ben);
    assert_eq!(needs(&f.ben), set(&["Quiet mornings"]));
    f.ben.ok(&["need", "add", "A walk on Sundays"]);
    sync(&f.ben);
    // Zoe, later still, gets both, and adds hers.
    sync(&f.zoe);
    assert_eq!(needs(&f.zoe), set(&["Quiet mornings", "A walk on Sundays"]));
    f.zoe.ok(&["need", "add", "Time with friends"]);
    sync(&f.zoe);
    // Ada, back, gets Ben's and Zoe's.
    sync(&f.ada);
    let all = set(&["Quiet mornings", "A walk on Sundays", "Time with friends"]);
    assert_eq!(needs(&f.ada), all);
    // Every member's status says the keeper has what they wrote.
    for d in [&f.ada, &f.ben, &f.zoe] {
        let status = d.json(&["status"]);
        let keepers = status["keepers"].as_array().expect("keepers in status");
        assert_eq!(keepers.len(), 1, "{status:#}");
        assert_eq!(keepers[0]["name"], "the Okafor NAS");
        assert_eq!(keepers[0]["missing"], 0, "{status:#}");
        assert!(!keepers[0]["last_sync"].is_null(), "{status:#}");
    }
    let words = f.ada.ok(&["keeper", "list"]);
    assert!(words.contains("it has everything you wrote"), "{words}");
    // The keeper itself holds the alliance and says who synced.
    let status = f.keeper.json(&["keeper", "status"]);
    assert_eq!(status["running"], true);
    let held = status["alliances"].as_object().unwrap();
    assert_eq!(held.len(), 1);
    let alliance = held.values().next().unwrap();
    assert_eq!(alliance["title"], "The Okafor family");
    let names: BTreeSet<String> = alliance["devices"]
        .as_object()
        .unwrap()
        .values()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, set(&["Ada", "Ben", "Zoe"]), "{status:#}");
    let _ = &f.keeper_at;
}

#[test]
fn a_changes_waiting_count_says_what_has_not_reached_the_keeper_yet() {
    let (f, keeper) = Family::new();
    f.ada.ok(&["need", "add", "Quiet mornings"]);
    sync(&f.ada);
    drop(keeper);
    f.ada.ok(&["need", "add", "Tea at four"]);
    f.ada.ok(&["need", "add", "A tidy kitchen"]);
    let status = f.ada.json(&["status"]);
    assert_eq!(status["keepers"][0]["missing"], 2, "{status:#}");
    let words = f.ada.ok(&["keeper", "list"]);
    assert!(
        words.contains("2 of your changes have not reached it yet"),
        "{words}"
    );
}
