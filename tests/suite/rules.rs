//! Who may write what, enforced where changes are received: attacks as a modified member
//! client makes them (real keys, real signatures, any operations), in memory, through
//! `Replica::receive` and whole documents. Over real iroh: tests/suite/attacks.rs.

use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc};

use crate::kit::memory::{Dev, forged, forged_at, founded, sync, wire};
use alliance::core::rules::{Broken, rule};
use alliance::core::{ItemId, NewCheckIn, ReceiveError, Replica, SignedChange, Unverified};

/// Ada (parent, the founder and first admin), Ben (teen) and Cy (coach), all synced, with a
/// need of Ada's, an expectation Ada agreed to and a check-in Ada reflected on.
fn okafors() -> (Dev, Dev, Dev) {
    let mut devs = founded("The Okafor family", &["parent", "teen", "coach"]);
    let (mut cy, mut ben, mut ada) = (
        devs.pop().unwrap(),
        devs.pop().unwrap(),
        devs.pop().unwrap(),
    );
    ada.act(10, |r, w, e| r.add_need(w, e, "quiet mornings"))
        .unwrap();
    let e = ada
        .act(11, |r, w, e| {
            r.add_expectation(w, e, "screens off at dinner", None, &[])
        })
        .unwrap()
        .id
        .unwrap();
    ada.edit(12, |r, w| r.agree(w, &e)).unwrap();
    ada.act(13, |r, w, e| {
        r.add_checkin(
            w,
            e,
            NewCheckIn {
                date: "2026-11-24".into(),
                rating: 4,
                reflection: "good week".into(),
                proposed_changes: vec![],
                next_in_days: 14,
            },
        )
    })
    .unwrap();
    sync3(&mut ada, &mut ben, &mut cy);
    (ada, ben, cy)
}

fn sync3(a: &mut Dev, b: &mut Dev, c: &mut Dev) {
    for _ in 0..2 {
        sync(&mut a.replica, &mut b.replica);
        sync(&mut b.replica, &mut c.replica);
        sync(&mut a.replica, &mut c.replica);
    }
}

fn member(dev: &Dev, name: &str) -> ItemId {
    let view = dev.replica.view();
    view.members
        .iter()
        .chain(&view.former)
        .find(|m| m.name == name)
        .unwrap()
        .id
        .clone()
}

fn map(doc: &Automerge, obj: &ObjId, key: &str) -> ObjId {
    match doc.get(obj, key).unwrap() {
        Some((automerge::Value::Object(_), id)) => id,
        other => panic!("{key}: {other:?}"),
    }
}

/// The first entry of a top-level collection.
fn first(doc: &Automerge, collection: &str) -> ObjId {
    let c = map(doc, &ROOT, collection);
    let key = doc.keys(&c).next().expect("an entry");
    map(doc, &c, &key)
}

/// `receiver` refuses `change` for breaking `expected`, and keeps nothing of it.
fn refused(receiver: &mut Dev, change: SignedChange<Unverified>, expected: &str) -> Broken {
    let heads = receiver.replica.heads();
    match receiver.replica.receive(vec![change]) {
        Err(ReceiveError::Rule(broken)) => {
            assert_eq!(broken.rule, expected, "{broken}");
            assert_eq!(receiver.replica.heads(), heads, "nothing of it is kept");
            broken
        }
        other => panic!("expected the rule \"{expected}\" to refuse it, got {other:?}"),
    }
}

