//! The fast paths of signed sync, in memory: each author's newest change vouches for the
//! author's older changes in a batch, and a fresh device receives the whole history as one
//! document. Neither may let through anything the slow path would refuse.

use crate::kit::memory::{Dev, wire};
use alliance::core::sync::{PeerSync, SyncMessage};
use alliance::core::{
    ChangeError, DeviceKey, ReceiveError, Replica, SeededEntropy, SignedChange, Unverified,
};
use automerge::transaction::Transactable;
use automerge::{ActorId, ROOT, ReadDoc};

/// In-memory device `i` (1-based here: device 1 founds the alliance).
fn dev(i: u8) -> Dev {
    Dev::unjoined(i as usize - 1)
}

/// An alliance founded by device 1 with devices 2 and 3 as members, and `edits` needs added
/// by the three in turn.
fn alliance(edits: usize) -> (Vec<Dev>, Replica) {
    let devs: Vec<Dev> = (1..=3).map(dev).collect();
    let mut rng = SeededEntropy::new(4);
    let (mut r, _, _) =
        Replica::create(&devs[0].writer(0), &mut rng, "Team", "Ada", "lead").unwrap();
    for (i, name) in [(1usize, "Ben"), (2, "Cy")] {
        r.add_member(
            &devs[0].writer(1),
            &mut rng,
            name,
            "member",
            Some(devs[i].key.device_id()),
        )
        .unwrap();
    }
    for i in 0..edits {
        r.add_need(
            &devs[i % 3].writer(10 + i as i64),
            &mut rng,
            &format!("need {i}"),
        )
        .unwrap();
    }
    (devs, r)
}

/// A change on top of `r` made directly with Automerge under `actor` and "signed" by `signer`.
fn forge(r: &Replica, actor: ActorId, signer: &DeviceKey, title: &str) -> SignedChange<Unverified> {
    let mut doc = r.doc().clone();
    doc.set_actor(actor);
    let mut tx = doc.transaction();
    tx.put(ROOT, "title", title).unwrap();
    let (h, _) = tx.commit();
    let c = doc.get_change_by_hash(&h.unwrap()).unwrap();
    let sig = signer.sign_change(&c.hash());
    SignedChange::from_bytes(c.raw_bytes().to_vec(), &sig.to_bytes()).unwrap()
}

fn unverified(c: &SignedChange<alliance::core::Verified>) -> SignedChange<Unverified> {
    c.to_unverified()
}

#[test]
fn a_change_forged_under_another_members_author_is_caught_when_the_forger_builds_on_it() {
    let (devs, r) = alliance(6);
    let mut receiver = Replica::empty(r.id());
    receiver.receive(wire(&r)).unwrap();
    // Ben writes a change under Ada's actor (signing it with his own key), then a change of his
    // own on top of it, validly signed. His signature must not vouch for the change he put
    // under Ada's name.
    let forged = forge(&r, devs[0].actor(), &devs[1].key, "Ada says: Ben decides");
    let mut on_top = r.clone();
    on_top
        .receive(vec![
            SignedChange::from_bytes(
                forged.raw_bytes().to_vec(),
                &forged.signature().unwrap().to_bytes(),
            )
            .unwrap(),
        ])
        .expect_err("the forged change alone is refused too");
    // Build Ben's change on the forged one by hand, as a hostile client would.
    let mut doc = r.doc().clone();
    doc.apply_changes([automerge::Change::from_bytes(forged.raw_bytes().to_vec()).unwrap()])
        .unwrap();
    doc.set_actor(devs[1].actor());
    let mut tx = doc.transaction();
    tx.put(ROOT, "title", "Ben's alliance").unwrap();
    let (h, _) = tx.commit();
    let bens = doc.get_change_by_hash(&h.unwrap()).unwrap();
    let bens = SignedChange::from_bytes(
        bens.raw_bytes().to_vec(),
        &devs[1].key.sign_change(&bens.hash()).to_bytes(),
    )
    .unwrap();
    let before = receiver.heads();
    let err = receiver.receive(vec![forged, bens]).unwrap_err();
    assert!(
        matches!(err, ReceiveError::Change(ChangeError::BadSignature { .. })),
        "{err}"
    );
    assert_eq!(receiver.heads(), before, "nothing of the batch is applied");
    assert_eq!(receiver.view().title, "Team");
}

