//! Reviewing the history in memory: per-item history, blame, conflicts and their resolution,
//! diff and status, across three simulated devices that exchange signed changes by hand (the
//! network is not the point here; `cli_net.rs` does the same over iroh).

use crate::kit::memory::{Dev as Device, T0, founded, wire};
use alliance::core::conflicts::{Place, Resolution};
use alliance::core::index::{ChangeIndex, Touch};
use alliance::core::{
    DeviceKey, ItemId, NewCheckIn, Replica, SeededEntropy, SignedChange, Timestamp, Unverified,
    Writer,
};

/// What these tests ask of an in-memory device besides editing.
trait Reviewing {
    /// Proposes an expectation as this device and returns its ID.
    fn expect(&mut self, t: i64, text: &str) -> ItemId;
    fn me(&self) -> ItemId;
    fn index(&self) -> ChangeIndex;
}

impl Reviewing for Device {
    fn expect(&mut self, t: i64, text: &str) -> ItemId {
        self.act(t, |r, w, e| r.add_expectation(w, e, text, None, &[]))
            .unwrap()
            .id
            .unwrap()
    }
    fn me(&self) -> ItemId {
        self.replica.member_of(&self.key.device_id()).unwrap()
    }
    fn index(&self) -> ChangeIndex {
        ChangeIndex::build(&self.replica)
    }
}

/// Every device receives everything every other device has.
fn sync(devices: &mut [&mut Device]) {
    let all: Vec<Vec<SignedChange<Unverified>>> =
        devices.iter().map(|d| wire(&d.replica)).collect();
    for d in devices.iter_mut() {
        for batch in &all {
            d.replica.receive(batch.clone()).unwrap();
        }
    }
    let heads = devices[0].replica.heads();
    assert!(devices.iter().all(|d| d.replica.heads() == heads));
}

/// Ada founds the alliance on device 0 and adds Ben (device 1) and Cy, their coach (device 2);
/// then every device has everything.
fn three() -> (Device, Device, Device) {
    let mut devs = founded("The Okafor family", &["parent", "teen", "coach"]);
    let (mut cy, mut ben, mut ada) = (
        devs.pop().unwrap(),
        devs.pop().unwrap(),
        devs.pop().unwrap(),
    );
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    (ada, ben, cy)
}

fn find(view: &alliance::core::AllianceView, name: &str) -> ItemId {
    view.members
        .iter()
        .find(|m| m.name == name)
        .unwrap()
        .id
        .clone()
}

#[test]
fn history_names_who_changed_each_field_of_an_expectation() {
    let (mut ada, mut ben, mut cy) = three();
    let e = ada.expect(10, "no screens after 8pm");
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    ben.act(20, |r, w, _| {
        r.edit_expectation(w, &e, "no screens after 9pm")
    })
    .unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    cy.act(30, |r, w, _| r.agree(w, &e)).unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);

    for d in [&ada, &ben, &cy] {
        let versions = d.replica.history(&d.index(), &e);
        let authors: Vec<&str> = versions.iter().map(|v| v.author.as_str()).collect();
        assert_eq!(authors, ["Ada", "Ben", "Cy"]);
        assert!(versions.iter().all(|v| v.verified));
        let text = versions[1]
            .fields
            .iter()
            .find(|f| f.field == "text")
            .unwrap();
        assert_eq!(text.old.as_deref(), Some("no screens after 8pm"));
        assert_eq!(text.new.as_deref(), Some("no screens after 9pm"));
        assert_eq!(versions[1].device, ben.key.device_id().to_hex());
        let words: Vec<&str> = versions[2]
            .fields
            .iter()
            .filter_map(|f| f.words.as_deref())
            .collect();
        assert_eq!(words, ["Cy agreed"]);
        assert_eq!(versions[2].time, Timestamp(T0 + 30));
    }
}

#[test]
fn member_history_shows_who_added_them_and_their_device() {
    let (ada, _ben, _cy) = three();
    let view = ada.replica.view();
    let ben = find(&view, "Ben");
    let versions = ada.replica.history(&ada.index(), &ben);
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].author, "Ada");
    let words: Vec<&str> = versions[0]
        .fields
        .iter()
        .filter_map(|f| f.words.as_deref())
        .collect();
    assert!(words.contains(&"name: \"Ben\""), "{words:?}");
    assert!(words.contains(&"added by Ada"), "{words:?}");
    let device = DeviceKey::from_seed([2; 32]).device_id().to_hex();
    assert!(
        words.contains(&format!("device {} joined, added by Ada", &device[..10]).as_str()),
        "{words:?}"
    );
}