type Forge = fn(&mut Transaction<'_>, &Automerge, &ItemId, &ItemId);

#[test]
fn a_member_cannot_write_what_belongs_to_another_person_on_any_device() {
    let (ada, ben, mut cy) = okafors();
    let (ada_id, ben_id) = (member(&ada, "Ada"), member(&ben, "Ben"));
    let cases: Vec<(&str, &str, Forge)> = vec![
        (
            "agree in Ada's name",
            rule::OWN_AGREEMENT,
            |tx, doc, ada, _| {
                let e = first(doc, "expectations");
                let a = map(doc, &e, "agreements");
                let mine = tx.put_object(&a, ada.as_str(), ObjType::Map).unwrap();
                tx.put(&mine, "text_digest", "0000").unwrap();
            },
        ),
        (
            "take back Ada's agreement",
            rule::OWN_AGREEMENT,
            |tx, doc, ada, _| {
                let e = first(doc, "expectations");
                let a = map(doc, &e, "agreements");
                tx.delete(&a, ada.as_str()).unwrap();
            },
        ),
        ("rewrite Ada's need", rule::NEED_OWNER, |tx, doc, _, _| {
            let n = first(doc, "needs");
            let t = map(doc, &n, "text");
            tx.splice_text(&t, 0, 5, "noisy").unwrap();
        }),
        ("delete Ada's need", rule::NEED_OWNER, |tx, doc, _, _| {
            let needs = map(doc, &ROOT, "needs");
            let key = doc.keys(&needs).next().unwrap();
            tx.delete(&needs, key).unwrap();
        }),
        (
            "add a need in Ada's name",
            rule::NEED_OWNER,
            |tx, doc, ada, _| {
                let needs = map(doc, &ROOT, "needs");
                let n = tx.put_object(&needs, "nzzzz", ObjType::Map).unwrap();
                tx.put(&n, "owner", ada.as_str()).unwrap();
            },
        ),
        (
            "write Ada's reflection",
            rule::OWN_REFLECTION,
            |tx, doc, ada, _| {
                let c = first(doc, "checkins");
                let r = map(doc, &c, "reflections");
                let mine = map(doc, &r, ada.as_str());
                tx.put(&mine, "rating", 1).unwrap();
            },
        ),
        (
            "add a device for Ada",
            rule::ADD_DEVICE,
            |tx, doc, ada, _| {
                let devices = map(doc, &ROOT, "devices");
                let d = tx
                    .put_object(&devices, "ab".repeat(32), ObjType::Map)
                    .unwrap();
                tx.put(&d, "member", ada.as_str()).unwrap();
            },
        ),
        (
            "move Ada's device to himself",
            rule::DEVICE_ONCE,
            |tx, doc, _, ben| {
                let devices = map(doc, &ROOT, "devices");
                let ada_device = doc
                    .keys(&devices)
                    .find(|k| {
                        let d = map(doc, &devices, k);
                        doc.get(&d, "member").unwrap().unwrap().0.as_str() != Some(ben.as_str())
                    })
                    .unwrap();
                let d = map(doc, &devices, &ada_device);
                tx.put(&d, "member", ben.as_str()).unwrap();
            },
        ),
        ("make himself an admin", rule::ROLE, |tx, doc, _, ben| {
            let m = map(doc, &map(doc, &ROOT, "members"), ben.as_str());
            tx.put(&m, "admin", true).unwrap();
        }),
        ("change Ada's role", rule::ROLE, |tx, doc, ada, _| {
            let m = map(doc, &map(doc, &ROOT, "members"), ada.as_str());
            tx.put(&m, "role", "guest").unwrap();
        }),
        ("rename Ada", rule::NAME, |tx, doc, ada, _| {
            let m = map(doc, &map(doc, &ROOT, "members"), ada.as_str());
            tx.put(&m, "name", "Mum").unwrap();
        }),
        ("add a person", rule::ADD_PERSON, |tx, doc, _, _| {
            let members = map(doc, &ROOT, "members");
            let m = tx.put_object(&members, "mzzzz", ObjType::Map).unwrap();
            tx.put(&m, "name", "Zed").unwrap();
        }),
        ("remove Ada", rule::REMOVE_PERSON, |tx, doc, ada, _| {
            let m = map(doc, &map(doc, &ROOT, "members"), ada.as_str());
            tx.put(&m, "removed_at", 1).unwrap();
        }),
        ("delete Ada", rule::KEEP_PEOPLE, |tx, doc, ada, _| {
            let members = map(doc, &ROOT, "members");
            tx.delete(&members, ada.as_str()).unwrap();
        }),
        ("replace everyone", rule::TOP, |tx, _, _, _| {
            tx.put_object(ROOT, "members", ObjType::Map).unwrap();
        }),
        (
            "replace the agreements",
            rule::PER_PERSON,
            |tx, doc, _, _| {
                let e = first(doc, "expectations");
                tx.put_object(&e, "agreements", ObjType::Map).unwrap();
            },
        ),
        (
            "delete an expectation",
            rule::KEEP_ITEMS,
            |tx, doc, _, _| {
                let es = map(doc, &ROOT, "expectations");
                let key = doc.keys(&es).next().unwrap();
                tx.delete(&es, key).unwrap();
            },
        ),
    ];
    for (what, expected, forge) in cases {
        let change = forged(&ben, 20, |tx, doc| forge(tx, doc, &ada_id, &ben_id));
        let broken = refused(&mut cy, change.clone(), expected);
        assert!(
            broken.to_string().contains(expected),
            "{what}: the error names the rule: {broken}"
        );
        // The same through a batch that builds on it, and a whole document.
        let mut copy = ada.replica.clone();
        let err = copy.receive(vec![change]).unwrap_err();
        assert!(matches!(err, ReceiveError::Rule(_)), "{what}: {err}");
    }
    // What everyone may do still goes through: Ben rewords the expectation and adds his need.
    let change = forged(&ben, 30, |tx, doc| {
        let e = first(doc, "expectations");
        let t = map(doc, &e, "text");
        tx.splice_text(&t, 0, 0, "all ").unwrap();
    });
    cy.replica.receive(vec![change]).unwrap();
}

#[test]
fn a_whole_document_with_a_rule_breaking_change_is_refused_whole() {
    let (ada, ben, _cy) = okafors();
    let ada_id = member(&ada, "Ada");
    let change = forged(&ben, 20, |tx, doc| {
        let e = first(doc, "expectations");
        let a = map(doc, &e, "agreements");
        let mine = tx.put_object(&a, ada_id.as_str(), ObjType::Map).unwrap();
        tx.put(&mine, "text_digest", "0000").unwrap();
    });
    // Ben's modified client sends it inside his whole history to a device that joins.
    let verified = change.verify().unwrap();
    let mut doc = ben.replica.doc().clone();
    doc.apply_changes([verified.change().clone()]).unwrap();
    let mut signatures: Vec<_> = ben
        .replica
        .signatures()
        .iter()
        .map(|(h, s)| (*h, *s))
        .collect();
    signatures.push((verified.hash(), *verified.signature().unwrap()));
    let sigs: Vec<_> = signatures
        .into_iter()
        .map(|(h, s)| (h, alliance::core::signed::Voucher::Signature(s)))
        .collect();
    let mut fresh = Replica::empty(ada.replica.id());
    let err = fresh.receive_document(&doc.save(), &sigs).unwrap_err();
    assert!(matches!(err, ReceiveError::Rule(_)), "{err}");
    assert!(fresh.is_empty());
}

#[test]
fn admins_add_and_promote_people_and_the_last_admin_cannot_go() {
    let (mut ada, mut ben, mut cy) = okafors();
    let (ada_id, ben_id) = (member(&ada, "Ada"), member(&ben, "Ben"));
    // Ben is not an admin: his own device says so before signing.
    let err = ben
        .act(20, |r, w, e| r.add_member(w, e, "Dee", "aunt", None))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("only an admin can add a person; ask Ada"),
        "{err}"
    );
    // The founder is the last admin: she can neither leave nor stop being one.
    let err = ada
        .edit(21, |r, w| r.remove_member(w, &ada_id))
        .unwrap_err();
    assert!(err.to_string().contains("last admin"), "{err}");
    let err = ada
        .edit(21, |r, w| r.set_admin(w, &ada_id, false))
        .unwrap_err();
    assert!(err.to_string().contains("last admin"), "{err}");
    // A forged demotion of the last admin is refused where it is received.
    let change = forged(&ada, 22, |tx, doc| {
        let m = map(doc, &map(doc, &ROOT, "members"), ada_id.as_str());
        tx.put(&m, "admin", false).unwrap();
    });
    refused(&mut cy, change, rule::LAST_ADMIN);
    // Ada makes Ben an admin; then Ben adds Dee, and Ada may leave.
    ada.edit(23, |r, w| r.set_admin(w, &ben_id, true)).unwrap();
    sync3(&mut ada, &mut ben, &mut cy);
    ben.act(24, |r, w, e| r.add_member(w, e, "Dee", "aunt", None))
        .unwrap();
    ada.edit(25, |r, w| r.remove_member(w, &ada_id)).unwrap();
    sync3(&mut ada, &mut ben, &mut cy);
    let view = cy.replica.view();
    assert!(view.current(&ada_id).is_none());
    let gone = view.member(&ada_id).unwrap();
    let removal = gone.removed.as_ref().unwrap();
    assert_eq!(removal.by, ada_id, "she left by herself");
    assert!(view.members.iter().any(|m| m.name == "Dee"));
    // Her past changes keep her name and stay verified.
    let log = cy.replica.log();
    assert!(log.iter().any(|e| e.author == "Ada" && e.verified));
    assert!(
        cy.replica
            .verify_history()
            .iter()
            .all(|c| c.problem.is_none())
    );
}

