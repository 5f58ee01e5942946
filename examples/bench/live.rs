//! Live edits between two connected devices (issue 5, measure 2): the vision typed a word per
//! signed change on one device, applied on the other, on alliances of growing history.
//!
//! - **CPU per edit, in memory**: one thread runs both devices: commit and sign on one, then
//!   what a live session does with it (push the signed change; verify signature, author and
//!   membership and apply it on the other), against Automerge's sync protocol driven the same
//!   way on the same document, unsigned, and against the floor: the commit plus one bare
//!   `apply_changes` of the change on the other copy. Also alliance driven through the sync
//!   protocol for every edit, as live sessions did before they pushed changes.
//! - **Latency over iroh** (from the start of the commit on one device to the change being
//!   applied and stored on the other): two devices with stores on disk in this process, in a
//!   live session over iroh on 127.0.0.1, against two plain Automerge documents running the
//!   sync protocol live over iroh the same way (no signatures, no stores). CPU per edit over
//!   iroh is the whole process's CPU time (both devices, QUIC, the stores) over the edits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alliance::core::sync::PeerSync;
use alliance::core::{DeviceKey, Timestamp, Writer};
use alliance::net::endpoint::{NetConfig, bind};
use alliance::net::session::{self, Dial};
use alliance::store::LockMode;
use alliance::store::shared::SharedAlliance;
use automerge::sync::{State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT, ReadDoc};
use tokio::io::AsyncReadExt;

use crate::initial_sync::Server;
use crate::measure::{cpu_time, percentile, time_and_peak};
use crate::pair::{automerge_exchange, exchange, runtime};
use crate::{Row, ms, workload};

/// Edits measured per alliance size.
const EDITS: usize = 60;
const WORDS: [&str; 6] = ["we ", "care ", "and ", "listen ", "every ", "day "];

fn vision_len(doc: &Automerge) -> (automerge::ObjId, usize) {
    let (_, text) = doc.get(ROOT, "vision").unwrap().expect("a vision");
    let len = doc.length(&text);
    (text, len)
}

/// Per-edit medians in memory: (alliance, Automerge sync protocol, floor, alliance over the
/// sync protocol).
fn in_memory(w: &workload::Workload) -> (Duration, Duration, Duration, Duration) {
    let p = &w.people[0];
    let writer = |i: usize| Writer {
        key: &p.key,
        actor_tag: p.tag,
        now: Timestamp(workload::T0 + 100_000_000 + i as i64),
    };
    // alliance, as a live session does it: the signed change is pushed as it is made, and the
    // other device verifies it (signature, author, membership) and applies it.
    let (mut a, mut b) = (w.replica.clone(), w.replica.clone());
    let mut ours = Vec::new();
    for i in 0..EDITS {
        let start = Instant::now();
        let at = vision_len(a.doc()).1;
        let edited = a
            .splice_vision(&writer(i), at, 0, WORDS[i % WORDS.len()])
            .expect("edit");
        let change = edited.change.expect("a change");
        let wire = change.to_unverified();
        b.receive(vec![wire]).expect("valid changes are accepted");
        ours.push(start.elapsed());
        assert_eq!(a.heads(), b.heads());
    }
    // alliance over the sync protocol (what live sessions did before pushing changes).
    let (mut a, mut b) = (w.replica.clone(), w.replica.clone());
    let (mut sa, mut sb) = (PeerSync::new(), PeerSync::new());
    exchange(&mut a, &mut sa, &mut b, &mut sb);
    let mut rounds = Vec::new();
    for i in 0..EDITS {
        let start = Instant::now();
        let at = vision_len(a.doc()).1;
        a.splice_vision(&writer(i), at, 0, WORDS[i % WORDS.len()])
            .expect("edit");
        exchange(&mut a, &mut sa, &mut b, &mut sb);
        rounds.push(start.elapsed());
        assert_eq!(a.heads(), b.heads());
    }
    // Automerge's sync protocol on the same document, unsigned.
    let (mut da, mut db) = (w.replica.doc().clone(), w.replica.doc().clone());
    let (mut ta, mut tb) = (State::new(), State::new());
    automerge_exchange(&mut da, &mut ta, &mut db, &mut tb);
    let mut baseline = Vec::new();
    for i in 0..EDITS {
        let start = Instant::now();
        let (text, at) = vision_len(&da);
        let mut tx = da.transaction();
        tx.splice_text(&text, at, 0, WORDS[i % WORDS.len()])
            .unwrap();
        tx.commit();
        automerge_exchange(&mut da, &mut ta, &mut db, &mut tb);
        baseline.push(start.elapsed());
        assert_eq!(da.get_heads(), db.get_heads());
    }
    // The floor: commit, then apply that one change on the other copy.
    let (mut fa, mut fb) = (w.replica.doc().clone(), w.replica.doc().clone());
    let mut floor = Vec::new();
    for i in 0..EDITS {
        let start = Instant::now();
        let (text, at) = vision_len(&fa);
        let mut tx = fa.transaction();
        tx.splice_text(&text, at, 0, WORDS[i % WORDS.len()])
            .unwrap();
        let (hash, _) = tx.commit();
        let change = fa.get_change_by_hash(&hash.unwrap()).unwrap();
        fb.apply_changes([change]).unwrap();
        floor.push(start.elapsed());
    }
    (
        percentile(&mut ours, 50),
        percentile(&mut baseline, 50),
        percentile(&mut floor, 50),
        percentile(&mut rounds, 50),
    )
}

