//! Initial sync of a whole alliance to a fresh device (issue 5, measure 1): alliance's signed
//! sync, in memory and over iroh on 127.0.0.1, against (a) Automerge's own sync of the same
//! document in memory, (b) the limit: (a) plus batch-verifying every signature on every core,
//! and (c) samod syncing the same document, unsigned, over iroh on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use alliance::core::identity::failing_signatures;
use alliance::core::sync::PeerSync;
use alliance::core::{AllianceId, DeviceId, DeviceKey, Replica, SeededEntropy, Timestamp};
use alliance::net::endpoint::{NetConfig, addr_for, bind};
use alliance::net::node::Node;
use alliance::net::session::{self, Dial};
use alliance::store::shared::SharedAlliance;
use alliance::store::{Home, LockMode};
use automerge::sync::State;
use automerge::{Automerge, ChangeHash};
use ed25519_dalek::Signature;

use crate::measure::{time, time_and_peak};
use crate::pair::{automerge_exchange, exchange, runtime};
use crate::{Row, ms, workload};

/// alliance's sync to a fresh device, in memory. Returns the bytes exchanged.
fn signed_sync(from: &Replica) -> (Replica, usize) {
    let mut a = from.clone();
    let mut b = Replica::empty(from.id());
    let bytes = exchange(&mut a, &mut PeerSync::new(), &mut b, &mut PeerSync::new());
    assert_eq!(a.heads(), b.heads(), "the fresh device caught up");
    (b, bytes)
}

/// Automerge's own sync of the same document, unsigned and unverified.
fn automerge_sync(from: &Automerge) -> usize {
    let mut a = from.clone();
    let mut b = Automerge::new();
    let bytes = automerge_exchange(&mut a, &mut State::new(), &mut b, &mut State::new());
    assert_eq!(a.get_heads(), b.get_heads());
    bytes
}