#[test]
fn a_removed_device_is_refused_and_what_it_wrote_meanwhile_is_withdrawn_everywhere() {
    let (mut ada, mut ben, mut cy) = okafors();
    let ben_id = member(&ben, "Ben");
    let before_removal = ben.replica.heads();
    // Ada removes Ben; Cy hears of it, Ben does not yet.
    ada.edit(30, |r, w| r.remove_member(w, &ben_id)).unwrap();
    sync(&mut ada.replica, &mut cy.replica);
    // 1. Ben, still unaware, adds a need (concurrent with his removal), and Cy gets it
    //    through a third device that had not heard of the removal either.
    let mut third = Dev::new(7, ben.replica.clone());
    ben.act(31, |r, w, e| r.add_need(w, e, "written while removed"))
        .unwrap();
    third.replica.receive(wire(&ben.replica)).unwrap();
    let received = cy.replica.receive(wire(&third.replica)).unwrap();
    assert!(received.new.is_empty(), "nothing of it is kept");
    assert_eq!(received.dropped, 1);
    assert!(
        cy.replica
            .view()
            .needs
            .iter()
            .all(|n| n.text != "written while removed")
    );
    // The third device, once it hears of the removal, withdraws it too: they end equal.
    sync(&mut cy.replica, &mut third.replica);
    assert_eq!(cy.replica.heads(), third.replica.heads());
    assert!(
        third
            .replica
            .view()
            .needs
            .iter()
            .all(|n| n.text != "written while removed")
    );
    // 2. A removed device that knows it was removed, writing anyway, is refused like a
    //    non-member; with backdated dependencies, it is withdrawn.
    sync(&mut ada.replica, &mut ben.replica);
    assert!(ben.replica.view().current(&ben_id).is_none(), "Ben knows");
    let after = forged(&ben, 32, |tx, _| {
        tx.put(ROOT, "title", "Ben's alliance").unwrap();
    });
    let heads = cy.replica.heads();
    let err = cy.replica.receive(vec![after]).unwrap_err();
    assert!(matches!(err, ReceiveError::NotAMember { .. }), "{err}");
    assert_eq!(cy.replica.heads(), heads);
    let backdated = forged_at(&ben, &before_removal, 33, |tx, _| {
        tx.put(ROOT, "title", "Ben's alliance").unwrap();
    });
    let received = cy.replica.receive(vec![backdated]).unwrap();
    assert_eq!((received.new.len(), received.dropped), (0, 1));
    assert_eq!(cy.replica.view().title, "The Okafor family");
}

