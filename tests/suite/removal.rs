//! A removed device gets nothing new (issue 24): the real binary, three devices serving on
//! 127.0.0.1 over iroh. Once a device knows of a removal (made there or received), it closes
//! its sessions with the removed device, never dials it, never answers it, and sends it nothing;
//! what the removed device held before stays with it.

use std::collections::HashSet;
use std::time::Duration;

use crate::kit::{Device, eventually, free_port};

/// Three devices of one alliance with fixed addresses, each knowing the others': Ada (the
/// founder, an admin), Tunde and Zoe, everything synced.
struct Family {
    ada: Device,
    tunde: Device,
    zoe: Device,
    at: [String; 3],
}

impl Family {
    fn new() -> Family {
        let at = [0, 1, 2].map(|_| format!("127.0.0.1:{}", free_port()));
        let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
        let serve = ada.serve_at(&at[0]);
        let tunde = Device::new(2);
        tunde.ok(&["join", &ada.invite_ticket(), "--name", "Tunde"]);
        let zoe = Device::new(3);
        zoe.ok(&["join", &ada.invite_ticket(), "--name", "Zoe"]);
        drop(serve);
        let family = Family {
            ada,
            tunde,
            zoe,
            at,
        };
        family.introduce();
        // Tunde learns that Zoe joined (from Ada's device).
        let ada_serve = family.ada.serve_at(&family.at[0]);
        family.tunde.ok(&["sync"]);
        drop(ada_serve);
        family
    }

    /// Every device's address book lists the other two at their fixed addresses.
    fn introduce(&self) {
        let (a, t, z) = (&self.at[0][..], &self.at[1][..], &self.at[2][..]);
        self.ada.knows_at(&[(&self.tunde, t), (&self.zoe, z)]);
        self.tunde.knows_at(&[(&self.ada, a), (&self.zoe, z)]);
        self.zoe.knows_at(&[(&self.ada, a), (&self.tunde, t)]);
    }
}

/// The hashes of every change a device holds.
fn hashes(d: &Device) -> HashSet<String> {
    d.json(&["log"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hash"].as_str().unwrap().to_string())
        .collect()
}

/// The hash of the newest change whose summary contains `what`, on `d`.
fn change_saying(d: &Device, what: &str) -> String {
    d.json(&["log"])
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["summary"].as_str().unwrap().contains(what))
        .unwrap_or_else(|| panic!("no change saying {what:?}"))["hash"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Waits long enough for anything still on its way to the removed device to have arrived: the
/// same changes reached another device already, and a live session pushes at once and runs a
/// sync round within a second; three seconds more is a wide margin on a loaded machine.
fn grace() {
    std::thread::sleep(Duration::from_secs(3));
}

/// What `removed` holds gained nothing since `before` (no change with the removal in its past
/// can be among them without the removal itself).
fn gained_nothing(removed: &Device, before: &HashSet<String>, removal: &str) {
    let now = hashes(removed);
    assert!(
        !now.contains(removal),
        "the removed device received its own removal"
    );
    let new: Vec<_> = now.difference(before).collect();
    assert!(
        new.is_empty(),
        "the removed device received changes written after its removal: {new:?}"
    );
}

#[test]
fn a_removal_closes_the_live_session_and_nothing_new_reaches_the_removed_device_even_after_it_restarts()
 {
    let f = Family::new();
    let _ada = f.ada.serve_at(&f.at[0]);
    let mut tunde = f.tunde.serve_watched_at(&f.at[1]);
    let _zoe = f.zoe.serve_at(&f.at[2]);
    // Live sessions run: a need Ada adds reaches both at once.
    f.ada.ok(&["need", "add", "walks on Sunday"]);
    for d in [&f.tunde, &f.zoe] {
        assert!(eventually(30, || d
            .needs()
            .contains(&"walks on Sunday".into())));
    }

    // Ada removes Tunde while every session is live, then writes on.
    f.ada.ok(&["member", "remove", "Tunde", "--yes"]);
    let removal = change_saying(&f.ada, "removed");
    f.ada.ok(&["need", "add", "quiet evenings"]);
    // Zoe gets both; Tunde is told, and gets neither.
    assert!(eventually(30, || f
        .zoe
        .needs()
        .contains(&"quiet evenings".into())));
    tunde.wait_for("removed from the alliance");
    let before = {
        grace();
        hashes(&f.tunde)
    };
    assert!(!f.tunde.needs().contains(&"quiet evenings".into()));
    gained_nothing(&f.tunde, &before, &removal);
    let tunde_members = f.tunde.ok(&["member", "list"]);
    assert!(
        tunde_members.contains("Tunde"),
        "what Tunde held stays with him: {tunde_members}"
    );

    // Tunde's device restarts and dials both; both refuse, and dial it no more.
    drop(tunde);
    let _tunde = f.tunde.serve_at(&f.at[1]);
    f.ada.ok(&["need", "add", "a weekly call"]);
    f.zoe.ok(&["need", "add", "my own room"]);
    assert!(eventually(30, || f
        .zoe
        .needs()
        .contains(&"a weekly call".into())));
    assert!(eventually(30, || f
        .ada
        .needs()
        .contains(&"my own room".into())));
    grace();
    gained_nothing(&f.tunde, &before, &removal);
}

#[test]
fn a_device_that_learns_of_a_removal_late_closes_its_session_with_the_removed_device_at_once() {
    let f = Family::new();
    // Ada removes Tunde while her device is offline, and writes on.
    f.ada.ok(&["member", "remove", "Tunde", "--yes"]);
    let removal = change_saying(&f.ada, "removed");
    f.ada.ok(&["need", "add", "quiet evenings"]);

    // Tunde and Zoe, who do not know yet, keep a live session.
    let mut tunde = f.tunde.serve_watched_at(&f.at[1]);
    let _zoe = f.zoe.serve_at(&f.at[2]);
    f.tunde.ok(&["need", "add", "time with friends"]);
    assert!(eventually(30, || f
        .zoe
        .needs()
        .contains(&"time with friends".into())));
    let before = hashes(&f.tunde);

    // Ada's device comes online: Zoe learns of the removal from it, closes her session with
    // Tunde at once, and passes on nothing written after it, her own words included.
    let _ada = f.ada.serve_at(&f.at[0]);
    assert!(eventually(60, || f
        .zoe
        .needs()
        .contains(&"quiet evenings".into())));
    tunde.wait_for("removed from the alliance");
    f.zoe.ok(&["need", "add", "my own room"]);
    assert!(eventually(30, || f
        .ada
        .needs()
        .contains(&"my own room".into())));
    grace();
    gained_nothing(&f.tunde, &before, &removal);
    assert!(!f.tunde.needs().contains(&"my own room".into()));
}
