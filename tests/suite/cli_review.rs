//! The real binary reviewing a history made on three devices (exchanged as bundle files):
//! status and the seen marker, diff, blame, conflicts with `resolve`, log filters and the
//! export appendix, with snapshots of what a person reads.

use crate::kit::Device;

/// Sends everything `from` has to `to` through a bundle file.
fn carry(from: &Device, to: &Device) {
    let path = from.home().join("carry.bundle");
    from.ok(&["bundle", "export", path.to_str().unwrap()]);
    to.ok(&["bundle", "import", path.to_str().unwrap()]);
}

fn exchange(all: &[&Device]) {
    for a in all {
        for b in all {
            if !std::ptr::eq(*a, *b) {
                carry(a, b);
            }
        }
    }
}

/// Ada (founder), Ben and Cy (their coach), each on their own device, all in sync.
fn three() -> (Device, Device, Device) {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let ben = Device::new(2);
    ben.ok(&["init", "--name", "Ben"]);
    let cy = Device::new(3);
    cy.ok(&["init", "--name", "Cy"]);
    ada.ok(&[
        "member",
        "add",
        "Ben",
        "--role",
        "teen",
        "--device",
        &ben.device_key(),
    ]);
    ada.ok(&[
        "member",
        "add",
        "Cy",
        "--role",
        "coach",
        "--device",
        &cy.device_key(),
    ]);
    exchange(&[&ada, &ben, &cy]);
    (ada, ben, cy)
}