/// Membership is read from the past once per device and branch (`rules::people_of`): a
/// device's later change passes because an earlier one of the same device, in its past, did.
/// A change the same device dated from before it was added has no such change in its past, so
/// it is checked in full and refused, in a whole history with the device's honest changes as
/// in a batch with them, whichever comes first.
#[test]
fn a_change_dated_before_its_device_was_added_is_refused_beside_that_devices_honest_changes() {
    let (_ada, mut ben, mut cy) = okafors();
    let genesis = ben.replica.id().0;
    ben.act(20, |r, w, e| r.add_need(w, e, "sleep")).unwrap();
    ben.act(21, |r, w, e| r.add_need(w, e, "music")).unwrap();
    let backdated = forged_at(&ben, &[genesis], 22, |tx, _| {
        tx.put(ROOT, "title", "Ben's alliance").unwrap();
    });
    let honest: Vec<SignedChange<Unverified>> = wire(&ben.replica)
        .into_iter()
        .filter(|c| !cy.replica.has(&c.hash()))
        .collect();
    assert_eq!(honest.len(), 2);
    for batch in [
        vec![honest[0].clone(), honest[1].clone(), backdated.clone()],
        vec![backdated.clone(), honest[0].clone(), honest[1].clone()],
    ] {
        let heads = cy.replica.heads();
        let err = cy.replica.receive(batch).unwrap_err();
        assert!(matches!(err, ReceiveError::NotAMember { .. }), "{err}");
        assert_eq!(cy.replica.heads(), heads, "nothing of the batch is kept");
    }
    // The whole history with the backdated change in it, as a new device receives it.
    let mut all = wire(&ben.replica);
    all.push(backdated);
    let mut fresh = Replica::empty(ben.replica.id());
    let err = fresh.receive(all).unwrap_err();
    assert!(matches!(err, ReceiveError::NotAMember { .. }), "{err}");
    // Without it, the same changes are accepted.
    cy.replica.receive(honest).unwrap();
}

