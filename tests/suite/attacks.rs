//! Attacks on a running device over real iroh connections on 127.0.0.1 (relays disabled), with
//! real stores in temp dirs. Each case checks what a family would: the attack is refused, the
//! device stays up, honest devices keep syncing, and nothing of the attack is stored.
//!
//! Also covered elsewhere: a non-member endpoint, and forged, tampered and re-signed changes in
//! sync messages (tests/net.rs); forged pushes (tests/net.rs).

use std::time::Duration;

use crate::kit::eventually_async;
use crate::kit::net::{
    Dev, family, honest_need_arrives, introduce, now, raw_live_session, sync_once_with, sync_pair,
};
use alliance::constants::{
    ALPN, HANDSHAKE_TIMEOUT_SECS, MAX_FRAME_BYTES, MAX_HANDSHAKE_FRAME_BYTES,
    MAX_STRANGER_CONNECTIONS,
};
use alliance::core::{SeededEntropy, SignedChange, Writer};
use alliance::net::endpoint::addr_for;
use alliance::net::wire::{Frame, read_frame, write_frame};
use alliance::store::{LockMode, layout};

/// The changes `dev` holds after `before`, as (bytes, signature) pairs for a frame: every
/// signature `dev` keeps (its own changes' all, and others' newest as they arrived).
fn signed_since(dev: &Dev, before: &[automerge::ChangeHash]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let open = dev.home.open(&dev.id(), LockMode::Shared).unwrap();
    open.replica()
        .changes_since(before)
        .iter()
        .map(|c| {
            let sig = c.signature().map(|s| s.to_bytes().to_vec());
            (c.raw_bytes().to_vec(), sig.unwrap_or_default())
        })
        .collect()
}

fn push(changes: &[(Vec<u8>, Vec<u8>)]) -> Frame {
    crate::kit::net::push_each_signed(changes)
}

/// Reads frames until the peer rejects us (its reason) or closes (`None`), for up to 10 s.
async fn rejection(recv: &mut iroh::endpoint::RecvStream) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match read_frame(recv).await {
                Ok(Frame::Rejected { reason }) => return Some(reason),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    })
    .await
    .expect("the device answers within 10 s")
}

/// Recomputes the checksum of a chunk whose bytes after the checksum were altered (whatever
/// they now say), as a fuzzer that fixes checksums does.
fn rechecksum(mut chunk: Vec<u8>) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(&chunk[8..]);
    chunk[4..8].copy_from_slice(&hash[..4]);
    chunk
}

