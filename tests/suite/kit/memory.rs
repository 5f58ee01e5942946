//! Helpers for tests of the core in memory, where devices exchange changes by hand.

use alliance::core::sync::PeerSync;
use alliance::core::{
    DeviceKey, Replica, SeededEntropy, SignedChange, Timestamp, Unverified, Writer,
};
use alliance::proto::sim::{Outcome, one_shot};

/// Everything `from` holds, as bytes that crossed a wire: untrusted until verified.
pub fn wire(from: &Replica) -> Vec<SignedChange<Unverified>> {
    from.for_sending(from.changes_since(&[]))
        .iter()
        .map(|c| c.to_unverified())
        .collect()
}

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

/// The people of the in-memory families, in the order they join.
pub const NAMES: [&str; 8] = ["Ada", "Ben", "Cy", "Dee", "Eve", "Fay", "Gus", "Hal"];

/// The clock of in-memory devices: the kit's one pinned time.
pub const T0: i64 = super::NOW;

/// A device in memory: its key, its actor tag, its replica and its seeded randomness.
pub struct Dev {
    pub key: DeviceKey,
    pub tag: [u8; 8],
    pub replica: Replica,
    pub entropy: SeededEntropy,
}

impl Dev {
    /// In-memory device `i` (key [`device_key`]`(i)`) holding `replica`.
    pub fn new(i: usize, replica: Replica) -> Dev {
        Dev {
            key: device_key(i),
            tag: [i as u8 + 1; 8],
            replica,
            entropy: SeededEntropy::new(1000 + i as u64),
        }
    }

    /// In-memory device `i` before it holds any alliance (its replica is empty).
    pub fn unjoined(i: usize) -> Dev {
        Dev::new(i, Replica::empty(genesis_placeholder()))
    }

    /// The writer of this device at `T0 + t`.
    pub fn writer(&self, t: i64) -> Writer<'_> {
        Writer {
            key: &self.key,
            actor_tag: self.tag,
            now: Timestamp(T0 + t),
        }
    }

    /// This device's actor ID.
    pub fn actor(&self) -> automerge::ActorId {
        self.writer(0).actor()
    }

    /// Runs one edit as this device at `T0 + t`.
    pub fn edit<R>(&mut self, t: i64, f: impl FnOnce(&mut Replica, &Writer<'_>) -> R) -> R {
        self.act(t, |r, w, _| f(r, w))
    }

    /// Runs one edit as this device at `T0 + t`, with its randomness.
    pub fn act<R>(
        &mut self,
        t: i64,
        f: impl FnOnce(&mut Replica, &Writer<'_>, &mut SeededEntropy) -> R,
    ) -> R {
        let w = Writer {
            key: &self.key,
            actor_tag: self.tag,
            now: Timestamp(T0 + t),
        };
        f(&mut self.replica, &w, &mut self.entropy)
    }

    /// This device receives everything `from` holds (as a joining device does).
    pub fn receive_all(&mut self, from: &Replica) {
        self.replica.receive(wire(from)).unwrap();
    }
}

/// The key of in-memory device `i`.
pub fn device_key(i: usize) -> DeviceKey {
    DeviceKey::from_seed([i as u8 + 1; 32])
}

/// Device 0 founds an alliance titled `title` as Ada (a parent); the other devices of `roles`
/// are then added, person [`NAMES`]`[i]` with role `roles[i]` and device `i`, by Ada. Only
/// device 0 holds the alliance; the others hold an empty replica of it (they have not synced).
pub fn founded(title: &str, roles: &[&str]) -> Vec<Dev> {
    let mut ada = Dev::unjoined(0);
    let (founder, _, _) = {
        let w = ada.writer(0);
        Replica::create(&w, &mut SeededEntropy::new(1), title, NAMES[0], roles[0]).unwrap()
    };
    ada.replica = founder;
    let id = ada.replica.id();
    let mut devs = vec![ada];
    for (i, role) in roles.iter().enumerate().skip(1) {
        let device = device_key(i).device_id();
        devs[0]
            .act(i as i64, |r, w, e| {
                r.add_member(w, e, NAMES[i], role, Some(device))
            })
            .unwrap();
        devs.push(Dev::new(i, Replica::empty(id)));
    }
    devs
}

/// The ID an empty replica of no alliance carries (no change hashes to it).
fn genesis_placeholder() -> alliance::core::AllianceId {
    alliance::core::AllianceId(automerge::ChangeHash([0; 32]))
}

/// `n` devices of one alliance "Team": device 0 founds it as Ada and adds the next people of
/// [`NAMES`], each with their device; then every other device receives the founder's whole
/// history, as a joining device does.
pub fn family(n: usize) -> Vec<Dev> {
    let roles: Vec<&str> = (0..n)
        .map(|i| if i == 0 { "lead" } else { "member" })
        .collect();
    let mut devs = founded("Team", &roles);
    let mut founder = devs[0].replica.clone();
    for d in devs.iter_mut().skip(1) {
        sync(&mut founder, &mut d.replica);
    }
    devs
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
    let (founder, _, _) = Replica::create(&w0, &mut rng, "Team", NAMES[0], "lead").unwrap();
    let mut devs = vec![Dev::new(0, founder)];
    for (j, &by) in admitted_by.iter().enumerate() {
        let i = j + 1;
        assert!(by < i, "device {i} is admitted by a device that has joined");
        let key = device_key(i);
        let id = key.device_id();
        let added = devs[by]
            .edit(i as i64, |r, w| {
                r.add_member(w, &mut rng, NAMES[i], "member", Some(id))
            })
            .unwrap();
        // Whoever admits someone later must be an admin (docs/schema.md).
        if admitted_by.contains(&i) {
            let member = added.id.clone().expect("a new member's ID");
            devs[by]
                .edit(i as i64, |r, w| r.set_admin(w, &member, true))
                .unwrap();
        }
        let mut replica = Replica::empty(devs[by].replica.id());
        sync(&mut devs[by].replica, &mut replica);
        devs.push(Dev::new(i, replica));
    }
    devs
}

/// A change as a modified member client makes it: whatever operations `f` writes, on this
/// device's replica as it is, signed with the device's real key (so its signature and its
/// author are genuine; only the rules can refuse it).
pub fn forged(
    dev: &Dev,
    t: i64,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &automerge::Automerge),
) -> SignedChange<Unverified> {
    forge(dev, &dev.replica.heads(), dev.actor(), t, f)
}

/// [`forged`], made on the document as it was at `heads` (a backdated change), under a fresh
/// actor of the same device (as a fork of the document is edited: `Replica::edit_vision_since`).
pub fn forged_at(
    dev: &Dev,
    heads: &[automerge::ChangeHash],
    t: i64,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &automerge::Automerge),
) -> SignedChange<Unverified> {
    let mut tag = [0xfe; 8];
    tag[..8].copy_from_slice(&(t as u64 ^ 0xfefe_fefe_0000_0000).to_le_bytes());
    let mut actor = dev.key.device_id().as_bytes().to_vec();
    actor.extend_from_slice(&tag);
    forge(dev, heads, automerge::ActorId::from(actor), t, f)
}

fn forge(
    dev: &Dev,
    heads: &[automerge::ChangeHash],
    actor: automerge::ActorId,
    t: i64,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &automerge::Automerge),
) -> SignedChange<Unverified> {
    super::forge(dev.replica.doc(), heads, actor, &dev.key, T0 + t, f)
}