#[test]
fn older_changes_are_vouched_for_by_the_authors_newest_and_audited_by_verify() {
    let (_, r) = alliance(9);
    let mut batch = wire(&r);
    // Give one of Ben's older changes a signature over another change: the batch is still
    // authentic (Ben's newest change covers it), so it is accepted...
    let ben_old = batch
        .iter()
        .position(|c| {
            automerge::Change::from_bytes(c.raw_bytes().to_vec())
                .unwrap()
                .message()
                .is_some_and(|m| m.contains("need 1"))
        })
        .unwrap();
    let other = batch[0].hash();
    let bad = DeviceKey::from_seed([2; 32]).sign_change(&other);
    batch[ben_old] =
        SignedChange::from_bytes(batch[ben_old].raw_bytes().to_vec(), &bad.to_bytes()).unwrap();
    let tampered = batch[ben_old].hash();
    let mut receiver = Replica::empty(r.id());
    let received = receiver.receive(batch).unwrap();
    assert_eq!(received.new.len(), r.len());
    assert_eq!(receiver.heads(), r.heads());
    // ...the redundant signature is not kept, and `verify` attributes the change through Ben's
    // newest, whose signature covers it.
    assert!(!receiver.signatures().contains_key(&tampered));
    let (voucher, _) = receiver.vouching(&tampered).unwrap();
    assert_ne!(voucher, tampered);
    assert!(
        receiver
            .verify_history()
            .iter()
            .all(|c| c.problem.is_none())
    );
}

#[test]
fn the_newest_change_of_each_author_must_carry_a_valid_signature() {
    let (devs, r) = alliance(9);
    for (who, dev) in devs.iter().enumerate() {
        let mut batch = wire(&r);
        let newest = batch
            .iter()
            .rposition(|c| c.actor_id() == &dev.actor())
            .unwrap();
        let bad = dev.key.sign_change(&batch[0].hash());
        batch[newest] =
            SignedChange::from_bytes(batch[newest].raw_bytes().to_vec(), &bad.to_bytes()).unwrap();
        let mut receiver = Replica::empty(r.id());
        assert!(receiver.receive(batch).is_err(), "author {who}");
        assert!(receiver.is_empty());
    }
}

#[test]
fn a_live_edit_is_checked_and_applied_in_place() {
    let (devs, r) = alliance(3);
    let mut b = Replica::empty(r.id());
    b.receive(wire(&r)).unwrap();
    let mut a = r.clone();
    let mut rng = SeededEntropy::new(9);
    let edit = a
        .add_need(&devs[2].writer(100), &mut rng, "more walks")
        .unwrap();
    let received = b.receive(vec![unverified(&edit.change.unwrap())]).unwrap();
    assert_eq!(received.new.len(), 1);
    assert_eq!(b.heads(), a.heads());
    // A non-member's change on the same heads is refused and leaves nothing behind.
    let stranger = dev(9);
    let forged = forge(&b, stranger.actor(), &stranger.key, "mine now");
    let before = b.heads();
    assert!(matches!(
        b.receive(vec![forged]),
        Err(ReceiveError::NotAMember { .. })
    ));
    assert_eq!(b.heads(), before);
    assert_eq!(b.view().title, "Team");
}

/// Runs a sync between `from` and a fresh device until both are quiet; returns the fresh
/// replica, every message `from` sent, and how many changes arrived as a document.
fn sync_fresh(from: &Replica) -> (Replica, Vec<SyncMessage>, usize) {
    let mut a = from.clone();
    let mut b = Replica::empty(from.id());
    let (mut sa, mut sb) = (PeerSync::new(), PeerSync::new());
    let mut sent = Vec::new();
    let mut loaded = 0;
    for _ in 0..10 {
        let m1 = sa.generate(&a);
        if let Some(m) = m1.clone() {
            sent.push(m.clone());
            loaded += sb.receive(&mut b, m).unwrap().loaded;
        }
        let m2 = sb.generate(&b);
        if let Some(m) = m2.clone() {
            sa.receive(&mut a, m).unwrap();
        }
        if m1.is_none() && m2.is_none() {
            return (b, sent, loaded);
        }
    }
    panic!("sync did not settle");
}