#[test]
fn status_seen_and_diff_follow_what_each_person_has_looked_at() {
    let (ada, ben, cy) = three();
    let e = ada.add(&["expect", "add", "phones in the basket at dinner"]);
    ada.ok(&["need", "add", "a quiet Sunday morning"]);
    carry(&ada, &ben);
    ben.ok(&["seen"]);

    let st = ben.json(&["status"]);
    assert_eq!(st["name"], "Ben");
    assert_eq!(st["news_count"], 0);
    assert_eq!(st["to_agree"][0]["expectation"], e.as_str());
    assert_eq!(st["to_agree"][0]["stale"], false);
    // The first check-in comes two weeks after the first expectation, not at once.
    assert_eq!(st["checkin"]["due"], false);
    assert!(st["checkin"]["next"].is_string());

    ben.ok(&["expect", "agree", &e]);
    ben.ok(&["need", "add", "rides to practice"]);
    exchange(&[&ada, &ben, &cy]);
    cy.ok(&["expect", "edit", &e, "phones in the basket during dinner"]);
    cy.ok(&["vision", "set", "We show up for each other."]);
    carry(&cy, &ben);

    insta::assert_snapshot!("status", ben.ok(&["status"]));
    let st = ben.json(&["status"]);
    assert_eq!(st["news_count"], 2, "{st:#}");
    assert_eq!(st["to_agree"][0]["stale"], true);
    insta::assert_snapshot!("diff", ben.ok(&["diff"]));
    let diff = ben.json(&["diff"]);
    let steps: Vec<&str> = diff["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["Needs", "Vision", "Expectations"], "{diff:#}");

    // Marked seen: nothing new, and diff is empty.
    ben.ok(&["seen"]);
    assert_eq!(ben.json(&["status"])["news_count"], 0);
    assert!(ben.json(&["diff"])["steps"].as_array().unwrap().is_empty());
    // The marker is this device's own: Ada's status still counts Cy's edits.
    carry(&cy, &ada);
    assert!(ada.json(&["status"])["news_count"].as_u64().unwrap() >= 2);
    // diff --since a change: what came after it.
    let log = ben.json(&["log", "--kind", "vision"]);
    // The founding (which made the empty vision) and Cy's edit, newest first.
    assert_eq!(log.as_array().unwrap().len(), 2, "{log:#}");
    assert!(
        log[0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("edited the vision")
    );
    let hash = log[0]["hash"].as_str().unwrap();
    let after = ben.json(&["diff", "--since", &hash[..10]]);
    assert_eq!(after["changes"], 0);
    let err = ben.fails(&["diff", "--since", "last week"], 1);
    assert!(err.contains("neither a date"), "{err}");
}

#[test]
fn concurrent_edits_show_as_a_conflict_until_someone_resolves_it() {
    let (ada, ben, cy) = three();
    let p = ada.add(&[
        "plan",
        "add",
        "--when",
        "Sunday 7pm",
        "--how",
        "kitchen table",
    ]);
    exchange(&[&ada, &ben, &cy]);
    ben.ok(&["plan", "edit", &p, "--when", "Saturday 10am"]);
    cy.ok(&["plan", "edit", &p, "--when", "Monday 6pm"]);
    exchange(&[&ada, &ben, &cy]);

    let conflicts = ada.json(&["show"])["conflicts"].clone();
    assert_eq!(conflicts.as_array().unwrap().len(), 1, "{conflicts:#}");
    assert_eq!(conflicts[0]["field"], "when");
    for d in [&ben, &cy] {
        assert_eq!(d.json(&["show"])["conflicts"], conflicts);
        assert_eq!(d.json(&["status"])["conflicts"], conflicts);
    }
    let authors: Vec<&str> = conflicts[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["author"].as_str().unwrap())
        .collect();
    assert!(
        authors.contains(&"Ben") && authors.contains(&"Cy"),
        "{authors:?}"
    );
    insta::assert_snapshot!("plan_history_with_conflict", ada.ok(&["history", &p]));
    assert!(ada.ok(&["show"]).contains("alliance resolve"));

    let err = ada.fails(&["resolve", &p, "how", "--pick", "1"], 1);
    assert!(err.contains("no conflict"), "{err}");
    let err = ada.fails(&["resolve", &p, "when", "--pick", "3"], 1);
    assert!(err.contains("values 1 to 2"), "{err}");
    let resolved = ada.json(&["resolve", &p, "when", "--value", "Sunday 5pm"]);
    assert_eq!(resolved["changed"], true);
    exchange(&[&ada, &ben, &cy]);
    for d in [&ada, &ben, &cy] {
        let show = d.json(&["show"]);
        assert!(show["conflicts"].as_array().unwrap().is_empty());
        assert_eq!(show["plan"][0]["when"], "Sunday 5pm");
    }
    let log = ada.json(&["log", "--item", &p]);
    let summaries: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    assert_eq!(summaries.len(), 4, "{summaries:?}");
    assert!(summaries[0].starts_with("resolved when of design session"));
}

#[test]
fn blame_shows_who_wrote_which_part_of_the_vision() {
    let (ada, ben, cy) = three();
    ada.ok(&["vision", "set", "We listen first."]);
    exchange(&[&ada, &ben, &cy]);
    ben.ok(&["vision", "set", "Together, We listen first."]);
    cy.ok(&["vision", "set", "We listen first. Always."]);
    exchange(&[&ada, &ben, &cy]);
    insta::assert_snapshot!("blame", ada.ok(&["blame", "vision"]));
    let blame = ada.json(&["blame", "vision"]);
    let spans = &blame["spans"];
    let by: Vec<(&str, &str)> = spans
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["author"].as_str().unwrap(), s["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        by,
        [
            ("Ben", "Together, "),
            ("Ada", "We listen first."),
            ("Cy", " Always.")
        ]
    );
    assert_eq!(blame["authors"][0]["author"], "Ada");
    assert_eq!(blame["lines"].as_array().unwrap().len(), 1);
    assert_eq!(ben.json(&["blame", "vision"]), blame);
    let err = ada.fails(&["history", "vision"], 1);
    assert!(err.contains("blame vision"), "{err}");
}

#[test]
fn log_filters_by_item_kind_and_person_and_export_appends_the_history() {
    let (ada, ben, _cy) = three();
    let n = ben.add(&["need", "add", "rides to practice"]);
    ben.ok(&["need", "edit", &n, "rides to practice on Tuesdays"]);
    ada.ok(&["expect", "add", "dishes after dinner"]);
    carry(&ben, &ada);
    let by_item = ada.json(&["log", "--item", &n]);
    assert_eq!(by_item.as_array().unwrap().len(), 2);
    assert!(
        by_item
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["author"] == "Ben")
    );
    let members = ada.json(&["log", "--kind", "member"]);
    // Founding (Ada as first member) and adding Ben and Cy.
    assert_eq!(members.as_array().unwrap().len(), 3, "{members:#}");
    let needs_by_ada = ada.json(&["log", "--kind", "need", "--who", "Ada"]);
    assert!(needs_by_ada.as_array().unwrap().is_empty());
    let err = ada.fails(&["log", "--item", "not-an-id"], 1);
    assert!(!err.is_empty());

    let md = ada.ok(&["export", "--format", "md", "--history"]);
    let appendix = md.split("## Appendix").nth(1).expect("appendix");
    assert!(appendix.contains("| Ben | edited need"), "{appendix}");
    assert_eq!(
        appendix.matches("verified (device").count(),
        6,
        "{appendix}"
    );
    let json = ada.json(&["export", "--format", "json", "--history"]);
    assert_eq!(json["history"].as_array().unwrap().len(), 6);
    assert_eq!(
        json["history"][0]["summary"]
            .as_str()
            .unwrap()
            .split(' ')
            .next(),
        Some("founded")
    );
    assert!(!ada.ok(&["export", "--format", "md"]).contains("Appendix"));
}

#[test]
fn a_damaged_or_missing_index_cache_is_rebuilt_and_answers_the_same() {
    let (ada, ben, _cy) = three();
    let e = ada.add(&["expect", "add", "dishes after dinner"]);
    carry(&ada, &ben);
    ben.ok(&["expect", "edit", &e, "dishes right after dinner"]);
    carry(&ben, &ada);
    let expected = ada.json(&["history", &e]);
    let cache = ada
        .alliance_dir()
        .join(alliance::store::layout::INDEX_CACHE);
    assert!(cache.exists(), "the first review command writes the cache");
    std::fs::write(&cache, b"ALLIDX01 not really an index").unwrap();
    assert_eq!(ada.json(&["history", &e]), expected);
    std::fs::remove_file(&cache).unwrap();
    assert_eq!(ada.json(&["history", &e]), expected);
    assert_eq!(ada.json(&["verify"])["ok"], true);
}

/// A change a member's modified client makes straight with Automerge (`edit` returns its hash),
/// signed with that device's key and stored on it as a received change would be.
pub(crate) fn signed_raw_edit(
    d: &Device,
    edit: impl FnOnce(&mut automerge::Automerge) -> automerge::ChangeHash,
) {
    use alliance::core::{SeededEntropy, SignedChange};
    use alliance::store::{Home, LockMode};
    let home = Home::new(d.home());
    let id = home.alliance_ids().unwrap()[0];
    let key = home.identity().unwrap().key;
    let mut open = home.open(&id, LockMode::Exclusive).unwrap();
    let tag = open.actor_tag(&mut SeededEntropy::new(1)).unwrap();
    let mut doc = open.replica().doc().clone();
    let mut actor = key.device_id().as_bytes().to_vec();
    actor.extend_from_slice(&tag);
    doc.set_actor(automerge::ActorId::from(actor));
    let hash = edit(&mut doc);
    let change = automerge::ReadDoc::get_change_by_hash(&doc, &hash).unwrap();
    let signed = SignedChange::from_bytes(
        change.raw_bytes().to_vec(),
        &key.sign_change(&hash).to_bytes(),
    )
    .unwrap();
    let received = open.replica_mut().receive(vec![signed]).unwrap();
    open.persist(&received.new).unwrap();
}

#[test]
fn terminal_control_characters_from_the_document_are_shown_escaped() {
    let (ada, ben, cy) = three();
    // `alliance` refuses such a name, but a member's modified client can sign one; a name that
    // tries to hide or redraw what follows it, and a text with an escape sequence.
    let sneaky = "Eve\u{1b}[8m\rAda";
    let err = ada.fails(&["member", "add", sneaky, "--role", "guest"], 1);
    assert!(err.contains("invisible character"), "{err}");
    signed_raw_edit(&cy, |doc| {
        use automerge::transaction::Transactable;
        use automerge::{ROOT, ReadDoc};
        let (_, members) = doc.get(ROOT, "members").unwrap().unwrap();
        let first = doc.keys(&members).next().unwrap();
        let (_, member) = doc.get(&members, &first).unwrap().unwrap();
        let mut tx = doc.transaction();
        tx.put(&member, "name", sneaky).unwrap();
        tx.commit().0.unwrap()
    });
    carry(&cy, &ben);
    ada.ok(&["need", "add", "quiet\u{1b}[2K mornings"]);
    carry(&ada, &ben);
    for args in [
        &["show"][..],
        &["log"],
        &["status"],
        &["diff"],
        &["member", "list"],
        &["export", "--format", "md", "--history"],
    ] {
        let out = ben.ok(args);
        assert!(
            !out.contains('\u{1b}') && !out.contains('\r'),
            "alliance {args:?} printed a raw control character: {out:?}"
        );
    }
    // JSON keeps the exact text (escaped by JSON itself).
    let members = ben.json(&["member", "list"]);
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == sneaky)
    );
}