#[test]
fn concurrent_reschedules_are_a_conflict_on_every_device_until_resolved() {
    let (mut ada, mut ben, mut cy) = three();
    let p = ada
        .act(10, |r, w, e| {
            r.add_plan(w, e, "Sunday 7pm", "kitchen table", "", &[])
        })
        .unwrap()
        .id
        .unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    // Offline, Ben and Cy both reschedule.
    ben.act(20, |r, w, _| {
        r.edit_plan(w, &p, Some("Saturday 10am"), None, None)
    })
    .unwrap();
    cy.act(21, |r, w, _| {
        r.edit_plan(w, &p, Some("Monday 6pm"), Some("video call"), None)
    })
    .unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);

    let conflicts = ada.replica.conflicts(None);
    for d in [&ben, &cy] {
        assert_eq!(
            d.replica.conflicts(None),
            conflicts,
            "every device sees the same"
        );
    }
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let c = &conflicts[0];
    assert_eq!((c.item.as_ref(), c.field.as_str()), (Some(&p), "when"));
    let mut values: Vec<(&str, &str)> = c
        .values
        .iter()
        .map(|v| (v.value.as_str(), v.author.as_str()))
        .collect();
    values.sort();
    assert_eq!(values, [("Monday 6pm", "Cy"), ("Saturday 10am", "Ben")]);
    assert_eq!(c.values.iter().filter(|v| v.winner).count(), 1);
    let winner = c.values.iter().find(|v| v.winner).unwrap();
    assert_eq!(ada.replica.view().plan[0].when, winner.value);
    // `how` was changed by Cy only: no conflict there.
    assert_eq!(ada.replica.view().plan[0].how, "video call");

    // The history shows both reschedules, the losing one too.
    let versions = ada.replica.history(&ada.index(), &p);
    let whens: Vec<_> = versions
        .iter()
        .flat_map(|v| v.fields.iter().filter(|f| f.field == "when"))
        .map(|f| f.new.clone().unwrap())
        .collect();
    assert!(whens.contains(&"Saturday 10am".to_string()), "{whens:?}");
    assert!(whens.contains(&"Monday 6pm".to_string()), "{whens:?}");

    // Ada settles on Ben's time: whichever number it has.
    let pick = c.values.iter().position(|v| v.author == "Ben").unwrap() + 1;
    let resolved = ada
        .act(30, |r, w, _| {
            r.resolve(w, &Place::Item(p.clone()), "when", Resolution::Pick(pick))
        })
        .unwrap();
    assert!(resolved.change.is_some());
    assert!(
        resolved.summary.contains("Saturday 10am"),
        "{}",
        resolved.summary
    );
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    for d in [&ada, &ben, &cy] {
        assert!(d.replica.conflicts(None).is_empty());
        assert_eq!(d.replica.view().plan[0].when, "Saturday 10am");
        // The resolution is a version of its own, from both values to the one kept.
        let last = d.replica.history(&d.index(), &p).pop().unwrap();
        assert_eq!(last.author, "Ada");
        let when = last.fields.iter().find(|f| f.field == "when").unwrap();
        assert!(
            when.old.as_deref().unwrap().ends_with("(conflict)"),
            "{when:?}"
        );
        assert_eq!(when.new.as_deref(), Some("Saturday 10am"));
    }
    // Nothing left to resolve: a clear refusal, nothing committed.
    let heads = ada.replica.heads();
    let err = ada
        .act(31, |r, w, _| {
            r.resolve(w, &Place::Item(p.clone()), "when", Resolution::Pick(1))
        })
        .unwrap_err();
    assert!(err.to_string().contains("no conflict"), "{err}");
    assert_eq!(ada.replica.heads(), heads);
}

