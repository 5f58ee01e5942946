//! Readers (a grandparent, a therapist, a supervisor): they sync and see everything and write
//! nothing. The rule is enforced where changes are received, on every device: a reader's
//! modified client that signs a need, types in the vision or renames the alliance is refused
//! by the others with the rule named; the reader's own device refuses before signing. The
//! invite (`alliance invite --reader`) and what the page shows a reader: tests/suite/cli_seed.rs
//! and tests/suite/app_seed.rs.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc};

use crate::kit::memory::{Dev, forged, founded, sync};
use alliance::core::rules::rule;
use alliance::core::{EditError, ItemId, ReceiveError, Replica, SignedChange, Unverified};

/// Ada (the founder, an admin) and Ben (a teen), and Cy, whom Ada adds as a reader: all synced.
fn with_a_reader() -> (Dev, Dev, Dev) {
    let mut devs = founded("The Okafor family", &["parent", "teen"]);
    let mut ben = devs.pop().unwrap();
    let mut ada = devs.pop().unwrap();
    let gran = crate::kit::memory::device_key(2).device_id();
    ada.act(5, |r, w, e| {
        r.add_person(w, e, "Cy", "grandparent", Some(gran), true)
    })
    .unwrap();
    ada.act(6, |r, w, e| r.add_need(w, e, "quiet mornings"))
        .unwrap();
    let mut cy = Dev::new(2, Replica::empty(ada.replica.id()));
    for _ in 0..2 {
        sync(&mut ada.replica, &mut ben.replica);
        sync(&mut ada.replica, &mut cy.replica);
    }
    (ada, ben, cy)
}

fn map(doc: &Automerge, obj: &ObjId, key: &str) -> ObjId {
    match doc.get(obj, key).unwrap() {
        Some((automerge::Value::Object(_), id)) => id,
        other => panic!("{key}: {other:?}"),
    }
}

fn member(dev: &Dev, name: &str) -> ItemId {
    dev.replica
        .view()
        .members
        .iter()
        .find(|m| m.name == name)
        .unwrap()
        .id
        .clone()
}

/// `receiver` refuses `change` for breaking `expected`, names the rule, and keeps nothing.
fn refused_for(receiver: &mut Dev, change: SignedChange<Unverified>, expected: &str) {
    let heads = receiver.replica.heads();
    match receiver.replica.receive(vec![change]) {
        Err(ReceiveError::Rule(broken)) => {
            assert_eq!(broken.rule, expected, "{broken}");
            assert!(broken.to_string().contains(expected), "{broken}");
            assert_eq!(receiver.replica.heads(), heads, "nothing of it is kept");
        }
        other => panic!("expected the rule \"{expected}\" to refuse it, got {other:?}"),
    }
}

#[test]
fn a_readers_forged_changes_are_refused_by_every_other_device_with_the_rule_named() {
    let (mut ada, mut ben, cy) = with_a_reader();
    let cy_id = member(&cy, "Cy");
    assert!(cy.replica.view().current(&cy_id).unwrap().reader);
    type Forge = fn(&mut automerge::transaction::Transaction<'_>, &Automerge, &ItemId);
    let cases: Vec<(&str, Forge)> = vec![
        ("sign a need of their own", |tx, doc, cy| {
            let needs = map(doc, &ROOT, "needs");
            let n = tx.put_object(&needs, "nzzzz", ObjType::Map).unwrap();
            tx.put(&n, "owner", cy.as_str()).unwrap();
            let t = tx.put_object(&n, "text", ObjType::Text).unwrap();
            tx.splice_text(&t, 0, 0, "visits on Sundays").unwrap();
        }),
        ("type in the vision", |tx, doc, _| {
            let v = map(doc, &ROOT, "vision");
            tx.splice_text(&v, 0, 0, "Gran decides. ").unwrap();
        }),
        ("rename the alliance", |tx, _, _| {
            tx.put(ROOT, "title", "Gran's house").unwrap();
        }),
        ("plan a design session", |tx, doc, _| {
            let plan = map(doc, &ROOT, "plan");
            let p = tx.put_object(&plan, "pzzzz", ObjType::Map).unwrap();
            tx.put(&p, "when", "Sunday").unwrap();
        }),
        ("stop being a reader", |tx, doc, cy| {
            let m = map(doc, &map(doc, &ROOT, "members"), cy.as_str());
            tx.put(&m, "reader", false).unwrap();
        }),
    ];
    for (what, forge) in cases {
        let change = forged(&cy, 20, |tx, doc| forge(tx, doc, &cy_id));
        // Every other device refuses it: Ben (a member) and Ada (an admin).
        refused_for(&mut ben, change.clone(), rule::READER);
        refused_for(&mut ada, change, rule::READER);
        let _ = what;
    }
    // Nor can an admin turn a member into a reader, or a reader into a member, afterwards.
    let ben_id = member(&ben, "Ben");
    let change = forged(&ada, 30, |tx, doc| {
        let m = map(doc, &map(doc, &ROOT, "members"), ben_id.as_str());
        tx.put(&m, "reader", true).unwrap();
    });
    refused_for(&mut ben, change, rule::READER_ONCE);
    // What the members write still goes through, and reaches the reader.
    ben.act(40, |r, w, e| r.add_need(w, e, "my own room"))
        .unwrap();
    let mut cy = cy;
    sync(&mut ben.replica, &mut cy.replica);
    assert_eq!(
        cy.replica.view().needs.len(),
        2,
        "the reader sees everything"
    );
}

#[test]
fn a_readers_own_device_refuses_to_sign_anything_and_says_why() {
    let (ada, _ben, mut cy) = with_a_reader();
    let heads = cy.replica.heads();
    let err = cy
        .act(20, |r, w, e| r.add_need(w, e, "visits on Sundays"))
        .unwrap_err();
    assert!(
        matches!(&err, EditError::NotAllowed(m) if m.contains("reader") && m.contains("Ada")),
        "{err}"
    );
    let err = cy
        .edit(21, |r, w| r.set_vision(w, "Gran decides"))
        .unwrap_err();
    assert!(err.to_string().contains("reader"), "{err}");
    assert_eq!(cy.replica.heads(), heads, "nothing was signed");
    // An admin cannot make a reader an admin either.
    let cy_id = member(&ada, "Cy");
    let mut ada = ada;
    let err = ada
        .edit(22, |r, w| r.set_admin(w, &cy_id, true))
        .unwrap_err();
    assert!(err.to_string().contains("reader"), "{err}");
}

#[test]
fn an_expectation_is_agreed_without_the_readers_agreement() {
    let (mut ada, mut ben, mut cy) = with_a_reader();
    let e = ada
        .act(30, |r, w, e| {
            r.add_expectation(w, e, "screens off at dinner", None, &[])
        })
        .unwrap()
        .id
        .unwrap();
    ada.edit(31, |r, w| r.agree(w, &e)).unwrap();
    sync(&mut ada.replica, &mut ben.replica);
    ben.edit(32, |r, w| r.agree(w, &e)).unwrap();
    sync(&mut ben.replica, &mut cy.replica);
    let view = cy.replica.view();
    assert_eq!(view.expectation(&e).unwrap().status.as_str(), "agreed");
    // And the reader is asked to agree to nothing, nor to write a need.
    let cy_id = member(&cy, "Cy");
    let index = alliance::core::index::ChangeIndex::build(&cy.replica);
    let status = cy.replica.status(
        &index,
        &cy_id,
        None,
        alliance::core::Timestamp(crate::kit::memory::T0 + 40),
    );
    assert!(status.to_agree.is_empty());
    assert!(status.without_needs.iter().all(|m| m.name != "Cy"));
}
