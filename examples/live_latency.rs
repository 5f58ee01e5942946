//! How long a local edit takes to reach a connected device: two devices on 127.0.0.1 with live
//! sessions (as two `alliance serve`s), an edit written to one device's store as any `alliance`
//! command writes it, timed until the other device's store holds it.
//!
//! ## Usage
//! ```sh
//! cargo run --release --example live_latency -- 50
//! ```

use std::time::{Duration, Instant};

use alliance::core::invite::Invite;
use alliance::core::{DeviceKey, Replica, SeededEntropy, Timestamp, Writer};
use alliance::net::endpoint::{NetConfig, addr_for, device_of};
use alliance::net::node::{Node, add_invite, join, save_join};
use alliance::net::ticket::InviteTicket;
use alliance::store::shared::SharedAlliance;
use alliance::store::{Home, LockMode};

fn now() -> Timestamp {
    alliance::system::now()
}

async fn node(home: &Home, seed: u8) -> Node {
    let alliances = match home.alliance_ids().unwrap().first() {
        Some(id) => vec![SharedAlliance::new(
            home.open(id, LockMode::Shared).unwrap(),
        )],
        None => vec![],
    };
    Node::start(
        DeviceKey::from_seed([seed; 32]),
        &NetConfig::loopback(),
        alliances,
        Box::new(SeededEntropy::new(seed as u64)),
        now,
    )
    .await
    .unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let samples: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ha, hb) = (Home::new(da.path()), Home::new(db.path()));
    let ka = DeviceKey::from_seed([1; 32]);
    let w = Writer {
        key: &ka,
        actor_tag: [1; 8],
        now: now(),
    };
    let (replica, _, genesis) =
        Replica::create(&w, &mut SeededEntropy::new(1), "Latency", "Ada", "parent").unwrap();
    let id = replica.id();
    ha.create_alliance(&id, &[genesis], Some([1; 8])).unwrap();
    let mut na = node(&ha, 1).await;
    add_invite(
        &ha.open(&id, LockMode::Exclusive).unwrap(),
        Invite::new(&[7; 32], "member", now(), 60),
    )
    .unwrap();
    let ticket = InviteTicket {
        alliance: id.0.0,
        inviter: addr_for(&na.device(), &na.addrs(), None),
        secret: [7; 32],
    };
    let tmp = node(&hb, 2).await;
    let (target, _, addrs) = join(&tmp.endpoint, &ticket, "Ben", tmp.addrs())
        .await
        .unwrap();
    tmp.shutdown().await;
    save_join(&hb, &target, &device_of(&ticket.inviter.id), &addrs, now()).unwrap();
    let mut nb = node(&hb, 2).await;
    // Ben's device dials Ada's once, so each knows the other's address, then both go live.
    let sb = nb.listener.alliances()[0].clone();
    for o in nb.sync_once(&sb, None).await.unwrap() {
        o.result.unwrap();
    }
    for n in [&mut na, &mut nb] {
        let s = n.listener.alliances()[0].clone();
        n.keep_live(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut e = SeededEntropy::new(3);
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let start = Instant::now();
        {
            let mut open = ha.open(&id, LockMode::Exclusive).unwrap();
            let w = Writer {
                key: &ka,
                actor_tag: [1; 8],
                now: now(),
            };
            let edited = open
                .replica_mut()
                .add_need(&w, &mut e, &format!("need {i}"))
                .unwrap();
            open.persist(&[edited.change.unwrap()]).unwrap();
        }
        loop {
            let n = hb
                .open(&id, LockMode::Shared)
                .unwrap()
                .replica()
                .view()
                .needs
                .len();
            if n > i {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(start.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "live edit, commit on one device -> stored on the other ({} samples, loopback): p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        samples,
        ms(times[samples / 2]),
        ms(times[samples * 9 / 10]),
        ms(times[samples - 1])
    );
    na.shutdown().await;
    nb.shutdown().await;
}
