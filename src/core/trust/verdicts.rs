//! Verdicts of earlier checks, so the review commands need not verify the same change twice.
//!
//! `log`, `history`, `blame`, `diff` and `status` name a change's author only when the change
//! verifies: its signature is valid under its author, and the author was a member device as of
//! the change's dependencies. Both facts depend only on the change's bytes (which its hash
//! fixes, with its whole past) and on its signature. A verdict is kept as a tag over exactly
//! those: `SHA-256(key || hash || signature)`, cut to 16 bytes, where the key is derived from
//! this device's secret key. So:
//!
//! - tampering with a stored change gives it another hash, and tampering with a stored
//!   signature another tag: either way there is no verdict for it, and it is checked again;
//! - adding a tag for a forged change takes this device's secret key;
//! - `verify` never reads the verdicts: it stays a full check of every change.
//!
//! Only passing verdicts are kept (a failing change is rare and is checked again, which also
//! gives the reason). The store keeps them as a local cache beside the history index. No I/O.

use std::collections::HashSet;

use automerge::ChangeHash;
use ed25519_dalek::Signature;
use sha2::{Digest, Sha256};

/// Derives the verdicts' key from a device's secret seed (domain-separated, so it is never
/// the signing key itself).
pub fn key_from_seed(seed: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(crate::constants::VERDICT_KEY_DOMAIN);
    h.update(seed);
    h.finalize().into()
}

type Tag = [u8; 16];

/// The changes known to verify, each bound to its hash and signature. Made with
/// [`Verdicts::default`] it holds what this process checked, in memory only (under a fixed key:
/// it is never saved); [`Verdicts::keyed`] is the set the store keeps.
#[derive(Debug, Clone, Default)]
pub struct Verdicts {
    key: [u8; 32],
    kept: bool,
    tags: HashSet<Tag>,
    added: usize,
}

const MAGIC: &[u8; 8] = b"ALLVRD01";

impl Verdicts {
    /// An empty set under `key` (see [`key_from_seed`]).
    pub fn keyed(key: [u8; 32]) -> Verdicts {
        Verdicts {
            key,
            kept: true,
            ..Verdicts::default()
        }
    }

    /// Whether this set is under this device's key, to be saved (see [`Verdicts::keyed`]).
    pub fn kept(&self) -> bool {
        self.kept
    }

    /// The set saved by [`Verdicts::to_bytes`]; empty when the bytes are not such a file (a
    /// cache: damaged means checked again).
    pub fn from_bytes(key: [u8; 32], bytes: &[u8]) -> Verdicts {
        let mut v = Verdicts::keyed(key);
        if let Some(body) = bytes.strip_prefix(MAGIC.as_slice())
            && body.len() % 16 == 0
        {
            v.tags = body
                .chunks_exact(16)
                .map(|c| c.try_into().expect("16 bytes"))
                .collect();
        }
        v
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAGIC.len() + 16 * self.tags.len());
        out.extend_from_slice(MAGIC);
        let mut tags: Vec<&Tag> = self.tags.iter().collect();
        tags.sort_unstable();
        for t in tags {
            out.extend_from_slice(t);
        }
        out
    }

    fn tag(&self, hash: &ChangeHash, signature: &Signature) -> Tag {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(hash.0);
        h.update(signature.to_bytes());
        let full: [u8; 32] = h.finalize().into();
        full[..16].try_into().expect("16 bytes")
    }

    /// Whether an earlier check found this change, with this very signature, to verify.
    pub fn holds(&self, hash: &ChangeHash, signature: &Signature) -> bool {
        self.tags.contains(&self.tag(hash, signature))
    }

    /// Records that the change verified with this signature.
    pub fn record(&mut self, hash: &ChangeHash, signature: &Signature) {
        if self.tags.insert(self.tag(hash, signature)) {
            self.added += 1;
        }
    }

    /// How many verdicts were recorded since this set was made or loaded.
    pub fn added(&self) -> usize {
        self.added
    }

    pub fn len(&self) -> usize {
        self.tags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_is_bound_to_the_hash_the_signature_and_the_key() {
        let (h, other_h) = (ChangeHash([1; 32]), ChangeHash([2; 32]));
        let (s, other_s) = (
            Signature::from_bytes(&[3; 64]),
            Signature::from_bytes(&[4; 64]),
        );
        let mut v = Verdicts::keyed(key_from_seed(&[9; 32]));
        v.record(&h, &s);
        assert!(v.holds(&h, &s));
        assert!(!v.holds(&other_h, &s), "another change");
        assert!(!v.holds(&h, &other_s), "another signature");
        let saved = v.to_bytes();
        assert!(Verdicts::from_bytes(key_from_seed(&[9; 32]), &saved).holds(&h, &s));
        assert!(
            !Verdicts::from_bytes(key_from_seed(&[8; 32]), &saved).holds(&h, &s),
            "another device's key"
        );
        assert!(Verdicts::from_bytes(key_from_seed(&[9; 32]), &saved[..20]).is_empty());
        let mut in_memory = Verdicts::default();
        in_memory.record(&h, &s);
        assert!(in_memory.holds(&h, &s) && !in_memory.kept());
        assert!(
            !Verdicts::from_bytes(key_from_seed(&[9; 32]), &in_memory.to_bytes()).holds(&h, &s),
            "an in-memory set means nothing under a device's key"
        );
    }
}