#[test]
fn resolving_with_a_new_value_keeps_the_field_type() {
    let (mut ada, mut ben, mut cy) = three();
    let c = ada
        .act(10, |r, w, e| {
            r.add_checkin(
                w,
                e,
                NewCheckIn {
                    date: "2026-11-01".into(),
                    rating: 4,
                    reflection: String::new(),
                    proposed_changes: vec![],
                    next_in_days: 14,
                },
            )
        })
        .unwrap()
        .id
        .unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    // Offline, Ben and Cy each change the cadence.
    for (d, days) in [(&mut ben, 7), (&mut cy, 30)] {
        d.act(20, |r, w, _| r.edit_checkin(w, &c, None, Some(days)))
            .unwrap();
    }
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    let conflicts = ada.replica.conflicts(None);
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].field, "next_in_days");
    let err = ada
        .act(30, |r, w, _| {
            r.resolve(
                w,
                &Place::Item(c.clone()),
                "next_in_days",
                Resolution::Value("soon".into()),
            )
        })
        .unwrap_err();
    assert!(err.to_string().contains("whole number"), "{err}");
    // A hand-written value is checked like `checkin edit` checks it.
    let err = ada
        .act(30, |r, w, _| {
            r.resolve(
                w,
                &Place::Item(c.clone()),
                "next_in_days",
                Resolution::Value("-3".into()),
            )
        })
        .unwrap_err();
    assert!(err.to_string().contains("between 1 and 3660"), "{err}");
    ada.act(31, |r, w, _| {
        r.resolve(
            w,
            &Place::Item(c.clone()),
            "next_in_days",
            Resolution::Value("21".into()),
        )
    })
    .unwrap();
    assert!(ada.replica.conflicts(None).is_empty());
    assert_eq!(ada.replica.view().checkins[0].next_in_days, 21);
}

#[test]
fn blame_names_who_wrote_each_part_of_the_vision() {
    let (mut ada, mut ben, mut cy) = three();
    ada.act(10, |r, w, _| r.set_vision(w, "We listen first."))
        .unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    ben.act(20, |r, w, _| r.set_vision(w, "Together, We listen first."))
        .unwrap();
    cy.act(21, |r, w, _| r.set_vision(w, "We listen first. Always."))
        .unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    let vision = ada.replica.view().vision;
    assert_eq!(vision, "Together, We listen first. Always.");
    for d in [&ada, &ben, &cy] {
        let spans = d.replica.blame_vision(&d.index());
        let text: String = spans.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(text, vision);
        let by = |name: &str| -> String {
            spans
                .iter()
                .filter(|s| s.author == name)
                .map(|s| s.text.as_str())
                .collect()
        };
        assert_eq!(by("Ben"), "Together, ");
        assert_eq!(by("Ada"), "We listen first.");
        assert_eq!(by("Cy"), " Always.");
        assert!(spans.iter().all(|s| s.verified));
    }
}

#[test]
fn diff_tells_what_changed_since_a_point_by_step_with_authors() {
    let (mut ada, mut ben, mut cy) = three();
    let e = ada.expect(10, "dishes after dinner");
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    let point = ada.replica.heads();
    ben.act(20, |r, w, e| r.add_need(w, e, "time alone after school"))
        .unwrap();
    cy.act(21, |r, w, _| {
        r.edit_expectation(w, &e, "dishes right after dinner")
    })
    .unwrap();
    ada.act(22, |r, w, _| r.set_vision(w, "We show up for each other."))
        .unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);

    let diff = ada.replica.diff(&ada.index(), &point);
    assert_eq!(diff.changes, 3);
    let steps: Vec<&str> = diff.steps.iter().map(|s| s.step).collect();
    assert_eq!(steps, ["Needs", "Vision", "Expectations"]);
    let need = &diff.steps[0].items[0];
    assert_eq!(
        (need.what, need.title.as_str()),
        ("added", "time alone after school")
    );
    assert_eq!(need.authors, ["Ben"]);
    let exp = &diff.steps[2].items[0];
    assert_eq!(
        (exp.what, exp.authors.as_slice()),
        ("changed", &["Cy".to_string()][..])
    );
    let words: Vec<&str> = exp
        .fields
        .iter()
        .filter_map(|f| f.words.as_deref())
        .collect();
    assert_eq!(
        words,
        ["text: \"dishes after dinner\" → \"dishes right after dinner\""]
    );
    assert_eq!(diff.steps[1].items[0].authors, ["Ada"]);
    // Nothing changed since now.
    assert!(
        ada.replica
            .diff(&ada.index(), &ada.replica.heads())
            .steps
            .is_empty()
    );
    // From the beginning: the members are there too.
    let all = ada.replica.diff(&ada.index(), &[]);
    assert_eq!(all.steps[0].step, "Alliance");
    assert_eq!(all.steps[0].items[0].title, "The Okafor family");
    assert_eq!(all.steps[1].step, "Members");
    assert_eq!(all.steps[1].items.len(), 3);
}

