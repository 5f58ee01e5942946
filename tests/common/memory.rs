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
