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
    /// Where Ada's device serves when it does (Ben and Zoe know it from joining).
    ada_at: String,
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
        let ada_at = format!("127.0.0.1:{}", free_port());
        let serve = ada.serve_at(&ada_at);
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
                ada_at,
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

/// The needs the keeper holds, read from its own store (`HOME/keeper`).
fn kept_needs(keeper: &Device) -> BTreeSet<String> {
    let home = keeper.home().join("keeper");
    let out = crate::kit::alliance(&home, keeper.seed)
        .args(["--json", "need", "list"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_keeper_restart_or_a_kill_during_a_sync_loses_nothing_that_was_acknowledged() {
    let (f, keeper) = Family::new();
    f.ada.ok(&["need", "add", "Quiet mornings"]);
    sync(&f.ada);
    // Stopped (SIGTERM) and started again: everything is there.
    assert!(keeper.serve.stop(), "the keeper stops cleanly on SIGTERM");
    let keeper = f.keeper.keeper_at(&f.keeper_at, &[]);
    sync(&f.ben);
    assert_eq!(needs(&f.ben), set(&["Quiet mornings"]));
    // Killed (SIGKILL) right after Ben's sync returned: what it acknowledged stays.
    f.ben.ok(&["need", "add", "A walk on Sundays"]);
    sync(&f.ben);
    drop(keeper);
    // Killed in the middle of a bigger sync: the store is whole, and a second sync brings the
    // rest.
    for i in 0..40 {
        f.zoe.ok(&["need", "add", &format!("Zoe's need {i}")]);
    }
    let keeper = f.keeper.keeper_at(&f.keeper_at, &[]);
    let mut syncing = crate::kit::alliance(f.zoe.home(), f.zoe.seed)
        .arg("sync")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    drop(keeper);
    let _ = syncing.wait();
    let _keeper = f.keeper.keeper_at(&f.keeper_at, &[]);
    sync(&f.zoe);
    sync(&f.ada);
    let mut all = set(&["Quiet mornings", "A walk on Sundays"]);
    all.extend((0..40).map(|i| format!("Zoe's need {i}")));
    assert_eq!(needs(&f.ada), all);
    assert_eq!(kept_needs(&f.keeper), all);
}

/// What `sync --json` printed, whether or not anyone was reachable.
fn sync_rows(d: &Device) -> Vec<serde_json::Value> {
    let out = d.cmd().args(["--json", "sync"]).output().unwrap();
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .map(|v| v.as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
}

#[test]
fn a_removed_keeper_is_refused_and_receives_nothing_written_after_its_removal() {
    let (f, _keeper) = Family::new();
    f.ada.ok(&["need", "add", "Quiet mornings"]);
    sync(&f.ada);
    f.ada.ok(&["keeper", "remove", "the Okafor NAS"]);
    f.ada.ok(&["need", "add", "After the keeper left"]);
    // Ada's sync no longer dials it; Ben (who does not know of the removal yet) reaches it
    // and gets nothing from it that is new, and gives it nothing new once he knows.
    let out = sync_rows(&f.ada);
    assert!(
        out.iter()
            .all(|r| !r["name"].as_str().unwrap().contains("keeper")),
        "a removed keeper is not dialled: {out:#?}"
    );
    let serve = f.ada.serve_at(&f.ada_at);
    // (Its session with the keeper, at the same time, ends as soon as the removal arrives.)
    sync_rows(&f.ben);
    drop(serve);
    assert!(needs(&f.ben).contains("After the keeper left"));
    // Ben now knows: his sync refuses the keeper, and the keeper never got the new need.
    let out = sync_rows(&f.ben);
    assert!(
        out.iter()
            .all(|r| !r["name"].as_str().unwrap().contains("keeper")),
        "{out:#?}"
    );
    assert_eq!(kept_needs(&f.keeper), set(&["Quiet mornings"]));
    let list = f.ada.ok(&["keeper", "list"]);
    assert!(list.contains("no keeper"), "{list}");
}

#[test]
fn two_keepers_of_one_alliance_sync_with_each_other() {
    let (f, first) = Family::new();
    let second = Device::new(44);
    let second_at = format!("127.0.0.1:{}", free_port());
    let running = second.keeper_at(&second_at, &[]);
    f.ada
        .ok(&["keeper", "add", &running.ticket, "--name", "Grandma's box"]);
    // Ben hears of the second keeper from the first.
    sync(&f.ada);
    sync(&f.ben);
    f.ada.ok(&["need", "add", "Quiet mornings"]);
    // Ada reaches only the first keeper; it passes the need on to the second.
    let first_key = f.keeper.home().join("keeper");
    let first_id = crate::kit::alliance(&first_key, f.keeper.seed)
        .args(["--json", "whoami"])
        .output()
        .unwrap();
    let first_id: serde_json::Value = serde_json::from_slice(&first_id.stdout).unwrap();
    f.ada
        .ok(&["sync", "--peer", first_id["device"].as_str().unwrap()]);
    assert!(
        crate::kit::eventually(20, || kept_needs(&second).contains("Quiet mornings")),
        "the second keeper got the need from the first"
    );
    // With the first keeper gone, Ben gets it from the second.
    drop(first);
    sync(&f.ben);
    assert!(needs(&f.ben).contains("Quiet mornings"));
}

#[test]
fn an_idle_alliance_leaves_the_keepers_memory_and_comes_back_when_a_member_connects() {
    let keeper = Device::new(50);
    let at = format!("127.0.0.1:{}", free_port());
    let _running = keeper.keeper_at(&at, &["--idle", "1"]);
    let ada = Device::founder(51, "Ada", "The Okafor family", "parent");
    let ticket = keeper.json(&["keeper", "ticket"])["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    ada.ok(&["keeper", "add", &ticket]);
    ada.ok(&["need", "add", "Quiet mornings"]);
    sync(&ada);
    let loaded = |d: &Device| {
        let s = d.json(&["keeper", "status"]);
        s["alliances"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .map(|a| a["loaded"] == true)
    };
    assert!(
        crate::kit::eventually(20, || loaded(&keeper) == Some(false)),
        "dropped from memory once idle"
    );
    ada.ok(&["need", "add", "Tea at four"]);
    sync(&ada);
    assert_eq!(kept_needs(&keeper), set(&["Quiet mornings", "Tea at four"]));
}

#[test]
fn members_pass_on_addresses_so_two_who_met_only_through_a_third_meet_directly() {
    let (f, keeper) = Family::new();
    drop(keeper);
    let [a, z] = [0, 1].map(|_| format!("127.0.0.1:{}", free_port()));
    // Zoe's device serves at a fixed address and meets Ada's; Ben knows only Ada's.
    let ada = f.ada.serve_at(&a);
    f.zoe.knows_at(&[(&f.ada, &a)]);
    f.ben.knows_at(&[(&f.ada, &a)]);
    let zoe = f.zoe.serve_at(&z);
    assert!(crate::kit::eventually(20, || {
        f.ada.json(&["peers"]).to_string().contains(&z)
    }));
    // Ben syncs with Ada's device, which passes on where Zoe's is.
    f.ben.ok(&["sync"]);
    drop(ada);
    f.ben.ok(&["need", "add", "A walk on Sundays"]);
    let out = f.ben.json(&["sync"]);
    assert!(
        out.as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "Zoe" && r["ok"] == true),
        "Ben reached Zoe directly: {out:#}"
    );
    drop(zoe);
    assert!(needs(&f.zoe).contains("A walk on Sundays"));
}

/// A stranger's endpoint on 127.0.0.1 (a real iroh node of a device in no alliance).
async fn stranger(seed: u8) -> alliance::net::node::Node {
    crate::kit::net::Dev::new(seed, "Eve").node().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keeper_survives_what_serve_survives_from_strangers() {
    use alliance::constants::{ALPN, MAX_HANDSHAKE_FRAME_BYTES, MAX_STRANGER_CONNECTIONS};
    use alliance::net::ticket::KeeperTicket;
    use alliance::net::wire::{Frame, read_frame, write_frame};
    let (f, keeper) = tokio::task::block_in_place(Family::new);
    let ticket: KeeperTicket = keeper.ticket.parse().unwrap();
    let addr = ticket.keeper.clone();
    let alliance_id: [u8; 32] = {
        let id = f.ada.json(&["show"])["id"].as_str().unwrap().to_string();
        hex::decode(id).unwrap().try_into().unwrap()
    };
    let eve = stranger(90).await;
    // Garbage for a first frame: disconnected.
    let conn = eve.endpoint.connect(addr.clone(), ALPN).await.unwrap();
    let (mut s, mut r) = conn.open_bi().await.unwrap();
    s.write_all(&[0, 0, 0, 9, 7, 7, 7, 7, 7, 7, 7, 7, 7])
        .await
        .unwrap();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(15), read_frame(&mut r))
        .await
        .expect("answered");
    assert!(!matches!(answer, Ok(Frame::Welcome { .. })), "{answer:?}");
    // A frame announced over the handshake limit: disconnected before it is read.
    let conn = eve.endpoint.connect(addr.clone(), ALPN).await.unwrap();
    let (mut s, mut r) = conn.open_bi().await.unwrap();
    s.write_all(&((MAX_HANDSHAKE_FRAME_BYTES as u32) + 1).to_be_bytes())
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(std::time::Duration::from_secs(15), read_frame(&mut r))
            .await
            .expect("answered")
            .is_err()
    );
    // A stranger's hello for the alliance the keeper holds: refused, as not a member.
    let hello = |hand_over| Frame::Hello {
        alliance: alliance_id,
        join: None,
        live: true,
        addrs: vec![],
        hand_over,
    };
    for (hand_over, expected) in [
        (None, "not a member"),
        // A hand-over with a wrong secret, for an alliance it holds or not.
        (Some([1; 32]), "not a member"),
    ] {
        let conn = eve.endpoint.connect(addr.clone(), ALPN).await.unwrap();
        let (mut s, mut r) = conn.open_bi().await.unwrap();
        write_frame(&mut s, &hello(hand_over)).await.unwrap();
        match read_frame(&mut r).await {
            Ok(Frame::Refused { reason }) => assert!(reason.contains(expected), "{reason}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    let conn = eve.endpoint.connect(addr.clone(), ALPN).await.unwrap();
    let (mut s, mut r) = conn.open_bi().await.unwrap();
    write_frame(
        &mut s,
        &Frame::Hello {
            alliance: [9; 32],
            join: None,
            live: false,
            addrs: vec![],
            hand_over: Some([1; 32]),
        },
    )
    .await
    .unwrap();
    match read_frame(&mut r).await {
        Ok(Frame::Refused { reason }) => {
            assert!(reason.contains("keeper ticket is not its own"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A flood of silent strangers, more than the slots they share: members still get in.
    let mut conns = Vec::new();
    let mut floods = Vec::new();
    for seed in 0..3u8 {
        let node = stranger(91 + seed).await;
        for _ in 0..(MAX_STRANGER_CONNECTIONS / 2) {
            if let Ok(c) = node.endpoint.connect(addr.clone(), ALPN).await {
                conns.push(c);
            }
        }
        floods.push(node);
    }
    assert!(conns.len() > MAX_STRANGER_CONNECTIONS);
    tokio::task::block_in_place(|| {
        f.ada.ok(&["need", "add", "During the flood"]);
        sync(&f.ada);
        sync(&f.ben);
        assert!(needs(&f.ben).contains("During the flood"));
    });
    // Nothing of the strangers is kept, and the keeper is still the one it was.
    let status = tokio::task::block_in_place(|| f.keeper.json(&["keeper", "status"]));
    assert_eq!(status["running"], true);
    assert_eq!(status["alliances"].as_object().unwrap().len(), 1);
    for n in floods {
        n.shutdown().await;
    }
    eve.shutdown().await;
}

/// `alliance app --no-open` of a device (its node stays connected, live, as a family's open
/// page keeps it); killed on drop.
struct OpenPage(std::process::Child);

impl OpenPage {
    fn start(d: &Device) -> OpenPage {
        let (child, v) = d.announced("127.0.0.1:0", &["app", "--no-open"]);
        assert!(v["url"].is_string(), "the page started: {v}");
        OpenPage(child)
    }
}

impl Drop for OpenPage {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn three_members_whose_pages_are_never_open_together_converge_through_the_keeper_live() {
    let (f, _keeper) = Family::new();
    let arrives = |d: &Device, what: &[&str]| {
        crate::kit::eventually(30, || {
            let have = needs(d);
            what.iter().all(|w| have.contains(*w))
        })
    };
    let kept = |what: &str| crate::kit::eventually(30, || kept_needs(&f.keeper).contains(what));
    // Ada's page is open; what she writes reaches the keeper with no command.
    let page = OpenPage::start(&f.ada);
    f.ada.ok(&["need", "add", "Quiet mornings"]);
    assert!(kept("Quiet mornings"));
    drop(page);
    // Ben opens his page later: Ada's need arrives; his goes to the keeper.
    let page = OpenPage::start(&f.ben);
    assert!(arrives(&f.ben, &["Quiet mornings"]));
    f.ben.ok(&["need", "add", "A walk on Sundays"]);
    assert!(kept("A walk on Sundays"));
    drop(page);
    // Zoe, later still.
    let page = OpenPage::start(&f.zoe);
    assert!(arrives(&f.zoe, &["Quiet mornings", "A walk on Sundays"]));
    f.zoe.ok(&["need", "add", "Time with friends"]);
    assert!(kept("Time with friends"));
    drop(page);
    // Ada's page again: Ben's and Zoe's arrive.
    let _page = OpenPage::start(&f.ada);
    assert!(arrives(
        &f.ada,
        &["Quiet mornings", "A walk on Sundays", "Time with friends"]
    ));
}

#[test]
fn the_relay_allowlist_names_exactly_the_devices_of_the_alliances_the_keeper_holds() {
    let (f, _keeper) = Family::new();
    sync(&f.ada);
    sync(&f.ben);
    sync(&f.zoe);
    f.ada.ok(&["member", "remove", "Zoe", "--yes"]);
    sync(&f.ada);
    // The status file the allowlist reads is written as the keeper notices what happened.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let text = f.keeper.ok(&["keeper", "relay-allowlist"]);
    let config: toml::Table = text.parse().expect("a TOML config iroh-relay reads");
    let listed: BTreeSet<String> = config["access"]["allowlist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let k = k.as_str().unwrap();
            // As iroh-relay reads them: endpoint IDs.
            k.parse::<iroh::PublicKey>().expect("an endpoint ID");
            k.to_string()
        })
        .collect();
    let keeper_key = crate::kit::alliance(&f.keeper.home().join("keeper"), f.keeper.seed)
        .args(["--json", "whoami"])
        .output()
        .unwrap();
    let keeper_key: serde_json::Value = serde_json::from_slice(&keeper_key.stdout).unwrap();
    let expected: BTreeSet<String> = [
        f.ada.device_key(),
        f.ben.device_key(),
        keeper_key["device"].as_str().unwrap().to_string(),
    ]
    .into_iter()
    .collect();
    assert_eq!(listed, expected, "Zoe, removed, is not on it:\n{text}");
}

#[test]
fn the_keeper_says_in_words_who_handed_over_connected_sent_and_was_refused() {
    let keeper = Device::new(60);
    let at = format!("127.0.0.1:{}", free_port());
    let mut running = keeper.watched_at(&at, &["keeper", "--name", "the Okafor NAS"]);
    let ticket = running
        .wait_for("alliance keeper add keeper")
        .iter()
        .find_map(|l| l.trim().strip_prefix("alliance keeper add "))
        .unwrap()
        .to_string();
    let ada = Device::founder(61, "Ada", "The Okafor family", "parent");
    ada.ok(&["keeper", "add", &ticket]);
    running.wait_for("Ada handed over \"The Okafor family\"");
    ada.ok(&["need", "add", "Quiet mornings"]);
    sync(&ada);
    running.wait_for("Ada connected");
    running.wait_for("1 change from Ada");
    // Someone with a ticket that is not the keeper's own: refused, and told why.
    let mut forged: alliance::net::ticket::KeeperTicket = ticket.parse().unwrap();
    forged.secret = [7; 32];
    let eve = Device::founder(62, "Eve", "Eve's", "parent");
    eve.fails(&["keeper", "add", &forged.to_string()], 1);
    let seen = running.wait_for("Refused a device").to_vec();
    assert!(
        seen.iter()
            .any(|l| l.contains("Refused a device") && l.contains("keeper ticket is not its own")),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .all(|l| !l.contains("INFO") && !l.contains("peer=")),
        "no technical lines on its terminal by default: {seen:#?}"
    );
    let errors = running.stderr();
    assert!(
        errors
            .iter()
            .all(|l| !l.contains("WARN") && !l.contains("INFO")),
        "the technical lines are behind -v: {errors:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_a_keeper_from_the_page_and_the_page_says_it_has_everything() {
    use crate::app::{App, Driver, alliance_id, click, fill, tools_or_skip, until_text};
    let Some((chromium, chromedriver)) = tools_or_skip("an_admin_adds_a_keeper_from_the_page")
    else {
        return;
    };
    let keeper = Device::new(70);
    let at = format!("127.0.0.1:{}", free_port());
    let running = tokio::task::block_in_place(|| keeper.keeper_at(&at, &[]));
    let ada = tokio::task::block_in_place(|| {
        let ada = Device::founder(71, "Ada", "The Okafor family", "parent");
        ada.ok(&["need", "add", "Quiet mornings"]);
        ada
    });
    let id = alliance_id(ada.home());
    let app = App::start(ada.home());
    let mut driver = Driver::start(chromium, chromedriver);
    let a = driver.browser().await;
    a.goto(&app.url).await.unwrap();
    until_text(&a, "main", "Hello, Ada").await;
    a.goto(&app.page(&id, "people")).await.unwrap();
    until_text(&a, "main", "Always-on keepers").await;
    fill(&a, "#keeper-ticket", &running.ticket).await;
    fill(&a, "#keeper-name", "the Okafor NAS").await;
    click(&a, "form[action$='/do/keeper-add'] button[type=submit]").await;
    // The keepers part is drawn again with it (the form's answer goes with the old drawing).
    until_text(&a, "[data-part=keepers]", "It has everything you wrote").await;
    // The keeper holds it, with Ada's need; the page says so in words.
    assert!(
        tokio::task::block_in_place(
            || crate::kit::eventually(20, || kept_needs(&keeper).contains("Quiet mornings"))
        ),
        "the keeper took the alliance"
    );
    until_text(&a, "main", "the Okafor NAS").await;
    // Listed as a keeper, not among the people's devices.
    let devices = a
        .execute(
            "return [...document.querySelectorAll('[data-part=devices] li')].map(l => l.textContent).join('|')",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        !devices.as_str().unwrap().contains("'s device · online"),
        "{devices}"
    );
    a.goto(&app.page(&id, "")).await.unwrap();
    until_text(&a, "main", "has everything you wrote").await;
    a.close().await.unwrap();
    app.stop();
}