#[test]
fn an_equivocating_device_is_shown_in_status_and_log_and_its_other_change_left_out() {
    use alliance::core::{SeededEntropy, Timestamp, Writer};
    use alliance::store::{Home, LockMode, format};
    let (ada, ben, _cy) = three();
    // Ben's device forks its own history (as a device cloned at the block level, or a
    // tampered build, would): the same actor signs two different changes with one number.
    let home = Home::new(ben.home());
    let id = home.alliance_ids().unwrap()[0];
    let key = home.identity().unwrap().key;
    let (tag, mut fork) = {
        let mut open = home.open(&id, LockMode::Exclusive).unwrap();
        let tag = open.actor_tag(&mut SeededEntropy::new(1)).unwrap();
        (tag, open.replica().clone())
    };
    ben.ok(&["need", "add", "the one Ada keeps"]);
    let writer = Writer {
        key: &key,
        actor_tag: tag,
        now: Timestamp(crate::kit::NOW + 60),
    };
    let other = fork
        .add_need(&writer, &mut SeededEntropy::new(9), "the other one")
        .unwrap()
        .change
        .unwrap();
    carry(&ben, &ada);
    let bundle = ben.home().join("other.bundle");
    std::fs::write(
        &bundle,
        format::encode_bundle(&id.0, [(other.signature(), other.raw_bytes())]),
    )
    .unwrap();
    let out = ada.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    assert!(out.contains("Left out 1 change(s)"), "{out}");
    assert!(ada.needs().contains(&"the one Ada keeps".to_string()));
    assert!(!ada.needs().contains(&"the other one".to_string()));
    let status = ada.ok(&["status"]);
    assert!(
        status.contains("Equivocation: Ben's device")
            && status.contains(&other.hash().to_string()[..12]),
        "{status}"
    );
    let st = ada.json(&["status"]);
    assert_eq!(st["equivocations"][0]["member"], "Ben");
    assert_eq!(st["equivocations"][0]["left_out"], other.hash().to_string());
    let log = ada.ok(&["log"]);
    assert!(log.contains("EQUIVOCATION"), "{log}");
    // Importing the other change again leaves it out again; verify stays clean.
    ada.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    ada.ok(&["verify"]);
}