#[test]
fn a_fresh_device_receives_the_whole_history_as_one_document() {
    let (_, r) = alliance(30);
    let (b, sent, loaded) = sync_fresh(&r);
    assert_eq!(loaded, r.len(), "the history came as one document");
    assert_eq!(b.heads(), r.heads());
    assert_eq!(b.view().needs.len(), 30);
    assert!(b.verify_history().iter().all(|c| c.problem.is_none()));
    let with_changes: Vec<_> = sent.iter().filter(|m| !m.signatures.is_empty()).collect();
    assert_eq!(with_changes.len(), 1);
    let m = automerge::sync::Message::decode(&with_changes[0].message).unwrap();
    assert_eq!(m.changes.len(), 1, "one chunk: the document");
    assert_eq!(
        with_changes[0].signatures.len(),
        3,
        "one per author: their newest"
    );
}

/// The message carrying the whole document from `from` to a fresh device.
fn document_message(from: &Replica) -> SyncMessage {
    let mut sa = PeerSync::new();
    let mut sb = PeerSync::new();
    let mut b = Replica::empty(from.id());
    let hello = sb.generate(&b).unwrap();
    sa.receive(&mut from.clone(), hello).unwrap();
    let first = sa.generate(from).unwrap();
    if !first.signatures.is_empty() {
        return first;
    }
    sb.receive(&mut b, first).unwrap();
    let reply = sb.generate(&b).unwrap();
    sa.receive(&mut from.clone(), reply).unwrap();
    sa.generate(from).unwrap()
}

#[test]
fn a_whole_document_with_a_bad_signature_or_a_strangers_change_is_refused() {
    let (devs, r) = alliance(12);
    let good = document_message(&r);
    assert_eq!(good.signatures.len(), 3, "one per author: their newest");
    // Every signature swapped with its neighbour: the newest change of each author no longer
    // verifies.
    let mut swapped = good.clone();
    let mut sigs: Vec<Vec<u8>> = swapped
        .signatures
        .iter()
        .map(|v| v.signature.clone())
        .collect();
    sigs.rotate_left(1);
    for (v, s) in swapped.signatures.iter_mut().zip(sigs) {
        v.signature = s;
    }
    let mut b = Replica::empty(r.id());
    assert!(PeerSync::new().receive(&mut b, swapped).is_err());
    assert!(b.is_empty());
    // One signature too few.
    let mut short = good.clone();
    short.signatures.pop();
    assert!(PeerSync::new().receive(&mut b, short).is_err());
    assert!(b.is_empty());
    // A stranger's change inside the document, validly signed by the stranger.
    let stranger = dev(9);
    let forged = forge(&r, stranger.actor(), &stranger.key, "mine now");
    let mut poisoned = r.clone();
    let mut doc = r.doc().clone();
    doc.apply_changes([automerge::Change::from_bytes(forged.raw_bytes().to_vec()).unwrap()])
        .unwrap();
    let mut signatures: Vec<(automerge::ChangeHash, Vec<u8>)> = r
        .signatures()
        .iter()
        .map(|(h, s)| (*h, s.to_bytes().to_vec()))
        .collect();
    signatures.push((
        forged.hash(),
        forged.signature().unwrap().to_bytes().to_vec(),
    ));
    signatures.sort();
    let mut msg = automerge::sync::Message::decode(&good.message).unwrap();
    msg.changes = automerge::sync::ChunkList::from(vec![doc.save()]);
    let strangers = SyncMessage {
        message: msg.encode(),
        signatures: signatures
            .into_iter()
            .map(|(h, s)| alliance::core::sync::Vouch {
                change: h.0,
                signature: s,
                via: Vec::new(),
            })
            .collect(),
        changes: 0,
    };
    let err = PeerSync::new().receive(&mut b, strangers).unwrap_err();
    assert!(err.to_string().contains("not a member"), "{err}");
    assert!(b.is_empty());
    // The honest document still goes through.
    let applied = PeerSync::new().receive(&mut b, good).unwrap();
    assert_eq!(applied.loaded, r.len());
    assert_eq!(b.heads(), r.heads());
    // And a replica that is no longer empty takes only what it lacks from a document.
    let mut rng = SeededEntropy::new(1);
    poisoned
        .add_need(&devs[0].writer(500), &mut rng, "one more")
        .unwrap();
    let more = document_message(&poisoned);
    let applied = PeerSync::new().receive(&mut b, more).unwrap();
    assert_eq!((applied.new.len(), applied.loaded), (1, 0));
    assert_eq!(b.heads(), poisoned.heads());
}

