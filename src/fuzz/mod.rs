//! Fuzz targets: one function per target, each taking arbitrary bytes and driving the real
//! public API the way bytes from outside reach it. Used by the cargo-fuzz crate in `fuzz/` and
//! replayed on stable by the unit tests of `fuzz::regressions`. Not part of the supported API.
//!
//! Every function must return normally for every input: Automerge may panic on malformed input,
//! but the library catches that (`core::guard::guarded`, `SignedChange::from_bytes`), so a
//! panic that escapes one of these functions is a bug in alliance (a missing guard, or a
//! round trip that does not hold). The functions therefore never catch panics of the library.
//!
//! Where the input is an Automerge chunk, the function first fixes the chunk's checksum (and,
//! for a change, signs its hash with a member's device key): without that, nearly every mutated
//! input would be refused at the checksum or the signature, and the fuzzer would never reach
//! Automerge's parser and apply, which is where malformed input does damage.
//!
//! Each target returns whether the input was *accepted* (parsed, applied, loaded), which the
//! regression tests use to check that the seed inputs ([`seeds`]) still reach the deep paths.
//!
//! One file per target: [`ticket()`], [`wire_frame()`], [`session_frames()`],
//! [`received_changes()`], [`received_document()`], [`store_load()`]; their seed inputs in
//! [`seeds()`].

mod received_changes;
mod received_document;
mod seeds;
mod session_frames;
mod store_load;
mod ticket;
mod wire_frame;

use std::sync::OnceLock;

use crate::core::index::ChangeIndex;
use crate::core::{
    DeviceId, DeviceKey, Replica, SeededEntropy, SignedChange, Timestamp, Verified, Writer,
};

pub use crate::core::raw::{CHANGE, CHUNK_MAGIC, COMPRESSED_CHANGE, DOCUMENT};

const NOW: i64 = 1_795_514_400;
/// The invite secret of the fixed alliance's one open invite.
pub const OPEN_INVITE_SECRET: [u8; 32] = [7; 32];

/// The fixed alliance every target works on: two member devices (Ada founded it, Ben was
/// added), a few edits, and one more change of each device that is not in [`Fixture::base`].
pub struct Fixture {
    pub ada: DeviceKey,
    pub ben: DeviceKey,
    /// A device that is not a member.
    pub eve: DeviceKey,
    /// The alliance as both devices hold it.
    pub base: Replica,
    /// A change of Ada's on top of `base` (not in it).
    pub next: SignedChange<Verified>,
    /// A change of Ben's on top of `base` and `next`.
    pub after_next: SignedChange<Verified>,
}

impl Fixture {
    /// `base` with `next` and `after_next` received, as a peer would send them.
    pub fn with_both(&self) -> Replica {
        let mut r = self.base.clone();
        r.receive(vec![
            self.next.to_unverified(),
            self.after_next.to_unverified(),
        ])
        .expect("honest changes");
        r
    }
}

impl Fixture {
    fn key_for(&self, author: &[u8]) -> Option<&DeviceKey> {
        [&self.ada, &self.ben, &self.eve]
            .into_iter()
            .find(|k| author.starts_with(k.device_id().as_bytes()))
    }

    /// The member key whose public key appears first in `bytes` (the change's actor ID, when
    /// the mutation left it alone); Ada's otherwise.
    fn signer_in(&self, bytes: &[u8]) -> &DeviceKey {
        let (a, b) = (self.ada.device_id(), self.ben.device_id());
        let at = |k: &DeviceId| {
            bytes
                .windows(32)
                .position(|w| w == k.as_bytes())
                .unwrap_or(usize::MAX)
        };
        if at(&b) < at(&a) {
            &self.ben
        } else {
            &self.ada
        }
    }
}

/// The fixed alliance, built once (deterministic: same keys, clock and randomness every time,
/// so its ID and changes are the same in every process).
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ada = DeviceKey::from_seed([1; 32]);
        let ben = DeviceKey::from_seed([2; 32]);
        let eve = DeviceKey::from_seed([6; 32]);
        let wa = |t: i64| Writer {
            key: &ada,
            actor_tag: [1; 8],
            now: Timestamp(NOW + t),
        };
        let wb = |t: i64| Writer {
            key: &ben,
            actor_tag: [2; 8],
            now: Timestamp(NOW + t),
        };
        let mut rng = SeededEntropy::new(7);
        let (mut base, _, _) =
            Replica::create(&wa(0), &mut rng, "The fuzzed family", "Ada", "parent").unwrap();
        base.add_member(&wa(1), &mut rng, "Ben", "teen", Some(ben.device_id()))
            .unwrap();
        base.set_vision(&wa(2), "We listen first.").unwrap();
        base.add_need(&wb(3), &mut rng, "time alone after school")
            .unwrap();
        base.set_vision(&wb(4), "Together, we listen first.")
            .unwrap();
        let mut more = base.clone();
        let next = more
            .add_need(&wa(5), &mut rng, "quiet mornings")
            .unwrap()
            .change
            .unwrap();
        let after_next = more
            .set_vision(&wb(6), "Together, we always listen first.")
            .unwrap()
            .change
            .unwrap();
        Fixture {
            ada,
            ben,
            eve,
            base,
            next,
            after_next,
        }
    })
}

pub use crate::core::raw::{chunk, chunk_body, chunk_hash};

/// Everything a device does with a replica after it accepted something: read it, index it,
/// review it, save it. A document Automerge accepted must not make any of these panic.
fn use_replica(r: &Replica) {
    let view = r.view();
    let index = ChangeIndex::build(r);
    let _ = r.conflicts(Some(&index));
    let _ = r.blame_vision(&index);
    let _ = r.diff(&index, &[]);
    if let Some(member) = view.members.first() {
        let _ = r.history(&index, &member.id);
        let _ = r.status(&index, &member.id, None, Timestamp(NOW));
    }
    let _ = r.log();
    let _ = r.verify_history();
    let _ = r.save();
    let _ = r.changes_since(&[]);
}

pub use received_changes::received_changes;
pub use received_document::received_document;
pub use seeds::seeds;
pub use session_frames::session_frames;
pub use store_load::store_load;
pub use ticket::ticket;
pub use wire_frame::wire_frame;

/// A fuzz target: returns whether the input was accepted; must never panic.
pub type Target = fn(&[u8]) -> bool;

/// The target functions by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("ticket", ticket),
    ("wire_frame", wire_frame),
    ("session_frames", session_frames),
    ("received_changes", received_changes),
    ("received_document", received_document),
    ("store_load", store_load),
];

#[cfg(test)]
mod regressions;