#[test]
fn status_lists_what_needs_each_persons_attention() {
    let (mut ada, mut ben, mut cy) = three();
    let e = ada.expect(10, "phones in the basket at dinner");
    ada.act(11, |r, w, e| r.add_need(w, e, "a quiet Sunday morning"))
        .unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    let ben_me = ben.me();
    let seen = ben.replica.heads();

    // Waiting for Ben's agreement; Ben and Cy have no needs yet.
    let now = Timestamp(T0 + 100);
    let st = ben.replica.status(&ben.index(), &ben_me, Some(&seen), now);
    assert_eq!(st.to_agree.len(), 1);
    assert!(!st.to_agree[0].stale);
    let no_needs: Vec<&str> = st.without_needs.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(no_needs, ["Ben", "Cy"]);
    assert_eq!(st.news_count, 0);
    assert!(
        !st.checkin.due,
        "no check-in yet: the first comes two weeks after the first expectation, not at once"
    );
    assert!(st.checkin.next.is_some());

    // Ben agrees; then Cy rewords it: Ben's agreement went stale.
    ben.act(20, |r, w, _| r.agree(w, &e)).unwrap();
    ben.act(21, |r, w, e| r.add_need(w, e, "rides to practice"))
        .unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    cy.act(30, |r, w, _| {
        r.edit_expectation(w, &e, "phones in the basket during dinner")
    })
    .unwrap();
    cy.act(31, |r, w, e| {
        r.add_checkin(
            w,
            e,
            NewCheckIn {
                date: "2026-09-01".into(),
                rating: 3,
                reflection: "good start".into(),
                proposed_changes: vec![],
                next_in_days: 14,
            },
        )
    })
    .unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);

    // 2026-09-20: six days past the agreed cadence.
    let now = Timestamp(1_789_862_400);
    let st = ben.replica.status(&ben.index(), &ben_me, Some(&seen), now);
    assert_eq!(st.to_agree.len(), 1);
    assert!(st.to_agree[0].stale, "agreed to an earlier wording");
    assert_eq!(st.news_count, 2, "Cy's two changes; Ben's own are not news");
    assert!(st.news.iter().all(|n| n.author == "Cy" && n.verified));
    assert_eq!(st.checkin.next.as_deref(), Some("2026-09-15"));
    assert!(st.checkin.due);
    assert_eq!(st.checkin.overdue_days, 5);
    let no_needs: Vec<&str> = st.without_needs.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(no_needs, ["Cy"]);
    assert!(st.conflicts.is_empty());

    // Never marked seen: everything by others since Ben joined counts (not the history he
    // joined into).
    let st = ben.replica.status(&ben.index(), &ben_me, None, now);
    assert!(!st.seen_marked);
    let index = ben.index();
    let me = alliance::core::index::Touch::Item(ben_me.clone());
    let joined = index.touching(&me).next().unwrap().hash;
    let by_others = index
        .after(&[joined])
        .into_iter()
        .filter(|e| {
            !e.actor
                .to_bytes()
                .starts_with(ben.key.device_id().as_bytes())
        })
        .count();
    assert_eq!(st.news_count, by_others);
}

#[test]
fn a_change_whose_signature_fails_is_never_attributed_to_the_person_it_claims() {
    let (mut ada, mut ben, mut cy) = three();
    let e = ada.expect(10, "curfew at ten");
    ada.act(11, |r, w, _| r.set_vision(w, "Trust.")).unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    // A store tampered with by someone holding no key: a change under Ben's actor, signed by
    // a stranger, written straight into Ada's document with the bad signature beside it.
    let stranger = DeviceKey::from_seed([9; 32]);
    let mut doc = ada.replica.doc().clone();
    let mut actor = ben.key.device_id().as_bytes().to_vec();
    actor.extend_from_slice(&[7; 8]);
    doc.set_actor(automerge::ActorId::from(actor));
    let forged = {
        use automerge::{ReadDoc, transaction::Transactable};
        let mut tx = doc.transaction();
        let exps = match tx.get(automerge::ROOT, "expectations").unwrap() {
            Some((_, id)) => id,
            None => unreachable!(),
        };
        let item = tx.get(&exps, e.as_str()).unwrap().unwrap().1;
        tx.put(&item, "holder", "m0000").unwrap();
        let vision = tx.get(automerge::ROOT, "vision").unwrap().unwrap().1;
        tx.splice_text(&vision, 6, 0, " Always.").unwrap();
        tx.commit_with(automerge::transaction::CommitOptions::default().with_time(T0 + 50))
            .0
            .unwrap()
    };
    let mut signatures = ada.replica.signatures().clone();
    signatures.insert(forged, stranger.sign_change(&forged));
    let tampered = Replica::from_store(
        ada.replica.id(),
        Some(&doc.save()),
        signatures,
        Default::default(),
        vec![],
    )
    .unwrap();
    let index = ChangeIndex::build(&tampered);
    assert!(index.get(&forged).unwrap().touched.contains(&Touch::Vision));

    let versions = tampered.history(&index, &e);
    let v = versions
        .iter()
        .find(|v| v.change == forged.to_string())
        .unwrap();
    assert!(!v.verified);
    assert_eq!(v.author, "unknown");
    assert_eq!(v.member, None);
    assert!(
        v.problem.as_deref().unwrap().contains("signature"),
        "{:?}",
        v.problem
    );

    let spans = tampered.blame_vision(&index);
    let forged_text: String = spans
        .iter()
        .filter(|s| !s.verified)
        .map(|s| s.text.as_str())
        .collect();
    assert_eq!(forged_text, " Always.");
    assert!(spans.iter().all(|s| s.verified || s.author == "unknown"));
    assert!(!spans.iter().any(|s| s.author == "Ben"));

    let diff = tampered.diff(&index, &ada.replica.heads());
    for item in diff.steps.iter().flat_map(|s| &s.items) {
        assert_eq!(item.authors, ["unknown"]);
    }
    let ada_me = ada.me();
    let st = tampered.status(
        &index,
        &ada_me,
        Some(&ada.replica.heads()),
        Timestamp(T0 + 60),
    );
    assert_eq!(st.news_count, 1);
    assert!(!st.news[0].verified);
    assert_eq!(st.news[0].author, "unknown");
}