#[test]
fn an_equivocation_is_kept_as_a_proof_its_branch_is_left_out_and_honest_changes_go_on() {
    let (devs, r) = alliance(3);
    let mut b = Replica::empty(r.id());
    b.receive(wire(&r)).unwrap();
    // Ben makes a change; then, from the same point, a second change with the same actor and
    // sequence number (a cloned device, a restored backup), validly signed by Ben's key.
    let mut a = r.clone();
    let mut rng = SeededEntropy::new(3);
    let first = a
        .add_need(&devs[1].writer(50), &mut rng, "first")
        .unwrap()
        .change
        .unwrap();
    let mut fork = r.clone();
    let second = fork
        .add_need(&devs[1].writer(51), &mut rng, "second")
        .unwrap()
        .change
        .unwrap();
    assert_eq!(first.change().seq(), second.change().seq());
    assert_ne!(first.hash(), second.hash());
    // Ada builds on the second change on the fork.
    let on_second = fork
        .add_need(&devs[0].writer(52), &mut rng, "built on the second")
        .unwrap()
        .change
        .unwrap();
    b.receive(vec![unverified(&first)]).unwrap();
    let heads = b.heads();
    let got = b
        .receive(vec![unverified(&second), unverified(&on_second)])
        .unwrap();
    assert_eq!((got.equivocations, got.dropped, got.new.len()), (1, 2, 0));
    assert_eq!(b.heads(), heads, "nothing of the other branch is applied");
    let proof = &b.quarantine().proofs[0];
    assert!(proof.verify(), "the proof checks on its own");
    assert_eq!(proof.kept.hash, first.hash().to_string());
    assert_eq!(proof.other.hash, second.hash().to_string());
    assert_eq!(proof.device, devs[1].key.device_id().to_hex());
    // Offered again, the left-out changes cost nothing and change nothing.
    let again = b.receive(vec![unverified(&on_second)]).unwrap();
    assert_eq!((again.dropped, again.equivocations), (1, 0));
    // Ben's actor is quarantined: its next change on the kept branch is left out too.
    let ben_later = a
        .add_need(&devs[1].writer(53), &mut rng, "later")
        .unwrap()
        .change
        .unwrap();
    assert_eq!(b.receive(vec![unverified(&ben_later)]).unwrap().dropped, 1);
    // The replica still takes honest changes that do not build on the left-out ones.
    let honest = r
        .clone()
        .add_need(&devs[2].writer(54), &mut rng, "honest")
        .unwrap()
        .change
        .unwrap();
    let got = b.receive(vec![unverified(&honest)]).unwrap();
    assert_eq!(got.new.len(), 1);
    assert!(b.verify_history().iter().all(|c| c.problem.is_none()));
}

#[test]
fn two_changes_with_one_sequence_number_in_one_batch_are_both_left_out() {
    let (devs, r) = alliance(3);
    let mut b = Replica::empty(r.id());
    b.receive(wire(&r)).unwrap();
    let mut rng = SeededEntropy::new(4);
    let one = r
        .clone()
        .add_need(&devs[1].writer(60), &mut rng, "one")
        .unwrap()
        .change
        .unwrap();
    let two = r
        .clone()
        .add_need(&devs[1].writer(61), &mut rng, "two")
        .unwrap()
        .change
        .unwrap();
    let heads = b.heads();
    let got = b.receive(vec![unverified(&one), unverified(&two)]).unwrap();
    assert_eq!((got.equivocations, got.dropped), (1, 2));
    assert_eq!(b.heads(), heads);
    assert!(b.quarantine().proofs[0].verify());
}