/// `chunk` with its last body byte cut off and its length and checksum fixed: a well-formed
/// chunk whose operation columns no longer add up.
fn truncated(chunk: &[u8]) -> Vec<u8> {
    let (kind, body) = alliance::core::raw::chunk_body(chunk).expect("a chunk");
    alliance::core::raw::chunk(kind, &body[..body.len() - 1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_old_change_is_a_harmless_duplicate() {
    let (ada, ben, _chioma) = family().await;
    sync_pair(&ada, &ben).await;
    let node = ada.node().await;
    let ben_node = ben.node().await;
    let old = signed_since(&ben, &[]);
    let heads = ada.heads();
    let (mut send, _recv) = raw_live_session(&ben_node, &node, ada.id()).await;
    write_frame(&mut send, &push(&old)).await.unwrap();
    // An honest push after the replay, on the same session, shows the replay was taken in
    // stride: the session goes on.
    let before = ben.heads();
    ben.edit(|r, w, e| {
        r.add_need(w, e, "after the replay").unwrap();
    });
    write_frame(&mut send, &push(&signed_since(&ben, &before)))
        .await
        .unwrap();
    assert!(
        eventually_async(10, || ada
            .view()
            .needs
            .iter()
            .any(|n| n.text == "after the replay"))
        .await
    );
    let open = ada.home.open(&ada.id(), LockMode::Shared).unwrap();
    assert_eq!(
        open.replica().len(),
        old.len() + 1,
        "the replay added nothing"
    );
    assert!(!heads.is_empty());
    ben_node.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_member_is_caught_with_a_proof_and_honest_peers_keep_syncing() {
    let (ada, ben, chioma) = family().await;
    sync_pair(&ada, &ben).await;
    // Ben's device (a cloned or restored one, or Ben himself) signs two different changes with
    // one actor and number: "kept" reaches Ada first, then "equivocated".
    let (tag, mut fork) = {
        let mut open = ben.home.open(&ben.id(), LockMode::Exclusive).unwrap();
        let tag = open.actor_tag(&mut SeededEntropy::new(1)).unwrap();
        (tag, open.replica().clone())
    };
    ben.edit(|r, w, e| {
        r.add_need(w, e, "kept").unwrap();
    });
    sync_pair(&ada, &ben).await;
    let key = ben.key();
    let writer = Writer {
        key: &key,
        actor_tag: tag,
        now: now(),
    };
    let other = fork
        .add_need(&writer, &mut SeededEntropy::new(99), "equivocated")
        .unwrap()
        .change
        .unwrap();
    let heads = ada.heads();
    let node = ada.node().await;
    let ben_node = ben.node().await;
    let (mut send, _recv) = raw_live_session(&ben_node, &node, ada.id()).await;
    write_frame(
        &mut send,
        &push(&[(
            other.raw_bytes().to_vec(),
            other.signature().unwrap().to_bytes().to_vec(),
        )]),
    )
    .await
    .unwrap();
    let quarantine = ada
        .home
        .root()
        .join(layout::ALLIANCES_DIR)
        .join(ada.id().to_string())
        .join(layout::QUARANTINE);
    assert!(
        eventually_async(10, || quarantine.exists()).await,
        "the proof is stored"
    );
    {
        let open = ada.home.open(&ada.id(), LockMode::Shared).unwrap();
        let r = open.replica();
        assert_eq!(r.heads(), heads, "nothing of the other branch is stored");
        let proof = &r.quarantine().proofs[0];
        assert!(proof.verify());
        assert_eq!(proof.other.hash, other.hash().to_string());
        let noted = r.log().into_iter().filter(|e| e.equivocation.is_some());
        assert_eq!(noted.count(), 1, "the log marks the kept change");
        let me = r.member_of(&ada.key().device_id()).unwrap();
        let status = r.status(&open.change_index(), &me, None, now());
        assert_eq!(status.equivocations.len(), 1, "status reports it");
        assert_eq!(status.equivocations[0].member.as_deref(), Some("Ben"));
    }
    assert!(!ada.view().needs.iter().any(|n| n.text == "equivocated"));
    node.shutdown().await;
    ben_node.shutdown().await;
    // Honest peers keep syncing, with Ada and through her.
    chioma.edit(|r, w, e| {
        r.add_need(w, e, "honest").unwrap();
    });
    sync_pair(&ada, &chioma).await;
    assert!(ada.view().needs.iter().any(|n| n.text == "honest"));
    assert!(chioma.view().needs.iter().any(|n| n.text == "kept"));
    // Ben's actor is quarantined on Ada's device: a sync with Ben still completes, and takes
    // everything but his quarantined actor's new change.
    ben.edit(|r, w, e| {
        r.add_need(w, e, "later by the same actor").unwrap();
    });
    sync_pair(&ada, &ben).await;
    assert!(ben.view().needs.iter().any(|n| n.text == "honest"));
    assert!(
        !ada.view()
            .needs
            .iter()
            .any(|n| n.text == "later by the same actor")
    );
}

#[test]
fn no_malformed_but_checksummed_change_gets_in_or_takes_the_replica_down() {
    // Every single-byte change and a truncation of a member's change, each with its checksum
    // fixed and signed by the member: whatever Automerge makes of it, `receive` returns, and
    // the replica either refused it or took a valid change and still verifies.
    use crate::kit::memory::{Dev as MemDev, family as mem_family};
    let mut devs: Vec<MemDev> = mem_family(2);
    let base = devs[0].replica.clone();
    let mut rng = SeededEntropy::new(5);
    let change = devs[1]
        .edit(1, |r, w| r.add_need(w, &mut rng, "a need").unwrap())
        .change
        .unwrap();
    let bytes = change.raw_bytes().to_vec();
    let key = &devs[1].key;
    let mut variants: Vec<Vec<u8>> = (9..bytes.len())
        .map(|i| {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            rechecksum(b)
        })
        .collect();
    variants.push(truncated(&bytes));
    let (mut refused, mut taken, mut panicked) = (0, 0, 0);
    for v in variants {
        let Ok(raw) = alliance::core::raw::RawChange::parse(v.clone()) else {
            refused += 1;
            continue;
        };
        let sig = key.sign_change(&raw.hash());
        let signed = SignedChange::from_bytes(v, &sig.to_bytes()).unwrap();
        let mut r = base.clone();
        match r.receive(vec![signed]) {
            Ok(got) if !got.new.is_empty() => {
                taken += 1;
                // What got in can be read back and sent on.
                assert_eq!(r.doc().get_changes(&[]).len(), base.len() + 1);
                assert!(r.verify_history().iter().all(|c| c.problem.is_none()));
            }
            Ok(_) => refused += 1,
            // Automerge panicked half-way through applying: the replica says so, refuses
            // everything until it is loaded again (the store holds the last good state), and
            // the sender is to be quarantined.
            Err(e) if e.needs_reload() => {
                refused += 1;
                panicked += 1;
                assert!(e.is_hostile(), "{e}");
                let again = r.receive(vec![]).unwrap_err();
                assert!(again.needs_reload(), "{again}");
            }
            Err(_) => {
                refused += 1;
                assert_eq!(
                    r.heads(),
                    base.heads(),
                    "nothing of a refused change is kept"
                );
            }
        }
    }
    assert!(refused > 0 && refused + taken == bytes.len() - 9 + 1);
    eprintln!("{refused} refused ({panicked} made Automerge panic), {taken} taken");
    devs.clear();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_but_checksummed_change_from_a_member_is_rejected_and_nothing_is_stored() {
    let (ada, ben, _chioma) = family().await;
    sync_pair(&ada, &ben).await;
    let before = ben.heads();
    ben.edit(|r, w, e| {
        r.add_need(w, e, "x").unwrap();
    });
    let honest = signed_since(&ben, &before);
    let bad = truncated(&honest[0].0);
    let raw = alliance::core::raw::RawChange::parse(bad.clone()).expect("the header is intact");
    let sig = ben.key().sign_change(&raw.hash()).to_bytes().to_vec();
    let heads = ada.heads();
    let node = ada.node().await;
    let ben_node = ben.node().await;
    let (mut send, mut recv) = raw_live_session(&ben_node, &node, ada.id()).await;
    write_frame(&mut send, &push(&[(bad, sig)])).await.unwrap();
    let reason = rejection(&mut recv).await.expect("rejected with a reason");
    assert!(reason.contains("not a valid Automerge change"), "{reason}");
    assert_eq!(ada.heads(), heads, "nothing is stored");
    // Ada's device is still up, and the honest version goes through.
    introduce(&ben_node, &node);
    sync_once_with(&ben_node, &ada).await;
    assert!(ada.view().needs.iter().any(|n| n.text == "x"));
    ben_node.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused_before_they_are_read() {
    let (ada, ben, _chioma) = family().await;
    sync_pair(&ada, &ben).await;
    let node = ada.node().await;
    let ben_node = ben.node().await;
    let heads = ada.heads();
    // A member announces a frame over the limit: the session ends, nothing is read.
    let (mut send, mut recv) = raw_live_session(&ben_node, &node, ada.id()).await;
    send.write_all(&((MAX_FRAME_BYTES as u32) + 1).to_be_bytes())
        .await
        .unwrap();
    let _ = send.write_all(&[0u8; 1024]).await;
    assert!(
        rejection(&mut recv).await.is_none(),
        "the session is closed"
    );
    // A stranger's first frame may be at most a few KiB.
    let eve = Dev::new(66, "Eve");
    let eve_node = eve.node().await;
    let conn = eve_node
        .endpoint
        .connect(addr_for(&node.device(), &node.addrs(), None), ALPN)
        .await
        .unwrap();
    let (mut s, mut r) = conn.open_bi().await.unwrap();
    s.write_all(&((MAX_HANDSHAKE_FRAME_BYTES as u32) + 1).to_be_bytes())
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(10), read_frame(&mut r))
            .await
            .expect("answered")
            .is_err(),
        "the stranger is disconnected"
    );
    assert_eq!(ada.heads(), heads);
    // Honest sync goes on.
    honest_need_arrives(&ben, &ben_node, &ada, &node, "after the big frames").await;
    eve_node.shutdown().await;
    ben_node.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_flooding_strangers_are_dropped_and_members_still_get_in() {
    let (ada, ben, _chioma) = family().await;
    sync_pair(&ada, &ben).await;
    let node = ada.node().await;
    let addr = addr_for(&node.device(), &node.addrs(), None);
    // Strangers open many connections and send nothing (slow loris), more than the slots
    // strangers share.
    let mut strangers = Vec::new();
    let mut conns = Vec::new();
    for seed in 0..4u8 {
        let eve = Dev::new(100 + seed, "Eve");
        let eve_node = eve.node().await;
        for _ in 0..(MAX_STRANGER_CONNECTIONS / 2) {
            if let Ok(c) = eve_node.endpoint.connect(addr.clone(), ALPN).await {
                conns.push(c);
            }
        }
        strangers.push((eve, eve_node));
    }
    assert!(conns.len() > MAX_STRANGER_CONNECTIONS);
    // A member gets in meanwhile, and syncs.
    let ben_node = ben.node().await;
    honest_need_arrives(&ben, &ben_node, &ada, &node, "during the flood").await;
    // Every silent connection is closed: the ones over the limit at once, the others when the
    // handshake time is up.
    let all_closed = tokio::time::timeout(
        Duration::from_secs(HANDSHAKE_TIMEOUT_SECS + 10),
        futures_join_all(conns.iter().map(|c| c.closed())),
    )
    .await;
    assert!(all_closed.is_ok(), "silent connections are dropped");
    ben_node.shutdown().await;
    for (_, n) in strangers {
        n.shutdown().await;
    }
    node.shutdown().await;
}

/// Awaits every future (a tiny join_all, to avoid a dependency).
async fn futures_join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) {
    for f in futures {
        f.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_change_makes_automerge_panic_is_quarantined_and_the_device_recovers() {
    let (ada, ben, chioma) = family().await;
    sync_pair(&ada, &ben).await;
    sync_pair(&ada, &chioma).await;
    let before = ben.heads();
    ben.edit(|r, w, e| {
        r.add_need(w, e, "a need with a few operations").unwrap();
    });
    let honest = signed_since(&ben, &before);
    // Find a one-byte corruption of Ben's change (checksum fixed, signed by Ben) that makes
    // Automerge panic on a copy of Ada's replica: malformed in a way its own checks miss.
    let base = ada
        .home
        .open(&ada.id(), LockMode::Shared)
        .unwrap()
        .replica()
        .clone();
    let bytes = &honest[0].0;
    let hostile = (9..bytes.len())
        .find_map(|i| {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            let b = rechecksum(b);
            let raw = alliance::core::raw::RawChange::parse(b.clone()).ok()?;
            let sig = ben.key().sign_change(&raw.hash()).to_bytes().to_vec();
            let c = SignedChange::from_bytes(b.clone(), &sig).ok()?;
            match base.clone().receive(vec![c]) {
                Err(e) if e.is_hostile() => Some((b, sig)),
                _ => None,
            }
        })
        .expect("some corruption makes Automerge 0.12 panic");
    let heads = ada.heads();
    let node = ada.node().await;
    let ben_node = ben.node().await;
    let (mut send, mut recv) = raw_live_session(&ben_node, &node, ada.id()).await;
    write_frame(&mut send, &push(&[hostile])).await.unwrap();
    let reason = rejection(&mut recv).await.expect("rejected with a reason");
    assert!(reason.contains("panic"), "{reason}");
    assert_eq!(ada.heads(), heads, "nothing is stored");
    // Ben's device is refused from now on, with the reason.
    introduce(&ben_node, &node);
    let shared = ben_node.listener.alliances()[0].clone();
    let outcome = ben_node
        .sync_once(&shared, Some(&[ada.key().device_id()]))
        .await
        .unwrap();
    let err = outcome[0].result.as_ref().unwrap_err().to_string();
    assert!(err.contains("quarantined"), "{err}");
    // Ada's device recovered (its replica was loaded again) and honest peers sync on.
    chioma.edit(|r, w, e| {
        r.add_need(w, e, "still syncing").unwrap();
    });
    let chioma_node = chioma.node().await;
    introduce(&chioma_node, &node);
    sync_once_with(&chioma_node, &ada).await;
    assert!(ada.view().needs.iter().any(|n| n.text == "still syncing"));
    assert!(
        ada.home
            .open(&ada.id(), LockMode::Shared)
            .unwrap()
            .replica()
            .verify_history()
            .iter()
            .all(|c| c.problem.is_none())
    );
    chioma_node.shutdown().await;
    ben_node.shutdown().await;
    node.shutdown().await;
}

#[test]
fn a_step_that_panics_leaves_the_store_unlocked_and_the_device_up() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ada, _ben, _chioma) = rt.block_on(family());
    let shared = ada.shared();
    let r = shared.with(LockMode::Exclusive, |_| -> Result<(), _> {
        panic!("a bug in a step")
    });
    assert!(
        matches!(r, Err(alliance::store::shared::SharedError::Internal(_))),
        "{r:?}"
    );
    // Another command can take the write lock (it would wait forever if the lock leaked).
    let (tx, rx) = std::sync::mpsc::channel();
    let home = ada.home.clone();
    let id = ada.id();
    std::thread::spawn(move || {
        let opened = home.open(&id, LockMode::Exclusive).is_ok();
        let _ = tx.send(opened);
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(true));
    // And the shared alliance still works.
    assert!(shared.is_peer(&ada.key().device_id()).unwrap());
}

/// Ben's modified client writes an agreement in Ada's name: genuinely signed by Ben's device,
/// and refused by the rules on every way in (a live push, a sync, a bundle), with the rule in
/// the error; nothing of it is stored, and honest syncing goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agreement_forged_in_another_members_name_is_refused_on_every_way_in() {
    let (ada, ben, chioma) = family().await;
    ada.edit(|r, w, e| {
        let id = r
            .add_expectation(w, e, "screens off at dinner", None, &[])
            .unwrap()
            .id
            .unwrap();
        r.agree(w, &id).unwrap();
    });
    sync_pair(&ada, &ben).await;
    sync_pair(&ada, &chioma).await;
    let ada_id = ada
        .view()
        .members
        .iter()
        .find(|m| m.name == "Ada")
        .unwrap()
        .id
        .clone();
    let forged = ben.forge(None, |tx, doc| {
        use automerge::transaction::Transactable;
        use automerge::{ObjType, ROOT, ReadDoc};
        let (_, es) = doc.get(ROOT, "expectations").unwrap().unwrap();
        let key = doc.keys(&es).next().unwrap();
        let (_, e) = doc.get(&es, key).unwrap().unwrap();
        let (_, a) = doc.get(&e, "agreements").unwrap().unwrap();
        let mine = tx.put_object(&a, ada_id.as_str(), ObjType::Map).unwrap();
        tx.put(&mine, "text_digest", "0000000000000000").unwrap();
    });
    let rule = alliance::core::rules::rule::OWN_AGREEMENT;
    let heads = ada.heads();

    // 1. A live push.
    let node = ada.node().await;
    let ben_node = ben.node().await;
    let (mut send, mut recv) = raw_live_session(&ben_node, &node, ada.id()).await;
    let frame = push(&[(
        forged.raw_bytes().to_vec(),
        forged.signature().unwrap().to_bytes().to_vec(),
    )]);
    write_frame(&mut send, &frame).await.unwrap();
    let reason = rejection(&mut recv).await.expect("rejected with a reason");
    assert!(reason.contains(rule), "{reason}");
    assert_eq!(ada.heads(), heads, "nothing is stored");
    ben_node.shutdown().await;

    // 2. A sync: Ben's client stores it and offers it like any change. (`verify` on his own
    //    store reports it.)
    ben.store_unchecked(&forged);
    let problems: Vec<String> = ben
        .home
        .open(&ben.id(), LockMode::Shared)
        .unwrap()
        .replica()
        .verify_history()
        .into_iter()
        .filter_map(|c| c.problem)
        .collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains(rule), "{problems:?}");
    let ben_node = ben.node().await;
    introduce(&ben_node, &node);
    let shared = ben_node.listener.alliances()[0].clone();
    let outcomes = ben_node
        .sync_once(&shared, Some(&[ada.key().device_id()]))
        .await
        .unwrap();
    let err = outcomes[0]
        .result
        .as_ref()
        .expect_err("Ada's device refuses the sync");
    assert!(err.to_string().contains(rule), "{err}");
    assert_eq!(ada.heads(), heads, "nothing is stored");

    // 3. A bundle file, imported with the real binary.
    let file = ada.home.root().join("from-ben.bundle");
    std::fs::write(
        &file,
        alliance::store::format::encode_bundle(
            &ada.id().0,
            [(forged.signature(), forged.raw_bytes())],
        ),
    )
    .unwrap();
    let out = crate::kit::alliance(ada.home.root(), 7)
        .args(["bundle", "import"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(rule), "{stderr}");
    assert_eq!(ada.heads(), heads, "nothing is stored");

    // The other rules, each over its own live session.
    ada.edit(|r, w, e| {
        r.add_need(w, e, "quiet mornings").unwrap();
        r.add_checkin(
            w,
            e,
            alliance::core::NewCheckIn {
                date: "2026-11-24".into(),
                rating: 4,
                reflection: "good week".into(),
                proposed_changes: vec![],
                next_in_days: 14,
            },
        )
        .unwrap();
    });
    sync_pair(&ada, &chioma).await;
    let heads = ada.heads();
    type Forgery = Box<dyn Fn(&mut automerge::transaction::Transaction<'_>, &automerge::Automerge)>;
    let at = |doc: &automerge::Automerge, path: &[&str]| -> automerge::ObjId {
        use automerge::ReadDoc;
        let mut obj = automerge::ROOT;
        for key in path {
            let key = if *key == "*" {
                doc.keys(&obj).next().unwrap()
            } else {
                key.to_string()
            };
            obj = doc.get(&obj, key).unwrap().unwrap().1;
        }
        obj
    };
    let ada_key = ada_id.to_string();
    let chioma_id = chioma
        .view()
        .members
        .iter()
        .find(|m| m.name == "Chioma")
        .unwrap()
        .id
        .to_string();
    let cases: Vec<(&str, Forgery)> = vec![
        (alliance::core::rules::rule::NEED_OWNER, {
            Box::new(move |tx, doc| {
                use automerge::transaction::Transactable;
                let t = at(doc, &["needs", "*", "text"]);
                tx.splice_text(&t, 0, 5, "noisy").unwrap();
            })
        }),
        (alliance::core::rules::rule::OWN_REFLECTION, {
            let ada_key = ada_key.clone();
            Box::new(move |tx, doc| {
                use automerge::transaction::Transactable;
                let r = at(doc, &["checkins", "*", "reflections", &ada_key]);
                tx.put(&r, "rating", 1).unwrap();
            })
        }),
        (alliance::core::rules::rule::ADD_DEVICE, {
            let ada_key = ada_key.clone();
            Box::new(move |tx, doc| {
                use automerge::transaction::Transactable;
                let d = at(doc, &["devices"]);
                let d = tx
                    .put_object(&d, "ab".repeat(32), automerge::ObjType::Map)
                    .unwrap();
                tx.put(&d, "member", ada_key.as_str()).unwrap();
            })
        }),
        (alliance::core::rules::rule::ROLE, {
            let ada_key = ada_key.clone();
            Box::new(move |tx, doc| {
                use automerge::transaction::Transactable;
                let m = at(doc, &["members", &ada_key]);
                tx.put(&m, "role", "guest").unwrap();
            })
        }),
        (alliance::core::rules::rule::ADD_PERSON, {
            Box::new(move |tx, doc| {
                use automerge::transaction::Transactable;
                let m = at(doc, &["members"]);
                let m = tx.put_object(&m, "mzzzz", automerge::ObjType::Map).unwrap();
                tx.put(&m, "name", "Zed").unwrap();
            })
        }),
        (alliance::core::rules::rule::REMOVE_PERSON, {
            Box::new(move |tx, doc| {
                use automerge::transaction::Transactable;
                let m = at(doc, &["members", &chioma_id]);
                tx.put(&m, "removed_at", 1).unwrap();
            })
        }),
    ];
    ben_node.shutdown().await;
    // Ben's device first catches up (its stored forgery aside, it is honest with Chioma).
    ben.take_all_from(&chioma);
    let ben_node = ben.node().await;
    for (rule, forge) in cases {
        let change = ben.forge(Some(&heads), forge);
        let (mut send, mut recv) = raw_live_session(&ben_node, &node, ada.id()).await;
        let frame = push(&[(
            change.raw_bytes().to_vec(),
            change.signature().unwrap().to_bytes().to_vec(),
        )]);
        write_frame(&mut send, &frame).await.unwrap();
        let reason = rejection(&mut recv).await.expect("rejected with a reason");
        assert!(reason.contains(rule), "{rule}: {reason}");
        assert_eq!(ada.heads(), heads, "{rule}: nothing is stored");
    }

    // Honest syncing goes on.
    let chioma_node = chioma.node().await;
    honest_need_arrives(&chioma, &chioma_node, &ada, &node, "after the forgery").await;
    for n in [node, ben_node, chioma_node] {
        n.shutdown().await;
    }
}

/// Ada removes Ben. His device, told of it, is refused when it dials in; a change it
/// backdates to before its removal and passes through Chioma's device (which had not heard of
/// the removal yet) is withdrawn everywhere once the removal reaches them, without breaking
/// anyone's sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_device_writing_with_backdated_dependencies_through_a_third_device_gets_nowhere()
{
    let (ada, ben, chioma) = family().await;
    sync_pair(&ada, &ben).await;
    sync_pair(&ada, &chioma).await;
    let before_removal = ben.heads();
    let ben_id = ben
        .view()
        .members
        .iter()
        .find(|m| m.name == "Ben")
        .unwrap()
        .id
        .clone();
    ada.edit(|r, w, _| {
        r.remove_member(w, &ben_id).unwrap();
    });
    // Ben's device hears of it (as a bundle from Ada would tell it).
    ben.take_all_from(&ada);
    assert!(ben.view().current(&ben_id).is_none(), "Ben's device knows");

    // Dialing Ada's device: refused at the handshake, with the reason.
    let node = ada.node().await;
    let ben_node = ben.node().await;
    introduce(&ben_node, &node);
    let shared = ben_node.listener.alliances()[0].clone();
    let outcomes = ben_node
        .sync_once(&shared, Some(&[ada.key().device_id()]))
        .await
        .unwrap();
    let err = outcomes[0].result.as_ref().expect_err("refused");
    assert!(err.to_string().contains("was removed"), "{err}");

    // A need backdated to before the removal, pushed live to Chioma's device.
    let member = ben_id.clone();
    let backdated = ben.forge(Some(&before_removal), move |tx, doc| {
        use automerge::transaction::Transactable;
        use automerge::{ObjType, ROOT, ReadDoc};
        let (_, needs) = doc.get(ROOT, "needs").unwrap().unwrap();
        let n = tx.put_object(&needs, "nbkdt", ObjType::Map).unwrap();
        tx.put(&n, "owner", member.as_str()).unwrap();
        tx.put(&n, "text", "written after my removal").unwrap();
    });
    let chioma_node = chioma.node().await;
    let (mut send, _recv) = raw_live_session(&ben_node, &chioma_node, chioma.id()).await;
    let frame = push(&[(
        backdated.raw_bytes().to_vec(),
        backdated.signature().unwrap().to_bytes().to_vec(),
    )]);
    write_frame(&mut send, &frame).await.unwrap();
    assert!(
        eventually_async(10, || chioma.has_need("written after my removal")).await,
        "Chioma's device had not heard of the removal, so it took the change"
    );
    // Chioma and Ada sync: both end without it, and the sync succeeds.
    introduce(&chioma_node, &node);
    sync_once_with(&chioma_node, &ada).await;
    introduce(&node, &chioma_node);
    sync_once_with(&node, &chioma).await;
    assert!(!ada.has_need("written after my removal"));
    assert!(!chioma.has_need("written after my removal"));
    assert_eq!(ada.heads(), chioma.heads());
    assert!(!ada.heads().contains(&backdated.hash()));
    honest_need_arrives(&chioma, &chioma_node, &ada, &node, "after the removal").await;
    for n in [node, ben_node, chioma_node] {
        n.shutdown().await;
    }
}
