//! Real iroh endpoints on 127.0.0.1 with relays disabled, several devices in one process.

use std::time::Duration;

use crate::kit::net::{
    Dev, family, honest_need_arrives, introduce, loopback_relay, now, raw_live_session,
    sync_once_with, sync_pair,
};
use alliance::core::Replica;
use alliance::core::invite::Invite;
use alliance::core::sync::{PeerSync, SyncMessage};
use alliance::core::{DeviceId, DeviceKey, SeededEntropy, SignedChange, Unverified};
use alliance::net::NetError;
use alliance::net::endpoint::{Lookup, LookupDns, NetConfig, addr_for};
use alliance::net::node::{Node, add_invite, join, save_join};
use alliance::net::session::{self, Dial};
use alliance::net::ticket::InviteTicket;
use alliance::proto::session::{Failed, Target};
use alliance::store::LockMode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joined_devices_hold_the_whole_alliance_and_are_members() {
    let (ada, ben, chioma) = family().await;
    for d in [&ben, &chioma] {
        assert_eq!(d.view().title, "The Okafor family");
    }
    let mut names: Vec<_> = ada.view().members.iter().map(|m| m.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["Ada", "Ben", "Chioma"]);
    // Ben's copy verifies on its own.
    let open = ben.home.open(&ben.id(), LockMode::Shared).unwrap();
    assert!(
        open.replica()
            .verify_history()
            .iter()
            .all(|c| c.problem.is_none())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_devices_with_offline_edits_converge_in_any_order() {
    for order in [[(0, 1), (1, 2), (0, 2)], [(2, 1), (1, 0), (0, 2)]] {
        let (ada, ben, chioma) = family().await;
        let devs = [&ada, &ben, &chioma];
        sync_pair(&ada, &ben).await;
        sync_pair(&ada, &chioma).await;
        ada.edit(|r, w, _| {
            r.set_vision(w, "We listen first.").unwrap();
        });
        sync_pair(&ada, &ben).await;
        sync_pair(&ada, &chioma).await;
        // Offline edits on every device, including the same vision text.
        ada.edit(|r, w, e| {
            r.add_need(w, e, "an hour-long walk").unwrap();
            r.set_vision(w, "We listen first, always.").unwrap();
        });
        ben.edit(|r, w, e| {
            r.add_need(w, e, "time alone after school").unwrap();
            r.set_vision(w, "Together, we listen first.").unwrap();
        });
        chioma.edit(|r, w, e| {
            r.add_expectation(w, e, "no screens after 8pm", None, &[])
                .unwrap();
        });
        for (x, y) in order {
            sync_pair(devs[x], devs[y]).await;
        }
        // One more round so every edit reached every device.
        for (x, y) in order {
            sync_pair(devs[x], devs[y]).await;
        }
        let v = ada.view();
        assert_eq!(ben.view(), v);
        assert_eq!(chioma.view(), v);
        assert_eq!(ada.heads(), chioma.heads());
        assert_eq!(v.vision, "Together, we listen first, always.");
        assert_eq!(v.needs.len(), 2);
        assert_eq!(v.expectations.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_member_endpoint_is_refused_before_any_data() {
    let (ada, _ben, _chioma) = family().await;
    let node = ada.node().await;
    let eve = Dev::new(66, "Eve");
    let eve_node = eve.node().await;
    let mut target = Replica::empty(ada.id());
    let mut sync = PeerSync::new();
    let r = session::dial(
        &eve_node.endpoint,
        addr_for(&node.device(), &node.addrs(), None),
        Dial {
            alliance: ada.id(),
            join: None,
            hand_over: None,
            live: false,
            my_addrs: vec![],
            target: &mut target,
            sync: &mut sync,
            fresh: None,
            events: None,
            progress: None,
        },
    )
    .await;
    match r {
        Err(NetError::Refused { reason, .. }) => {
            assert!(reason.contains("not a member"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(target.is_empty(), "no document data reached the stranger");
    assert_eq!(sync.received, 0);
    eve_node.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_and_expired_tickets_are_refused_and_change_nothing() {
    let ada = Dev::new(1, "Ada");
    ada.found("Family");
    let node = ada.node().await;
    let ticket = ada.invite(&node, [31; 32], 3600);
    let expired = ada.invite(&node, [32; 32], 0);
    let ben = Dev::new(2, "Ben");
    ben.join(&ticket).await.unwrap();
    let heads = ada.heads();
    let carl = Dev::new(3, "Carl");
    let err = carl.join(&ticket).await.unwrap_err();
    assert!(err.to_string().contains("already used"), "{err}");
    let err = carl.join(&expired).await.unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    let mut forged = ticket.clone();
    forged.secret = [99; 32];
    let err = carl.join(&forged).await.unwrap_err();
    assert!(err.to_string().contains("not known"), "{err}");
    assert_eq!(
        ada.heads(),
        heads,
        "a refused join changes nothing on the inviter"
    );
    assert!(
        carl.home.alliance_ids().unwrap().is_empty(),
        "nor on the joiner"
    );
    node.shutdown().await;
}

/// A member device that sends forged changes inside otherwise valid sync messages.
struct Forger(SyncMessage);

impl Target for Forger {
    type Error = NetError;
    fn generate(
        &mut self,
        _: &mut PeerSync,
        _: &DeviceId,
    ) -> Result<Option<SyncMessage>, Failed<NetError>> {
        Ok(Some(self.0.clone()))
    }
    fn may_send(&mut self, _: &DeviceId) -> Result<(), Failed<NetError>> {
        Ok(())
    }
    fn receive(
        &mut self,
        _: &mut PeerSync,
        _: SyncMessage,
        _: &DeviceId,
    ) -> Result<(), Failed<NetError>> {
        Ok(())
    }
    fn receive_pushed(
        &mut self,
        _: Vec<SignedChange<Unverified>>,
        _: &DeviceId,
    ) -> Result<bool, Failed<NetError>> {
        Ok(true)
    }
}

/// A V1 sync message carrying every change of `doc`, signed by `sig_for`; with `tamper`, one
/// byte inside the change `target` is flipped after signing.
fn message_with(
    doc: &automerge::Automerge,
    target: automerge::ChangeHash,
    tamper: bool,
    sig_for: impl Fn(&automerge::Change) -> Option<Vec<u8>>,
) -> SyncMessage {
    use automerge::sync::SyncDoc;
    let mut state = automerge::sync::State::new();
    let mut msg = doc.generate_sync_message(&mut state).unwrap();
    msg.changes = automerge::sync::ChunkList::from(
        doc.get_changes(&[])
            .iter()
            .map(|c| {
                let mut bytes = c.raw_bytes().to_vec();
                if tamper && c.hash() == target {
                    let n = bytes.len();
                    bytes[n - 1] ^= 0x01;
                }
                bytes
            })
            .collect::<Vec<_>>(),
    );
    let signatures: Vec<_> = doc
        .get_changes(&[])
        .iter()
        .filter_map(|c| {
            Some(alliance::core::sync::Vouch {
                change: c.hash().0,
                signature: sig_for(c)?,
                via: Vec::new(),
            })
        })
        .collect();
    SyncMessage {
        message: msg.encode(),
        signatures,
        changes: doc.get_changes(&[]).len() as u64,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_changes_over_a_real_connection_are_rejected_and_nothing_is_stored() {
    use automerge::transaction::Transactable;
    let (ada, ben, _chioma) = family().await;
    let node = ada.node().await;
    let ben_node = ben.node().await;
    let ben_key = ben.key();
    let ada_key = ada.key();
    let stranger = DeviceKey::from_seed([77; 32]);
    let base = ben.home.open(&ben.id(), LockMode::Shared).unwrap();
    let honest_sigs = base.replica().signatures().clone();
    // A change by `author` (actor = author key), signed by `signer`.
    let forge = |author: &DeviceKey, signer: &DeviceKey, tamper: bool| -> SyncMessage {
        let tamper_at = tamper;
        let mut doc = base.replica().doc().clone();
        let mut actor = author.device_id().as_bytes().to_vec();
        actor.extend_from_slice(&[7; 8]);
        doc.set_actor(automerge::ActorId::from(actor));
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "title", "Taken over").unwrap();
        let (h, _) = tx.commit();
        let forged_hash = h.unwrap();
        message_with(&doc, forged_hash, tamper_at, |c| {
            if c.hash() == forged_hash {
                Some(signer.sign_change(&c.hash()).to_bytes().to_vec())
            } else {
                honest_sigs.get(&c.hash()).map(|s| s.to_bytes().to_vec())
            }
        })
    };
    let cases = [
        (
            "signed by another member's key",
            forge(&ada_key, &ben_key, false),
        ),
        ("non-member author", forge(&stranger, &stranger, false)),
        ("tampered bytes", forge(&ben_key, &ben_key, true)),
        ("signature moved from another change", {
            let mut m = forge(&ben_key, &ben_key, false);
            let n = m.signatures.len();
            m.signatures[n - 1] = m.signatures[0].clone();
            m
        }),
    ];
    let heads = ada.heads();
    for (what, msg) in cases {
        let mut sync = PeerSync::new();
        let r = session::dial(
            &ben_node.endpoint,
            addr_for(&node.device(), &node.addrs(), None),
            Dial {
                alliance: ada.id(),
                join: None,
                hand_over: None,
                live: false,
                my_addrs: vec![],
                target: &mut Forger(msg),
                sync: &mut sync,
                fresh: None,
                events: None,
                progress: None,
            },
        )
        .await;
        assert!(r.is_err(), "{what}: accepted");
        assert_eq!(ada.heads(), heads, "{what}: something was stored");
        assert_eq!(ada.view().title, "The Okafor family");
    }
    // The process is alive and honest peers still sync.
    drop(base);
    ben.edit(|r, w, e| {
        r.add_need(w, e, "honest need").unwrap();
    });
    sync_once_with(&ben_node, &ada).await;
    assert!(ada.view().needs.iter().any(|n| n.text == "honest need"));
    ben_node.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sessions_carry_an_edit_to_a_connected_peer() {
    let (ada, ben, _chioma) = family().await;
    sync_pair(&ada, &ben).await;
    let mut na = ada.node().await;
    let nb = ben.node().await;
    introduce(&nb, &na);
    introduce(&na, &nb);
    sync_once_with(&nb, &ada).await;
    let mut nb = nb;
    for node in [&mut na, &mut nb] {
        let shared = node.listener.alliances()[0].clone();
        node.keep_live(shared);
    }
    // An edit made on Ben's device by another command, straight into the store: Ben's node
    // notices it on disk and pushes it over the live session.
    ben.edit(|r, w, e| {
        r.add_need(w, e, "live need").unwrap();
    });
    let mut arrived = false;
    for _ in 0..800 {
        if ada.view().needs.iter().any(|n| n.text == "live need") {
            arrived = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(arrived, "the edit never reached the connected peer");
    na.shutdown().await;
    nb.shutdown().await;
}

/// Two devices that know each other only through a relay: iroh's own relay server, on loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_that_know_each_other_only_through_a_relay_join_and_sync() {
    let (relay_url, config, server) = loopback_relay().await;
    let ada = Dev::new(1, "Ada");
    ada.found("Far apart");
    ada.edit(|r, w, e| {
        r.add_need(w, e, "calls on Sundays").unwrap();
    });
    let na = Node::start(
        ada.key(),
        &config,
        vec![ada.shared()],
        Box::new(SeededEntropy::new(1)),
        now,
    )
    .await
    .unwrap();
    assert!(
        na.wait_for_relay(Duration::from_secs(20)).await,
        "no relay connection"
    );
    // The ticket names Ada's device and the relay only: no direct address.
    let open = ada.home.open(&ada.id(), LockMode::Exclusive).unwrap();
    add_invite(&open, Invite::new(&[41; 32], "member", now(), 3600)).unwrap();
    drop(open);
    let ticket = InviteTicket {
        alliance: ada.id().0.0,
        inviter: addr_for(&na.device(), &[], Some(relay_url.as_str())),
        secret: [41; 32],
    };
    assert_eq!(ticket.inviter.ip_addrs().count(), 0);
    let ben = Dev::new(2, "Ben");
    let nb0 = Node::start(
        ben.key(),
        &config,
        vec![],
        Box::new(SeededEntropy::new(2)),
        now,
    )
    .await
    .unwrap();
    let (target, report, _) = join(&nb0.endpoint, &ticket, "Ben", vec![]).await.unwrap();
    nb0.shutdown().await;
    assert!(report.received >= 2);
    save_join(&ben.home, &target, &na.device(), &[], now()).unwrap();
    // Ben's address book knows Ada only through the relay.
    {
        let open = ben.home.open(&ben.id(), LockMode::Exclusive).unwrap();
        open.update_peer_book(|book| {
            *book = alliance::core::peers::PeerBook::default();
            book.learn(&na.device().to_hex(), &[], Some(relay_url.to_string()));
        })
        .unwrap();
    }
    ben.edit(|r, w, e| {
        r.add_need(w, e, "letters by post").unwrap();
    });
    let nb = Node::start(
        ben.key(),
        &config,
        vec![ben.shared()],
        Box::new(SeededEntropy::new(2)),
        now,
    )
    .await
    .unwrap();
    let sb = nb.listener.alliances()[0].clone();
    for o in nb.sync_once(&sb, None).await.unwrap() {
        o.result.unwrap();
    }
    assert_eq!(ada.view(), ben.view());
    assert!(ada.view().needs.iter().any(|n| n.text == "letters by post"));
    nb.shutdown().await;
    na.shutdown().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_changes_are_verified_like_synced_ones_and_a_forged_push_ends_the_session() {
    use alliance::net::wire::{Frame, read_frame, write_frame};
    use automerge::transaction::Transactable;
    let (ada, ben, _chioma) = family().await;
    sync_pair(&ada, &ben).await;
    let node = ada.node().await;
    let ben_node = ben.node().await;
    let push = crate::kit::net::push_each_signed;
    // An honest push: Ben's new need arrives at Ada's store without a sync round.
    let before = ben.heads();
    ben.edit(|r, w, e| {
        r.add_need(w, e, "pushed need").unwrap();
    });
    let honest: Vec<(Vec<u8>, Vec<u8>)> = {
        let open = ben.home.open(&ben.id(), LockMode::Shared).unwrap();
        open.replica()
            .changes_since(&before)
            .iter()
            .map(|c| {
                (
                    c.raw_bytes().to_vec(),
                    c.signature().unwrap().to_bytes().to_vec(),
                )
            })
            .collect()
    };
    let (mut send, mut recv) = raw_live_session(&ben_node, &node, ada.id()).await;
    write_frame(&mut send, &push(&honest)).await.unwrap();
    let mut arrived = false;
    for _ in 0..200 {
        if ada.view().needs.iter().any(|n| n.text == "pushed need") {
            arrived = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(arrived, "the honest push was applied and stored");
    // A forged push: a change under Ada's actor, signed with Ben's key.
    let heads = ada.heads();
    let forged = {
        let open = ben.home.open(&ben.id(), LockMode::Shared).unwrap();
        let mut doc = open.replica().doc().clone();
        let mut actor = ada.key().device_id().as_bytes().to_vec();
        actor.extend_from_slice(&[7; 8]);
        doc.set_actor(automerge::ActorId::from(actor));
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "title", "Taken over").unwrap();
        let (h, _) = tx.commit();
        let c = automerge::ReadDoc::get_change_by_hash(&doc, &h.unwrap()).unwrap();
        (
            c.raw_bytes().to_vec(),
            ben.key().sign_change(&c.hash()).to_bytes().to_vec(),
        )
    };
    write_frame(&mut send, &push(&[forged])).await.unwrap();
    let rejected = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match read_frame(&mut recv).await {
                Ok(Frame::Rejected { reason }) => return Some(reason),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    })
    .await
    .expect("Ada answers");
    assert!(
        rejected.is_some_and(|r| r.contains("signature")),
        "the forged push is refused with a reason"
    );
    assert_eq!(ada.heads(), heads, "nothing of the forged push is stored");
    assert_eq!(ada.view().title, "The Okafor family");
    // Ada's device is still up for honest peers.
    honest_need_arrives(&ben, &ben_node, &ada, &node, "after the forgery").await;
    ben_node.shutdown().await;
    node.shutdown().await;
}

/// Two devices that met once find each other again by key alone after one of them moved (here:
/// restarted on a new port, so the address the other knows is dead): the moved device publishes
/// where it can be reached (its relay) to the lookup service, and the other looks it up there.
/// iroh's relay server and iroh's address-lookup test servers (pkarr relay and DNS), all on
/// 127.0.0.1. Without the lookup, the same dial finds nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_that_met_once_find_each_other_again_by_key_after_one_moved() {
    let (_relay_url, relay_config, relay_server) = loopback_relay().await;
    let origin = "dns.alliance.test".to_string();
    let lookup_server = iroh::test_utils::DnsPkarrServer::run_with_origin(origin.clone())
        .await
        .unwrap();
    let config = NetConfig {
        lookup: Lookup::Custom(lookup_server.pkarr_url().clone()),
        lookup_dns: Some(LookupDns {
            origin,
            resolver: lookup_server.dns_resolver(),
        }),
        ..relay_config.clone()
    };
    let start = |dev: &Dev, config: NetConfig| {
        let (key, shared, seed) = (dev.key(), dev.shared(), dev.seed[0] as u64);
        async move {
            Node::start(
                key,
                &config,
                vec![shared],
                Box::new(SeededEntropy::new(seed)),
                now,
            )
            .await
            .unwrap()
        }
    };
    // They meet: Ben joins with a ticket that carries Ada's direct address.
    let ada = Dev::new(1, "Ada");
    ada.found("Apart and together");
    let na = start(&ada, config.clone()).await;
    let ben = Dev::new(2, "Ben");
    ben.join(&ada.invite(&na, [43; 32], 3600)).await.unwrap();
    let old_addrs = na.addrs();
    assert!(
        na.wait_for_relay(Duration::from_secs(20)).await,
        "no relay connection"
    );
    // Ada's device has published where it can be reached.
    let ada_id = iroh::PublicKey::from_bytes(ada.key().device_id().as_bytes()).unwrap();
    lookup_server
        .on_endpoint(&ada_id, Duration::from_secs(20))
        .await
        .unwrap();
    na.shutdown().await;

    // Ada moves: her device comes back on another port, with an edit made meanwhile.
    ada.edit(|r, w, e| {
        r.add_need(w, e, "a call from the train").unwrap();
    });
    let na = start(&ada, config.clone()).await;
    assert!(
        na.wait_for_relay(Duration::from_secs(20)).await,
        "no relay connection"
    );
    assert!(
        na.addrs().iter().all(|a| !old_addrs.contains(a)),
        "the same port again"
    );
    // All Ben's device knows of Ada's is the address she had: no relay, nothing current.
    let book = ben.shared().peer_book().unwrap();
    let known = &book.peers[&ada.key().device_id().to_hex()];
    assert_eq!(known.relay, None);
    assert!(!known.addrs.is_empty());
    assert!(
        known.addrs.iter().all(|a| old_addrs.contains(a)),
        "{known:?}"
    );

    // Without the lookup (relays alone), Ada's device cannot be found by its key.
    let nb = start(&ben, relay_config).await;
    let outcomes = nb.sync_once(&ben.shared(), None).await.unwrap();
    assert!(
        matches!(outcomes[0].result, Err(NetError::Unreachable { .. })),
        "{outcomes:?}"
    );
    nb.shutdown().await;
    assert!(!ben.has_need("a call from the train"));

    // With it, Ben's device looks Ada's up by key, reaches it through its relay and syncs.
    let nb = start(&ben, config).await;
    for o in nb.sync_once(&ben.shared(), None).await.unwrap() {
        o.result.unwrap();
    }
    assert!(ben.has_need("a call from the train"));
    assert_eq!(ada.view(), ben.view());
    // And Ben's address book now holds where Ada's device is now.
    let book = ben.shared().peer_book().unwrap();
    let known = &book.peers[&ada.key().device_id().to_hex()];
    assert!(
        na.addrs().iter().any(|a| known.addrs.contains(a)),
        "{known:?}"
    );
    nb.shutdown().await;
    na.shutdown().await;
    drop(relay_server);
}