#[test]
fn a_forged_change_that_reuses_a_sequence_number_is_a_forgery_not_a_proof() {
    let (devs, r) = alliance(3);
    let mut b = Replica::empty(r.id());
    b.receive(wire(&r)).unwrap();
    let mut rng = SeededEntropy::new(5);
    let mut fork = r.clone();
    let real = fork
        .add_need(&devs[1].writer(70), &mut rng, "real")
        .unwrap()
        .change
        .unwrap();
    b.receive(vec![unverified(&real)]).unwrap();
    // Ada signs a change under Ben's actor that takes the number of Ben's real change.
    let forged = forge(&r, devs[1].actor(), &devs[0].key, "forged");
    let err = b.receive(vec![forged]).unwrap_err();
    assert!(err.to_string().contains("signature"), "{err}");
    assert!(b.quarantine().proofs.is_empty(), "no proof from a forgery");
}

/// `change` with its sequence number replaced by `seq` (both below 128), its checksum fixed
/// and signed by `key`: a well-formed chunk that lies about its number.
fn renumbered(change: &[u8], seq: u8, key: &DeviceKey) -> SignedChange<Unverified> {
    use sha2::{Digest, Sha256};
    let uleb = |b: &[u8]| {
        let (mut v, mut i) = (0usize, 0);
        loop {
            v |= ((b[i] & 0x7f) as usize) << (7 * i);
            i += 1;
            if b[i - 1] & 0x80 == 0 {
                return (v, i);
            }
        }
    };
    let (len, n) = uleb(&change[9..]);
    let body_at = 9 + n;
    let mut body = change[body_at..body_at + len].to_vec();
    let (deps, n) = uleb(&body);
    let actor_at = n + 32 * deps;
    let (actor_len, n) = uleb(&body[actor_at..]);
    let seq_at = actor_at + n + actor_len;
    assert!(body[seq_at] < 0x80 && seq < 0x80);
    body[seq_at] = seq;
    let mut hasher = Sha256::new();
    hasher.update(&change[8..body_at]);
    hasher.update(&body);
    let hash: [u8; 32] = hasher.finalize().into();
    let mut bytes = change[..body_at].to_vec();
    bytes[4..8].copy_from_slice(&hash[..4]);
    bytes.extend_from_slice(&body);
    let sig = key.sign_change(&automerge::ChangeHash(hash));
    SignedChange::from_bytes(bytes, &sig.to_bytes()).unwrap()
}

#[test]
fn a_change_that_skips_sequence_numbers_is_refused() {
    let (devs, r) = alliance(3);
    let mut b = Replica::empty(r.id());
    b.receive(wire(&r)).unwrap();
    let mut rng = SeededEntropy::new(6);
    let next = r
        .clone()
        .add_need(&devs[1].writer(80), &mut rng, "n1")
        .unwrap()
        .change
        .unwrap();
    let seq = next.change().seq() as u8;
    let honest = renumbered(next.raw_bytes(), seq, &devs[1].key);
    assert_eq!(
        honest.hash(),
        next.hash(),
        "renumbering to the same number is a no-op"
    );
    let err = b
        .receive(vec![renumbered(next.raw_bytes(), seq + 1, &devs[1].key)])
        .unwrap_err();
    assert!(err.to_string().contains("skip sequence numbers"), "{err}");
    assert_eq!(b.heads(), r.heads());
}