#[test]
fn a_change_an_unaware_member_built_on_is_kept_and_every_replica_converges() {
    let (mut ada, mut ben, mut cy) = okafors();
    let ben_id = member(&ben, "Ben");
    ada.edit(30, |r, w| r.remove_member(w, &ben_id)).unwrap();
    // Ben, unaware, adds an expectation; Cy, unaware too, agrees to it.
    let e = ben
        .act(31, |r, w, e| {
            r.add_expectation(w, e, "walk the dog", None, &[])
        })
        .unwrap()
        .id
        .unwrap();
    sync(&mut ben.replica, &mut cy.replica);
    cy.edit(32, |r, w| r.agree(w, &e)).unwrap();
    // Everyone meets: Cy built on Ben's change before she knew, so it stays.
    sync3(&mut ada, &mut ben, &mut cy);
    for d in [&ada, &ben, &cy] {
        assert_eq!(d.replica.heads(), ada.replica.heads());
        assert!(d.replica.view().expectation(&e).is_some());
    }
}

#[test]
fn two_admins_removing_each_other_at_once_are_both_removed() {
    let (mut ada, mut ben, mut cy) = okafors();
    let (ada_id, ben_id, cy_id) = (member(&ada, "Ada"), member(&ben, "Ben"), member(&cy, "Cy"));
    ada.edit(20, |r, w| r.set_admin(w, &ben_id, true)).unwrap();
    ada.edit(21, |r, w| r.set_admin(w, &cy_id, true)).unwrap();
    sync3(&mut ada, &mut ben, &mut cy);
    ada.edit(30, |r, w| r.remove_member(w, &ben_id)).unwrap();
    ben.edit(30, |r, w| r.remove_member(w, &ada_id)).unwrap();
    sync3(&mut ada, &mut ben, &mut cy);
    for d in [&ada, &ben, &cy] {
        let view = d.replica.view();
        let names: Vec<&str> = view.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["Cy"], "both removals stand on every device");
        assert!(view.members[0].admin);
        assert_eq!(d.replica.heads(), cy.replica.heads());
    }
}