/// Latencies (p50, p99) and CPU per edit of alliance's live session over iroh.
async fn over_iroh(w: &workload::Workload) -> (Duration, Duration, Duration) {
    let a = Server::start(&w.replica, &w.people[0], 1).await;
    let b = Server::start(&w.replica, &w.people[1], 2).await;
    let id = w.replica.id();
    // Ben's device keeps a live session with Ada's.
    let (b_shared, endpoint, addr) = (b.shared.clone(), b.node.endpoint.clone(), a.addr.clone());
    let session = tokio::spawn(async move {
        let mut sync = PeerSync::new();
        let fresh = b_shared.fresh();
        session::dial(
            &endpoint,
            addr,
            Dial {
                alliance: id,
                join: None,
                hand_over: None,
                live: true,
                my_addrs: Vec::new(),
                target: &mut b_shared.as_ref(),
                sync: &mut sync,
                fresh: Some(fresh),
                events: None,
                progress: None,
            },
        )
        .await
    });
    let key = DeviceKey::from_seed([1; 32]);
    let mut applied = b.shared.subscribe();
    let mut latencies = Vec::new();
    let mut cpu = Duration::ZERO;
    for i in 0..EDITS + 5 {
        let writer = Writer {
            key: &key,
            actor_tag: w.people[0].tag,
            now: Timestamp(workload::T0 + 100_000_000 + i as i64),
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (cpu0, start) = (cpu_time(), Instant::now());
        let hash = edit_in_store(&a.shared, &writer, WORDS[i % WORDS.len()]);
        a.shared.notify();
        loop {
            applied.changed().await.expect("device B runs");
            if has(&b.shared, &hash) {
                break;
            }
        }
        // The first edits warm up the connection and the sync states.
        if i >= 5 {
            latencies.push(start.elapsed());
            cpu += cpu_time() - cpu0;
        }
    }
    session.abort();
    a.node.shutdown().await;
    b.node.shutdown().await;
    (
        percentile(&mut latencies, 50),
        percentile(&mut latencies, 99),
        cpu / EDITS as u32,
    )
}

/// One word typed into the vision on a stored alliance, as `alliance` commands do: under the
/// store's write lock, committed, signed and made durable.
fn edit_in_store(
    shared: &Arc<SharedAlliance>,
    writer: &Writer<'_>,
    word: &str,
) -> automerge::ChangeHash {
    shared
        .with(LockMode::Exclusive, |o| {
            let at = vision_len(o.replica().doc()).1;
            let edited = o
                .replica_mut()
                .splice_vision(writer, at, 0, word)
                .expect("edit");
            let change = edited.change.expect("a change");
            o.persist(std::slice::from_ref(&change))?;
            Ok(change.hash())
        })
        .expect("stored edit")
}

fn has(shared: &Arc<SharedAlliance>, hash: &automerge::ChangeHash) -> bool {
    shared
        .with(LockMode::Shared, |o| Ok(o.replica().has(hash)))
        .unwrap_or(false)
}

/// Latencies (p50, p99) of Automerge's sync protocol run live over iroh between two plain
/// documents: every change to a document makes its side send a sync message; every message
/// received is answered.
async fn automerge_over_iroh(w: &workload::Workload) -> (Duration, Duration, Duration) {
    const ALPN: &[u8] = b"bench/automerge-live/1";
    let ka = DeviceKey::from_seed([11; 32]);
    let kb = DeviceKey::from_seed([12; 32]);
    let ea = bind(&ka, &NetConfig::loopback()).await.expect("endpoint");
    ea.set_alpns(vec![ALPN.to_vec()]);
    let eb = bind(&kb, &NetConfig::loopback()).await.expect("endpoint");
    let addr = alliance::net::endpoint::addr_for(
        &ka.device_id(),
        &alliance::net::endpoint::direct_addrs(&ea),
        None,
    );
    let doc_b = Arc::new(tokio::sync::Mutex::new(w.replica.doc().clone()));
    let (applied_tx, mut applied) = tokio::sync::watch::channel(0u64);
    // B: answers every message, reports each change applied.
    let server_doc = doc_b.clone();
    let server = tokio::spawn(async move {
        let conn = ea.accept().await.unwrap().await.unwrap();
        let (mut send, mut recv) = conn.accept_bi().await.unwrap();
        let mut state = State::new();
        loop {
            let Ok(m) = read(&mut recv).await else { return };
            let mut doc = server_doc.lock().await;
            doc.receive_sync_message(&mut state, automerge::sync::Message::decode(&m).unwrap())
                .unwrap();
            applied_tx.send_modify(|n| *n += 1);
            if let Some(reply) = doc.generate_sync_message(&mut state) {
                write(&mut send, &reply.encode()).await;
            }
        }
    });
    let conn = eb.connect(addr, ALPN).await.expect("connect on loopback");
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let mut doc_a = w.replica.doc().clone();
    let mut state = State::new();
    // Warm up: sync until quiet.
    let (tx_msgs, mut rx_msgs) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let reader = tokio::spawn(async move {
        while let Ok(m) = read(&mut recv).await {
            if tx_msgs.send(m).is_err() {
                return;
            }
        }
    });
    let mut latencies = Vec::new();
    let mut cpu = Duration::ZERO;
    for i in 0..EDITS + 5 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        // Answer what arrived meanwhile (B's acknowledgements).
        while let Ok(m) = rx_msgs.try_recv() {
            doc_a
                .receive_sync_message(&mut state, automerge::sync::Message::decode(&m).unwrap())
                .unwrap();
        }
        let (cpu0, start) = (cpu_time(), Instant::now());
        let (text, at) = vision_len(&doc_a);
        let mut tx = doc_a.transaction();
        tx.splice_text(&text, at, 0, WORDS[i % WORDS.len()])
            .unwrap();
        let (hash, _) = tx.commit();
        let hash = hash.unwrap();
        // Drive the protocol until B holds the change.
        loop {
            if let Some(m) = doc_a.generate_sync_message(&mut state) {
                write(&mut send, &m.encode()).await;
            }
            applied.changed().await.unwrap();
            if doc_b.lock().await.get_change_meta_by_hash(&hash).is_some() {
                break;
            }
            if let Some(m) = rx_msgs.recv().await {
                doc_a
                    .receive_sync_message(&mut state, automerge::sync::Message::decode(&m).unwrap())
                    .unwrap();
            }
        }
        if i >= 5 {
            latencies.push(start.elapsed());
            cpu += cpu_time() - cpu0;
        }
    }
    reader.abort();
    server.abort();
    eb.close().await;
    (
        percentile(&mut latencies, 50),
        percentile(&mut latencies, 99),
        cpu / EDITS as u32,
    )
}