#[test]
fn index_finds_points_in_time_and_the_changes_after_them() {
    let (mut ada, mut ben, mut cy) = three();
    ada.act(100, |r, w, e| r.add_need(w, e, "sleep")).unwrap();
    ben.act(200, |r, w, e| r.add_need(w, e, "friends")).unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    let index = ada.index();
    let total = index.entries().len();
    // Before T0+100: the founding, and the two members added.
    let early = index.heads_before(Timestamp(T0 + 100));
    assert_eq!(index.after(&early).len(), 2);
    assert_eq!(index.after(&[]).len(), total);
    assert!(index.after(&ada.replica.heads()).is_empty());
    let needs: Vec<_> = index
        .entries()
        .iter()
        .filter(|e| {
            e.touched
                .iter()
                .any(|t| matches!(t, Touch::Item(i) if i.kind() == alliance::core::ItemKind::Need))
        })
        .collect();
    assert_eq!(needs.len(), 2);
}

#[test]
fn a_saved_index_brought_up_to_date_equals_one_built_from_scratch() {
    let (mut ada, mut ben, mut cy) = three();
    let e = ada.expect(10, "dishes after dinner");
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    let saved = ada.index().to_bytes();
    // More history arrives: edits, a new member's device, concurrent vision edits.
    ben.act(20, |r, w, _| {
        r.edit_expectation(w, &e, "dishes right after dinner")
    })
    .unwrap();
    cy.act(21, |r, w, _| r.set_vision(w, "We show up."))
        .unwrap();
    let dee = DeviceKey::from_seed([4; 32]);
    ada.act(22, |r, w, en| {
        r.add_member(w, en, "Dee", "aunt", Some(dee.device_id()))
    })
    .unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);

    let mut loaded = ChangeIndex::from_bytes(&saved).expect("saved index loads");
    let added = loaded.update(&ada.replica);
    assert_eq!(added, 3);
    let fresh = ada.index();
    let summary = |i: &ChangeIndex| -> Vec<(String, Vec<Touch>, u64, u64)> {
        i.entries()
            .iter()
            .map(|e| (e.hash.to_string(), e.touched.clone(), e.start_op, e.max_op))
            .collect()
    };
    assert_eq!(summary(&loaded), summary(&fresh));
    assert_eq!(
        loaded.update(&ada.replica),
        0,
        "nothing new the second time"
    );
    assert_eq!(
        ada.replica.history(&loaded, &e).len(),
        ada.replica.history(&fresh, &e).len()
    );
    // Round trip, then damage: a damaged cache is refused, never half-read.
    let bytes = loaded.to_bytes();
    assert!(ChangeIndex::from_bytes(&bytes).is_some());
    for i in [0, 9, bytes.len() / 2, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[i] ^= 0x40;
        assert!(ChangeIndex::from_bytes(&bad).is_none(), "flipped byte {i}");
    }
    assert!(ChangeIndex::from_bytes(&bytes[..bytes.len() / 2]).is_none());
    // An index of another alliance's history starts over instead of mixing histories.
    let key = DeviceKey::from_seed([5; 32]);
    let w = Writer {
        key: &key,
        actor_tag: [5; 8],
        now: Timestamp(T0),
    };
    let (other, _, _) =
        Replica::create(&w, &mut SeededEntropy::new(5), "Another family", "Eve", "").unwrap();
    let mut foreign = ChangeIndex::build(&other);
    assert!(!foreign.contains(&ada.replica.id().0));
    foreign.update(&ada.replica);
    assert_eq!(summary(&foreign), summary(&fresh));
}