#[test]
fn a_few_bytes_that_stand_for_millions_of_operations_are_refused_before_they_are_applied() {
    use automerge::transaction::Transactable;
    let ben = dev(2);
    let mut doc = automerge::AutoCommit::new().with_actor(ben.actor());
    let text = doc.put_object(ROOT, "t", automerge::ObjType::Text).unwrap();
    let n = alliance::constants::MAX_CHANGE_OPS + 1000;
    doc.splice_text(&text, 0, 0, &"a".repeat(n)).unwrap();
    doc.commit();
    doc.splice_text(&text, 0, n as isize, "").unwrap();
    doc.commit();
    let changes = doc.get_changes(&[]);
    let deletion = changes.last().unwrap();
    assert!(deletion.raw_bytes().len() < 64 << 10, "run-length encoded");
    let sig = ben.key.sign_change(&deletion.hash());
    let c = SignedChange::from_bytes(deletion.raw_bytes().to_vec(), &sig.to_bytes()).unwrap();
    match c.verify() {
        Err(alliance::core::ChangeError::TooManyOps { ops, .. }) => assert!(ops >= n),
        other => panic!("expected TooManyOps, got {other:?}"),
    }
}

#[test]
fn a_batch_over_its_time_budget_is_abandoned_with_nothing_applied() {
    let (_, r) = alliance(5);
    let mut b = Replica::empty(r.id());
    let out_of_time = || true;
    let err = b
        .receive_within(
            wire(&r),
            &alliance::core::replica::Budget::until(&out_of_time),
        )
        .unwrap_err();
    assert!(
        matches!(err, alliance::core::ReceiveError::OverBudget(_)),
        "{err}"
    );
    assert!(b.is_empty());
    // With time left, the same batch goes in.
    let in_time = || false;
    b.receive_within(wire(&r), &alliance::core::replica::Budget::until(&in_time))
        .unwrap();
    assert_eq!(b.heads(), r.heads());
}

/// Every author's newest change in `r`'s history, as the vouching rule sees them.
fn newest_per_author(batch: &[SignedChange<Unverified>]) -> Vec<usize> {
    let nodes: Vec<alliance::core::vouch::Node<'_>> = batch
        .iter()
        .map(|c| alliance::core::vouch::Node {
            hash: c.hash(),
            author: alliance::core::signed::author_of_actor(c.actor_id()).unwrap(),
            deps: c.deps(),
        })
        .collect();
    alliance::core::vouch::signatures_to_check(&nodes)
}

#[test]
fn only_each_authors_newest_change_travels_signed_and_the_rest_are_attributed_through_it() {
    let (_, r) = alliance(30);
    let batch = wire(&r);
    let signed: Vec<usize> = (0..batch.len())
        .filter(|&i| batch[i].signature().is_some())
        .collect();
    assert_eq!(signed, newest_per_author(&batch));
    assert_eq!(signed.len(), 3, "one per device");
    let mut receiver = Replica::empty(r.id());
    receiver.receive(batch).unwrap();
    assert_eq!(
        receiver.signatures().len(),
        3,
        "only the signatures checked are kept"
    );
    // Every change is still attributed to its author, through the signature that vouches.
    assert!(
        receiver
            .verify_history()
            .iter()
            .all(|c| c.problem.is_none())
    );
    // The review commands work the vouchers out from the history index: the same ones.
    let reload = || {
        Replica::from_store(
            receiver.id(),
            Some(&receiver.save()),
            receiver.signatures().clone(),
            receiver.proofs().clone(),
            vec![],
        )
        .unwrap()
    };
    let (primed, fresh) = (reload(), reload());
    let index = alliance::core::index::ChangeIndex::build(&primed);
    let mut indexed = index.heads().to_vec();
    indexed.sort();
    assert_eq!(indexed, primed.heads(), "the index is of the present heads");
    primed.prime_vouchers(&index);
    for m in receiver.doc().get_changes_meta(&[]) {
        assert_eq!(primed.vouching(&m.hash), fresh.vouching(&m.hash));
        assert!(primed.vouching(&m.hash).is_some());
    }
    let log = receiver.log();
    assert!(log.iter().all(|e| e.verified), "{log:?}");
    for e in &log {
        let hash: automerge::ChangeHash = e.hash.parse().unwrap();
        let (signer, _) = receiver.vouching(&hash).unwrap();
        let author = |h: &automerge::ChangeHash| {
            receiver
                .doc()
                .get_change_meta_by_hash(h)
                .unwrap()
                .actor
                .to_bytes()[..32]
                .to_vec()
        };
        assert_eq!(author(&signer), author(&hash), "vouched by its own author");
    }
}