/// Batch-verifies every signature, split over `threads` threads.
fn verify_all(items: &[(DeviceId, ChangeHash, Signature)], threads: usize) -> usize {
    let per = items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|chunk| s.spawn(move || failing_signatures(chunk).len()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

/// A device with the whole alliance in a store on disk, serving it on an iroh endpoint bound to
/// 127.0.0.1 (relays and mDNS off).
pub struct Server {
    pub node: Node,
    pub shared: Arc<SharedAlliance>,
    pub addr: iroh::EndpointAddr,
    pub home: tempfile::TempDir,
}

impl Server {
    /// Stores `replica` in a fresh home as `person`'s device and starts serving it.
    pub async fn start(replica: &Replica, person: &workload::Person, seed: u8) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = Home::new(dir.path());
        home.init("bench", [seed; 32]).expect("identity");
        home.create_alliance_from(replica, Some(person.tag))
            .expect("store");
        let open = home.open(&replica.id(), LockMode::Shared).expect("open");
        let shared = SharedAlliance::new(open);
        let node = Node::start(
            DeviceKey::from_seed([seed; 32]),
            &NetConfig::loopback(),
            vec![shared.clone()],
            Box::new(SeededEntropy::new(seed as u64)),
            || Timestamp(workload::T0),
        )
        .await
        .expect("endpoint on 127.0.0.1");
        let addr = addr_for(&node.device(), &node.addrs(), None);
        Server {
            node,
            shared,
            addr,
            home: dir,
        }
    }
}

/// alliance's initial sync over iroh: a member device with nothing dials `server`, and the
/// session ends when both sides have nothing more to say. Returns the fresh replica.
async fn signed_sync_over_iroh(
    endpoint: &iroh::Endpoint,
    server: &Server,
    id: AllianceId,
) -> Replica {
    let mut target = Replica::empty(id);
    let mut sync = PeerSync::new();
    session::dial(
        endpoint,
        server.addr.clone(),
        Dial {
            alliance: id,
            join: None,
            hand_over: None,
            live: false,
            my_addrs: Vec::new(),
            target: &mut target,
            sync: &mut sync,
            fresh: None,
            events: None,
            progress: None,
        },
    )
    .await
    .expect("initial sync over iroh");
    target
}

pub fn section(sizes: &[usize], runs: usize) -> Vec<Row> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = runtime();
    let mut rows = Vec::new();
    for &n in sizes {
        eprintln!("initial sync of {n} signed changes...");
        let w = workload::load_or_build(n);
        let r = &w.replica;
        let changes = r.len();
        let signed = r.changes_since(&[]);
        let items: Vec<(DeviceId, ChangeHash, Signature)> = signed
            .iter()
            .filter_map(|c| Some((c.author(), c.hash(), *c.signature()?)))
            .collect();
        let baseline_bytes = automerge_sync(r.doc());
        let a = time(runs, || automerge_sync(r.doc()));
        let verify = time(runs, || {
            assert_eq!(verify_all(&items, threads), 0);
        });
        let b = a + verify;
        let (_, ours_bytes) = signed_sync(r);
        let (ours, ours_peak) = time_and_peak(runs, || signed_sync(r));
        // Over iroh: Ada's device serves the alliance from its store; Ben's device, empty,
        // dials it (a reinstalled device; a joining one receives the same way).
        let server = runtime.block_on(Server::start(r, &w.people[0], 1));
        let client = runtime
            .block_on(bind(&w.people[1].key, &NetConfig::loopback()))
            .expect("endpoint on 127.0.0.1");
        // The UDP bytes the fresh device's endpoint sent and received (QUIC included).
        let udp = || {
            let m = &client.metrics().socket;
            m.send_ipv4.get() + m.recv_data_ipv4.get()
        };
        let mut udp_bytes = 0;
        let (iroh_time, iroh_peak) = time_and_peak(runs, || {
            let before = udp();
            let got = runtime.block_on(signed_sync_over_iroh(&client, &server, r.id()));
            udp_bytes = udp() - before;
            assert_eq!(got.heads(), r.heads(), "the fresh device caught up");
        });
        runtime.block_on(async {
            client.close().await;
            let Server { node, .. } = server;
            node.shutdown().await;
        });
        let samod = crate::samod_sync::initial_sync(&r.save(), runs);
        let mut push = |measure: &'static str,
                        d: Duration,
                        peak: Option<f64>,
                        bytes: Option<u64>,
                        note: String| {
            rows.push(Row {
                measure,
                changes,
                millis: ms(d),
                vs_view: d.as_secs_f64() / b.as_secs_f64(),
                peak_mib: peak,
                bytes: bytes.map(|b| b as usize),
                note,
            })
        };
        let automerge_bytes = baseline_bytes as f64;
        push(
            "(a) Automerge sync, in memory",
            a,
            None,
            Some(baseline_bytes as u64),
            format!("unsigned; {baseline_bytes} bytes"),
        );
        push(
            "    batch-verify every signature",
            verify,
            None,
            None,
            format!("{threads} threads"),
        );
        push(
            "(b) limit: (a) + batch verify",
            b,
            None,
            None,
            String::new(),
        );
        push(
            "(c) samod over iroh",
            samod.0,
            None,
            Some(samod.1 as u64),
            format!(
                "unsigned; {} bytes ({:.2}x Automerge's)",
                samod.1,
                samod.1 as f64 / automerge_bytes
            ),
        );
        push(
            "alliance sync, in memory",
            ours,
            Some(ours_peak),
            Some(ours_bytes as u64),
            format!(
                "{ours_bytes} bytes ({:.2}x Automerge's); every change's author established",
                ours_bytes as f64 / automerge_bytes
            ),
        );
        push(
            "alliance sync over iroh",
            iroh_time,
            Some(iroh_peak),
            Some(udp_bytes),
            format!(
                "store to memory; {:.2}x samod, {:.2}x (a); {udp_bytes} bytes of UDP (QUIC included)",
                iroh_time.as_secs_f64() / samod.0.as_secs_f64(),
                iroh_time.as_secs_f64() / a.as_secs_f64()
            ),
        );
    }
    rows
}