async fn write(send: &mut iroh::endpoint::SendStream, body: &[u8]) {
    send.write_all(&(body.len() as u32).to_be_bytes())
        .await
        .unwrap();
    send.write_all(body).await.unwrap();
}

async fn read(recv: &mut iroh::endpoint::RecvStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    AsyncReadExt::read_exact(recv, &mut len).await?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    AsyncReadExt::read_exact(recv, &mut body).await?;
    Ok(body)
}

pub fn section(sizes: &[usize], _runs: usize) -> Vec<Row> {
    let runtime = runtime();
    let mut rows = Vec::new();
    for &n in sizes {
        eprintln!("live edits on an alliance of {n} changes...");
        let w = workload::load_or_build(n);
        let changes = w.replica.len();
        let mut out = None;
        let (_, peak) = time_and_peak(1, || out = Some(in_memory(&w)));
        let (ours, baseline, floor, rounds) = out.expect("measured");
        let (p50, p99, cpu) = runtime.block_on(over_iroh(&w));
        let (am50, am99, am_cpu) = runtime.block_on(automerge_over_iroh(&w));
        let mut push = |measure: &'static str, d: Duration, base: Duration, note: String| {
            rows.push(Row {
                measure,
                changes,
                millis: ms(d),
                vs_view: d.as_secs_f64() / base.as_secs_f64(),
                peak_mib: None,
                bytes: None,
                note,
            })
        };
        push(
            "floor: commit + bare apply",
            floor,
            baseline,
            "in memory, per edit".into(),
        );
        push(
            "Automerge sync protocol, CPU",
            baseline,
            baseline,
            "in memory, per edit, unsigned".into(),
        );
        push(
            "alliance over the sync protocol",
            rounds,
            baseline,
            "in memory, per edit".into(),
        );
        push(
            "alliance live edit (push), CPU",
            ours,
            baseline,
            format!(
                "in memory, per edit; {:.2}x the floor; peak {peak:.1} MiB",
                ours.as_secs_f64() / floor.as_secs_f64()
            ),
        );
        push(
            "Automerge live over iroh, p50",
            am50,
            am50,
            format!("p99 {:.2} ms; CPU {:.2} ms/edit", ms(am99), ms(am_cpu)),
        );
        push(
            "alliance live over iroh, p50",
            p50,
            am50,
            format!(
                "p99 {:.2} ms; CPU {:.2} ms/edit (both devices, stores, QUIC)",
                ms(p99),
                ms(cpu)
            ),
        );
    }
    rows
}