#[test]
fn a_batch_whose_newest_change_of_an_author_is_missing_its_signature_is_refused() {
    let (devs, r) = alliance(9);
    for (who, dev) in devs.iter().enumerate() {
        let mut batch = wire(&r);
        let newest = batch
            .iter()
            .rposition(|c| c.actor_id() == &dev.actor())
            .unwrap();
        batch[newest] = batch[newest].clone().without_signature();
        let mut receiver = Replica::empty(r.id());
        let err = receiver.receive(batch).unwrap_err();
        assert!(
            matches!(err, ReceiveError::Change(ChangeError::Unvouched { .. })),
            "author {who}: {err}"
        );
        assert!(receiver.is_empty());
    }
    // The same over the sync protocol, and for a whole document.
    let good = document_message(&r);
    let mut short = good.clone();
    short.signatures.pop();
    let mut b = Replica::empty(r.id());
    let err = PeerSync::new().receive(&mut b, short).unwrap_err();
    assert!(err.to_string().contains("carries no signature"), "{err}");
    assert!(b.is_empty());
}

#[test]
fn a_vouching_signature_that_does_not_cover_a_change_claimed_under_its_author_is_refused() {
    // Ada's need 3 is the history's last change.
    let (devs, r) = alliance(4);
    // Ben writes a change under Ada's actor and sends it unsigned beside Ada's real, signed
    // newest change, which does not have it in its past: Ada's signature does not cover it.
    let mut base = Replica::empty(r.id());
    let mut batch = wire(&r);
    let ada_newest = *newest_per_author(&batch)
        .iter()
        .find(|&&i| batch[i].actor_id() == &devs[0].actor())
        .unwrap();
    // Base: everything but Ada's newest change.
    let held: Vec<_> = batch
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != ada_newest)
        .map(|(_, c)| c.clone())
        .collect();
    // Ada's second-newest becomes the newest of what base holds: give it its signature back.
    let held: Vec<_> = held
        .into_iter()
        .map(|c| match r.signatures().get(&c.hash()) {
            Some(s) => SignedChange::from_bytes(c.raw_bytes().to_vec(), &s.to_bytes()).unwrap(),
            None => c,
        })
        .collect();
    base.receive(held).unwrap();
    let mut forged_actor = devs[0].actor().to_bytes().to_vec();
    forged_actor[39] ^= 1; // a fresh actor of Ada's key: sequence numbers start at 1
    let forged = forge(
        &base,
        ActorId::from(forged_actor),
        &devs[1].key,
        "Ada says: Ben decides",
    )
    .without_signature();
    let newest = batch.remove(ada_newest);
    for order in [
        vec![forged.clone(), newest.clone()],
        vec![newest.clone(), forged.clone()],
    ] {
        let mut receiver = base.clone();
        let before = receiver.heads();
        let err = receiver.receive(order).unwrap_err();
        assert!(
            matches!(err, ReceiveError::Change(ChangeError::Unvouched { .. })),
            "{err}"
        );
        assert_eq!(receiver.heads(), before);
    }
    // A signature claimed for a change that was not sent at all.
    let msg = alliance::core::sync::pair(
        vec![newest.raw_bytes().to_vec()],
        &[
            alliance::core::sync::vouch(&newest.hash(), newest.signature().unwrap()),
            alliance::core::sync::vouch(&forged.hash(), newest.signature().unwrap()),
        ],
    );
    assert!(matches!(msg, Err(ChangeError::StraySignature(_))));
}

#[test]
fn a_signature_sent_on_an_older_change_is_not_kept_unchecked() {
    // An extra signature on a change its author's newest vouches for is redundant: it is not
    // checked, so it must not be kept (a bad one would make `verify` fail later).
    let (devs, r) = alliance(9);
    let mut batch = wire(&r);
    let older = batch
        .iter()
        .position(|c| c.actor_id() == &devs[1].actor() && c.signature().is_none())
        .unwrap();
    let junk = devs[2].key.sign_change(&batch[older].hash());
    batch[older] =
        SignedChange::from_bytes(batch[older].raw_bytes().to_vec(), &junk.to_bytes()).unwrap();
    let mut receiver = Replica::empty(r.id());
    receiver.receive(batch).unwrap();
    assert!(!receiver.signatures().contains_key(&wire(&r)[older].hash()));
    assert!(
        receiver
            .verify_history()
            .iter()
            .all(|c| c.problem.is_none())
    );
}