#[test]
fn a_person_links_a_second_device_and_removes_it_when_it_is_lost() {
    let (mut ada, mut ben, mut cy) = okafors();
    let ben_id = member(&ben, "Ben");
    let mut phone = Dev::new(5, Replica::empty(ada.replica.id()));
    let phone_id = phone.key.device_id();
    ben.edit(20, |r, w| r.link_device(w, &phone_id)).unwrap();
    sync(&mut ben.replica, &mut phone.replica);
    // The phone writes as Ben: his need, his agreement.
    let e = cy.replica.view().expectations.first().unwrap().id.clone();
    phone
        .act(21, |r, w, en| r.add_need(w, en, "my own room"))
        .unwrap();
    phone.edit(22, |r, w| r.agree(w, &e)).unwrap();
    sync3(&mut ada, &mut ben, &mut phone);
    sync(&mut ada.replica, &mut cy.replica);
    let view = cy.replica.view();
    let need = view.needs.iter().find(|n| n.text == "my own room").unwrap();
    assert_eq!(need.owner, ben_id, "the person, not the key, owns it");
    let ben_member = view.current(&ben_id).unwrap();
    assert_eq!(ben_member.devices.len(), 2);
    // Lost: Ben removes it from his laptop. Its later changes are refused.
    ben.edit(23, |r, w| r.remove_device(w, &phone_id)).unwrap();
    sync(&mut ben.replica, &mut cy.replica);
    assert_eq!(cy.replica.view().current(&ben_id).unwrap().devices.len(), 1);
    sync(&mut ben.replica, &mut phone.replica);
    let err = phone
        .act(24, |r, w, en| r.add_need(w, en, "x"))
        .unwrap_err();
    assert!(err.to_string().contains("not a member"), "{err}");
    // Cy (not an admin, not Ben) cannot remove Ben's laptop.
    let laptop = ben.key.device_id();
    let err = cy.edit(25, |r, w| r.remove_device(w, &laptop)).unwrap_err();
    assert!(err.to_string().contains("only an admin"), "{err}");
}

#[test]
fn a_kept_change_whose_voucher_a_removal_withdrew_keeps_a_proof_that_travels_and_verifies() {
    let (mut ada, mut ben, mut cy) = okafors();
    let ben_id = member(&ben, "Ben");
    // Ben adds a need; Ada hears of it (it is Ben's newest there: it carries its signature).
    ben.act(30, |r, w, e| r.add_need(w, e, "kept need"))
        .unwrap();
    let kept = *ben.replica.heads().first().unwrap();
    sync(&mut ben.replica, &mut ada.replica);
    // Ada removes Ben; Ben, unaware, adds another need, concurrently with his removal.
    ada.edit(31, |r, w| r.remove_member(w, &ben_id)).unwrap();
    ben.act(32, |r, w, e| r.add_need(w, e, "written while removed"))
        .unwrap();
    // Cy gets both of Ben's needs in one batch: only the newer carries a signature, and it
    // vouches for the older.
    cy.replica.receive(wire(&ben.replica)).unwrap();
    assert!(!cy.replica.signatures().contains_key(&kept));
    // Then the removal: the newer need is withdrawn, and with it the only signature that
    // vouched for the kept one. Cy keeps that signature as a proof.
    sync(&mut ada.replica, &mut cy.replica);
    assert!(cy.replica.has(&kept));
    assert!(
        cy.replica
            .view()
            .needs
            .iter()
            .all(|n| n.text != "written while removed")
    );
    assert!(cy.replica.proofs().contains_key(&kept));
    let attributed = |r: &Replica| {
        let entry = r
            .log()
            .into_iter()
            .find(|e| e.hash == kept.to_string())
            .unwrap();
        assert!(entry.verified, "{:?}", entry.problem);
        assert_eq!(entry.author, "Ben");
        assert!(r.verify_history().iter().all(|c| c.problem.is_none()));
    };
    attributed(&cy.replica);
    // The proof survives the store's snapshot.
    let snapshot = alliance::store::format::encode_snapshot(
        &cy.replica.save(),
        cy.replica.signatures(),
        cy.replica.proofs(),
    );
    let decoded = alliance::store::format::decode_snapshot(&snapshot).unwrap();
    let reloaded = Replica::from_store(
        cy.replica.id(),
        Some(decoded.doc),
        decoded.signatures,
        decoded.proofs,
        vec![],
    )
    .unwrap();
    attributed(&reloaded);
    // A device that joins later gets it with the proof, as a whole document and as a batch.
    let mut fresh = Replica::empty(cy.replica.id());
    sync(&mut cy.replica, &mut fresh);
    attributed(&fresh);
    let mut batch = wire(&cy.replica);
    let mut by_batch = Replica::empty(cy.replica.id());
    by_batch.receive(batch.clone()).unwrap();
    attributed(&by_batch);
    // A proof whose signature is not Ben's is refused.
    let at = batch.iter().position(|c| c.hash() == kept).unwrap();
    let mut proof = batch[at]
        .proof()
        .expect("it travels with its proof")
        .clone();
    proof.signature = ada.key.sign_change(&kept);
    batch[at] = batch[at]
        .clone()
        .with_voucher(Some(alliance::core::signed::Voucher::Proof(proof)));
    let mut refused = Replica::empty(cy.replica.id());
    assert!(refused.receive(batch).is_err());
    assert!(refused.is_empty());
}