#[test]
fn two_members_claiming_one_device_at_once_is_a_conflict_settled_on_the_alliance() {
    let (mut ada, mut ben, mut cy) = three();
    let dee = DeviceKey::from_seed([4; 32]).device_id();
    let ben_id = find(&ada.replica.view(), "Ben");
    ada.act(9, |r, w, _| r.set_admin(w, &ben_id, true)).unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    // Offline, Ada and Ben (both admins) each add a person with the same device key.
    ada.act(10, |r, w, e| r.add_member(w, e, "Dee", "aunt", Some(dee)))
        .unwrap();
    ben.act(11, |r, w, e| r.add_member(w, e, "Dee B", "aunt", Some(dee)))
        .unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    let conflicts = cy.replica.conflicts(None);
    let c = conflicts
        .iter()
        .find(|c| c.item.is_none() && c.field == format!("devices.{}", dee.to_hex()))
        .unwrap_or_else(|| panic!("{conflicts:#?}"));
    let authors: Vec<&str> = c.values.iter().map(|v| v.author.as_str()).collect();
    assert!(
        authors.contains(&"Ada") && authors.contains(&"Ben"),
        "{authors:?}"
    );
    let pick = c.values.iter().position(|v| v.author == "Ada").unwrap() + 1;
    let field = c.field.clone();
    // Whose device it is, is an admin's to settle.
    let refused = cy
        .act(20, |r, w, _| {
            r.resolve(w, &Place::Alliance, &field, Resolution::Pick(pick))
        })
        .unwrap_err();
    assert!(refused.to_string().contains("only an admin"), "{refused}");
    ada.act(20, |r, w, _| {
        r.resolve(w, &Place::Alliance, &field, Resolution::Pick(pick))
    })
    .unwrap();
    sync(&mut [&mut ada, &mut ben, &mut cy]);
    for d in [&ada, &ben, &cy] {
        assert!(
            d.replica.conflicts(None).iter().all(|c| c.item.is_some()),
            "the device conflict is settled everywhere"
        );
        let view = d.replica.view();
        let owner = view.member_of_device(&dee.to_hex()).unwrap();
        assert_eq!(owner.name, "Dee");
    }
    // The alliance's own fields are the only ones `Place::Alliance` may write.
    let err = cy
        .act(21, |r, w, _| {
            r.resolve(w, &Place::Alliance, "members", Resolution::Pick(1))
        })
        .unwrap_err();
    assert!(err.to_string().contains("no field"), "{err}");
}

#[test]
fn devices_that_received_changes_in_different_orders_list_them_in_the_same_order() {
    let (mut ada, mut ben, mut cy) = three();
    for i in 0..5 {
        ada.act(10 + i, |r, w, e| r.add_need(w, e, &format!("ada {i}")))
            .unwrap();
        ben.act(10 + i, |r, w, e| r.add_need(w, e, &format!("ben {i}")))
            .unwrap();
    }
    // Ada hears from Ben; Ben hears from Ada: each applied the other's changes last.
    let (to_ada, to_ben) = (wire(&ben.replica), wire(&ada.replica));
    ada.replica.receive(to_ada).unwrap();
    ben.replica.receive(to_ben).unwrap();
    let order = |d: &Device| -> Vec<String> {
        d.index()
            .entries()
            .iter()
            .map(|e| e.hash.to_string())
            .collect()
    };
    assert_eq!(order(&ada), order(&ben));
    // Also when the index was saved before the other's changes arrived.
    let _ = &mut cy;
    let saved = ChangeIndex::from_bytes(&cy.index().to_bytes()).unwrap();
    let mut updated = saved;
    cy.replica.receive(wire(&ben.replica)).unwrap();
    updated.update(&cy.replica);
    let from_cache: Vec<String> = updated
        .entries()
        .iter()
        .map(|e| e.hash.to_string())
        .collect();
    assert_eq!(from_cache, order(&ada));
}