#[test]
fn a_stored_vouching_signature_tampered_with_fails_every_change_it_vouched_for() {
    let (devs, r) = alliance(9);
    let mut receiver = Replica::empty(r.id());
    receiver.receive(wire(&r)).unwrap();
    let ben_newest = *receiver
        .signatures()
        .keys()
        .find(|h| {
            receiver
                .doc()
                .get_change_meta_by_hash(h)
                .unwrap()
                .actor
                .as_ref()
                == &devs[1].actor()
        })
        .unwrap();
    let vouched: Vec<automerge::ChangeHash> = receiver
        .doc()
        .get_changes_meta(&[])
        .iter()
        .filter(|m| m.actor.as_ref() == &devs[1].actor())
        .map(|m| m.hash)
        .collect();
    assert!(vouched.len() > 1);
    // Through the store's files: the snapshot holds the signature table.
    let snapshot = alliance::store::format::encode_snapshot(
        &receiver.save(),
        &{
            let mut s = receiver.signatures().clone();
            let bad = devs[0].key.sign_change(&ben_newest);
            s.insert(ben_newest, bad);
            s
        },
        receiver.proofs(),
    );
    let decoded = alliance::store::format::decode_snapshot(&snapshot).unwrap();
    let tampered = Replica::from_store(
        r.id(),
        Some(decoded.doc),
        decoded.signatures,
        decoded.proofs,
        vec![],
    )
    .unwrap();
    let failed: std::collections::HashSet<String> = tampered
        .verify_history()
        .into_iter()
        .filter(|c| c.problem.is_some())
        .map(|c| c.hash)
        .collect();
    let expected: std::collections::HashSet<String> =
        vouched.iter().map(|h| h.to_string()).collect();
    assert_eq!(failed, expected);
}

#[test]
fn a_change_whose_vouching_change_is_left_out_keeps_its_signature_as_a_proof() {
    let (devs, r) = alliance(3);
    let mut rng = SeededEntropy::new(5);
    // Ben equivocates (two changes with one number); the receiver keeps the first.
    let mut a = r.clone();
    let first = a
        .add_need(&devs[1].writer(50), &mut rng, "first")
        .unwrap()
        .change
        .unwrap();
    let mut fork = r.clone();
    let second = fork
        .add_need(&devs[1].writer(51), &mut rng, "second")
        .unwrap()
        .change
        .unwrap();
    let mut b = Replica::empty(r.id());
    b.receive(wire(&r)).unwrap();
    b.receive(vec![unverified(&first)]).unwrap();
    assert_eq!(b.receive(vec![unverified(&second)]).unwrap().dropped, 1);
    // Cy writes a need on the shared past, then, having seen Ben's second change, another need
    // on top of both: the newer one is left out (it builds on a left-out change), and it was
    // the only change vouching for the older.
    let honest = r
        .clone()
        .add_need(&devs[2].writer(52), &mut rng, "honest")
        .unwrap()
        .change
        .unwrap();
    fork.receive(vec![unverified(&honest)]).unwrap();
    let on_both = fork
        .add_need(&devs[2].writer(53), &mut rng, "on both")
        .unwrap()
        .change
        .unwrap();
    let batch = vec![
        unverified(&honest).without_signature(),
        unverified(&on_both),
    ];
    let got = b.receive(batch).unwrap();
    assert_eq!((got.new.len(), got.dropped), (1, 1));
    assert!(b.view().needs.iter().any(|n| n.text == "honest"));
    assert!(b.proofs().contains_key(&honest.hash()));
    assert!(b.verify_history().iter().all(|c| c.problem.is_none()));
    let entry = b
        .log()
        .into_iter()
        .find(|e| e.hash == honest.hash().to_string())
        .unwrap();
    assert!(entry.verified);
}