/// A keeper of the Okafors' alliance (added by Ada), holding it as it is now.
fn with_keeper() -> (Dev, Dev, Dev, Dev) {
    let (mut ada, mut ben, mut cy) = okafors();
    let keeper_key = crate::kit::memory::device_key(9).device_id();
    ada.edit(20, |r, w| {
        r.add_keeper(
            w,
            &keeper_key,
            "the Okafor NAS",
            &["127.0.0.1:4000".parse().unwrap()],
        )
    })
    .unwrap();
    sync3(&mut ada, &mut ben, &mut cy);
    let mut keeper = Dev::new(9, Replica::empty(ada.replica.id()));
    keeper.receive_all(&ada.replica);
    assert!(keeper.replica.is_keeper(&keeper_key));
    (ada, ben, cy, keeper)
}

#[test]
fn a_change_signed_by_a_keeper_is_refused_by_every_device_and_by_the_keeper_itself() {
    let (ada, mut ben, mut cy, mut keeper) = with_keeper();
    let ada_id = member(&ada, "Ada");
    // What a modified keeper client might sign: a need, an agreement, a vision edit, a new
    // member, a new device, a title.
    let attempts: Vec<(&str, Forge)> = vec![
        ("a need", |tx, _, _, _| {
            let needs = tx.get(ROOT, "needs").unwrap().unwrap().1;
            let n = tx.put_object(&needs, "nkeep", ObjType::Map).unwrap();
            tx.put(&n, "owner", "nobody").unwrap();
        }),
        ("an agreement", |tx, doc, ada_id, _| {
            let e = first(doc, "expectations");
            let agreements = map(doc, &e, "agreements");
            let a = tx
                .put_object(&agreements, ada_id.as_str(), ObjType::Map)
                .unwrap();
            tx.put(&a, "text_digest", "0000").unwrap();
        }),
        ("a vision edit", |tx, doc, _, _| {
            let vision = map(doc, &ROOT, "vision");
            tx.splice_text(&vision, 0, 0, "Keepers rule. ").unwrap();
        }),
        ("a new member", |tx, doc, _, _| {
            let members = map(doc, &ROOT, "members");
            let m = tx.put_object(&members, "mkeep", ObjType::Map).unwrap();
            tx.put(&m, "name", "Mallory").unwrap();
        }),
        ("a new device", |tx, doc, ada_id, _| {
            let devices = map(doc, &ROOT, "devices");
            let d = tx
                .put_object(&devices, "ab".repeat(32), ObjType::Map)
                .unwrap();
            tx.put(&d, "member", ada_id.as_str()).unwrap();
        }),
        ("the title", |tx, _, _, _| {
            tx.put(ROOT, "title", "Kept").unwrap();
        }),
    ];
    for (what, f) in attempts {
        let change = forged(&keeper, 30, |tx, doc| f(tx, doc, &ada_id, &ada_id));
        for receiver in [&mut ben, &mut cy] {
            let broken = refused(receiver, change.clone(), rule::KEEPER);
            assert!(broken.to_string().contains("keeper"), "{what}: {broken}");
        }
        // The keeper's own replica refuses what it is handed, as every device does.
        refused(&mut keeper, change, rule::KEEPER);
    }
}

