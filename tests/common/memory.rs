//! Helpers for tests of the core in memory, where devices exchange changes by hand.

use alliance::core::{Replica, SignedChange, Unverified};

/// Everything `from` holds, as bytes that crossed a wire: untrusted until verified.
pub fn wire(from: &Replica) -> Vec<SignedChange<Unverified>> {
    let (changes, unsigned) = from.changes_since(&[]);
    assert!(unsigned.is_empty());
    changes
        .iter()
        .map(|c| {
            SignedChange::from_bytes(c.raw_bytes().to_vec(), &c.signature().to_bytes()).unwrap()
        })
        .collect()
}

use alliance::core::sync::PeerSync;
use alliance::core::{DeviceKey, SeededEntropy, Timestamp, Writer};
use alliance::proto::sim::{Outcome, one_shot};

/// 2026-11-24 10:00:00 UTC, the clock of in-memory devices.
pub const T0: i64 = 1_795_514_400;

/// One one-shot sync session between two replicas, run by the protocol's own session state
/// machine over the simulated wire, with fresh sync states, until neither side has anything to
/// say. Returns the changes each side sent (a_sent, b_sent).
pub fn sync(a: &mut Replica, b: &mut Replica) -> (usize, usize) {
    let run = one_shot(
        (device_key(100).device_id(), a, &mut PeerSync::new()),
        (device_key(101).device_id(), b, &mut PeerSync::new()),
        None,
    );
    assert_eq!(run.outcome, Outcome::Done, "sync did not settle");
    (run.reports[0].sent, run.reports[1].sent)
}

/// A device in memory: its key, its actor tag and its replica.
pub struct Dev {
    pub key: DeviceKey,
    pub tag: [u8; 8],
    pub replica: Replica,
}

impl Dev {
    /// The writer of this device at `T0 + t`.
    pub fn writer(&self, t: i64) -> Writer<'_> {
        Writer {
            key: &self.key,
            actor_tag: self.tag,
            now: Timestamp(T0 + t),
        }
    }

    /// Runs one edit as this device.
    pub fn edit<R>(&mut self, t: i64, f: impl FnOnce(&mut Replica, &Writer<'_>) -> R) -> R {
        let w = Writer {
            key: &self.key,
            actor_tag: self.tag,
            now: Timestamp(T0 + t),
        };
        f(&mut self.replica, &w)
    }
}

/// The key of in-memory device `i`.
pub fn device_key(i: usize) -> DeviceKey {
    DeviceKey::from_seed([i as u8 + 1; 32])
}

/// `n` devices of one alliance "Team": device 0 founds it as P0 and adds P1..P(n-1), each with
/// its device; then every other device receives the founder's whole history.
pub fn family(n: usize) -> Vec<Dev> {
    let keys: Vec<DeviceKey> = (0..n).map(device_key).collect();
    let mut rng = SeededEntropy::new(1);
    let w0 = Writer {
        key: &keys[0],
        actor_tag: [1; 8],
        now: Timestamp(T0),
    };
    let (mut founder, _, _) = Replica::create(&w0, &mut rng, "Team", "P0", "lead").unwrap();
    for (i, k) in keys.iter().enumerate().skip(1) {
        founder
            .add_member(
                &w0,
                &mut rng,
                &format!("P{i}"),
                "member",
                Some(k.device_id()),
            )
            .unwrap();
    }
    keys.into_iter()
        .enumerate()
        .map(|(i, key)| {
            let mut replica = Replica::empty(founder.id());
            if i == 0 {
                replica = founder.clone();
            } else {
                sync(&mut founder.clone(), &mut replica);
            }
            Dev {
                key,
                tag: [i as u8 + 1; 8],
                replica,
            }
        })
        .collect()
}

/// An alliance that grew by invites: device 0 founds it as P0; device `i` (1..=admitted_by.len())
/// is then admitted as person P`i` by device `admitted_by[i - 1]` (which must have joined
/// already) and joins right away by syncing with it, so each device starts out knowing only
/// the members its admitter knew.
pub fn family_tree(admitted_by: &[usize]) -> Vec<Dev> {
    let mut rng = SeededEntropy::new(1);
    let key0 = device_key(0);
    let w0 = Writer {
        key: &key0,
        actor_tag: [1; 8],
        now: Timestamp(T0),
    };
    let (founder, _, _) = Replica::create(&w0, &mut rng, "Team", "P0", "lead").unwrap();
    let mut devs = vec![Dev {
        key: key0,
        tag: [1; 8],
        replica: founder,
    }];
    for (j, &by) in admitted_by.iter().enumerate() {
        let i = j + 1;
        assert!(by < i, "device {i} is admitted by a device that has joined");
        let key = device_key(i);
        let id = key.device_id();
        devs[by]
            .edit(i as i64, |r, w| {
                r.add_member(w, &mut rng, &format!("P{i}"), "member", Some(id))
            })
            .unwrap();
        let mut replica = Replica::empty(devs[by].replica.id());
        sync(&mut devs[by].replica, &mut replica);
        devs.push(Dev {
            key,
            tag: [i as u8 + 1; 8],
            replica,
        });
    }
    devs
}