#[test]
fn only_an_admin_adds_a_keeper_and_a_keeper_belongs_to_no_person() {
    let (_, ben, mut cy) = okafors();
    let ben_id = member(&ben, "Ben");
    // Ben (not an admin) adds a keeper: refused.
    let change = forged(&ben, 30, |tx, doc| {
        let devices = map(doc, &ROOT, "devices");
        let d = tx
            .put_object(&devices, "cd".repeat(32), ObjType::Map)
            .unwrap();
        tx.put(&d, "keeper", true).unwrap();
        tx.put(&d, "name", "Ben's box").unwrap();
    });
    refused(&mut cy, change, rule::ADD_KEEPER);
    // Ben adds a device of his own that says it is a keeper: refused too (a keeper would
    // then write as Ben).
    let change = forged(&ben, 31, |tx, doc| {
        let devices = map(doc, &ROOT, "devices");
        let d = tx
            .put_object(&devices, "ce".repeat(32), ObjType::Map)
            .unwrap();
        tx.put(&d, "member", ben_id.as_str()).unwrap();
        tx.put(&d, "keeper", true).unwrap();
    });
    refused(&mut cy, change, rule::ADD_KEEPER);
    // And only an admin removes one.
    let (mut ada, ben, _, _) = with_keeper();
    let keeper_hex = crate::kit::memory::device_key(9).device_id().to_hex();
    let change = forged(&ben, 32, |tx, doc| {
        let devices = map(doc, &ROOT, "devices");
        let k = map(doc, &devices, &keeper_hex);
        tx.put(&k, "removed_at", 1).unwrap();
    });
    refused(&mut ada, change, rule::REMOVE_DEVICE);
}

/// `change` with every operation moved into an object the alliance does not hold, signed
/// again by `dev`: Automerge panics applying such a change (its `apply_changes` unwraps the
/// missing object), and it breaks the rule that the top-level parts are made by the first
/// change only (it writes to an object that is not there).
fn into_missing_object(
    key: &alliance::core::DeviceKey,
    change: &SignedChange<Unverified>,
) -> SignedChange<Unverified> {
    let plain = automerge::Change::from_bytes(change.raw_bytes().to_vec()).unwrap();
    let mut expanded = plain.decode();
    let actor = expanded.actor_id.clone();
    for op in &mut expanded.operations {
        op.obj = automerge::legacy::ObjectId::Id(automerge::legacy::OpId(999_999, actor.clone()));
        op.pred = Vec::new().into();
    }
    expanded.hash = None;
    let bad = automerge::Change::from(expanded);
    let sig = key.sign_change(&bad.hash());
    SignedChange::from_bytes(bad.raw_bytes().to_vec(), &sig.to_bytes()).unwrap()
}

#[test]
fn a_change_that_breaks_a_rule_and_would_make_automerge_panic_is_refused_by_the_rule_before_any_apply()
 {
    use alliance::core::replica::hooks::document_applies;
    let (_ada, ben, mut cy) = okafors();
    let heads = cy.replica.heads();
    // Automerge itself panics applying it.
    let alone = into_missing_object(
        &ben.key,
        &forged(&ben, 20, |tx, _| {
            tx.put(ROOT, "title", "ours").unwrap();
        }),
    );
    let mut doc = cy.replica.doc().clone();
    let plain = automerge::Change::from_bytes(alone.raw_bytes().to_vec()).unwrap();
    assert!(
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.apply_changes([plain])))
            .is_err(),
        "Automerge no longer panics applying a change into a missing object: find another"
    );
    // Alone (a live edit) and after an honest change of the same batch (a batch that builds on
    // itself): refused by the rule, and no document was touched.
    let honest = forged(&ben, 21, |tx, doc| {
        let e = first(doc, "expectations");
        let t = map(doc, &e, "text");
        tx.splice_text(&t, 0, 0, "all ").unwrap();
    });
    let mut after_honest = ben.replica.clone();
    after_honest.receive(vec![honest.clone()]).unwrap();
    let on_honest = crate::kit::forge(
        after_honest.doc(),
        &after_honest.heads(),
        ben.actor(),
        &ben.key,
        22,
        |tx, _| {
            tx.put(ROOT, "title", "ours").unwrap();
        },
    );
    let on_honest = into_missing_object(&ben.key, &on_honest);
    for batch in [vec![alone], vec![honest, on_honest]] {
        let before = document_applies();
        match cy.replica.receive(batch) {
            Err(ReceiveError::Rule(broken)) => assert_eq!(broken.rule, rule::TOP, "{broken}"),
            other => panic!("expected the rule to refuse it, got {other:?}"),
        }
        assert_eq!(document_applies(), before, "no document was applied to");
        assert_eq!(cy.replica.heads(), heads, "nothing of it is kept");
        assert!(!cy.replica.is_poisoned());
    }
}
