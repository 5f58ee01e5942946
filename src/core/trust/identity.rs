//! Device identity: an ed25519 key pair per device.
//!
//! The secret half never leaves the device. The public half is the device's ID: it is the
//! Automerge `Author` of every change the device makes, the key its signatures verify under, and
//! (from the networking layer on) its iroh endpoint ID, since iroh endpoint keys are ed25519 keys
//! of the same 32-byte form.

use std::fmt;
use std::str::FromStr;

use automerge::ChangeHash;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::constants::{DEVICE_KEY_LEN, SIGNATURE_DOMAIN};

/// This device's secret signing key. Not `Debug`, not `Display`, not serialisable: it is only
/// ever written to the device's key file by the store.
pub struct DeviceKey(SigningKey);

impl DeviceKey {
    /// Builds a key from 32 bytes of secret seed (the caller supplies the randomness).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        DeviceKey(SigningKey::from_bytes(&seed))
    }

    /// The 32-byte seed, for the key file. Handle with care.
    pub fn to_seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// This device's public ID.
    pub fn device_id(&self) -> DeviceId {
        DeviceId(self.0.verifying_key())
    }

    /// Signs a change hash under the alliance signature domain.
    pub fn sign_change(&self, hash: &ChangeHash) -> Signature {
        self.0.sign(&signed_message(hash))
    }
}

/// The message a device signs for a change: domain prefix, then the 32-byte change hash.
/// The hash covers the change's bytes, including its dependencies and its `Author` (this
/// device's public key), so the signature vouches for exactly that change by exactly that author.
pub fn signed_message(hash: &ChangeHash) -> Vec<u8> {
    let mut msg = Vec::with_capacity(SIGNATURE_DOMAIN.len() + hash.0.len());
    msg.extend_from_slice(SIGNATURE_DOMAIN);
    msg.extend_from_slice(&hash.0);
    msg
}

/// A device's public key: its identity in the alliance.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceId(VerifyingKey);

impl DeviceId {
    /// Parses 32 raw bytes. Fails for byte strings that are not a valid curve point.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidDeviceId> {
        let arr: [u8; DEVICE_KEY_LEN] = bytes.try_into().map_err(|_| InvalidDeviceId)?;
        VerifyingKey::from_bytes(&arr)
            .map(DeviceId)
            .map_err(|_| InvalidDeviceId)
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; DEVICE_KEY_LEN] {
        self.0.as_bytes()
    }

    /// Lowercase hex of the key: the form stored in documents and shown to people.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// The first 10 hex characters, for tables.
    pub fn short(&self) -> String {
        self.to_hex()[..10].to_string()
    }

    /// Verifies a change signature with `verify_strict` (rejects weak keys and malleable
    /// signatures).
    pub fn verify_change(&self, hash: &ChangeHash, signature: &Signature) -> bool {
        self.0
            .verify_strict(&signed_message(hash), signature)
            .is_ok()
    }
}

/// How many signatures one batch verification covers.
pub const VERIFY_BATCH: usize = 256;

/// Checks many change signatures at once: batch verification of up to [`VERIFY_BATCH`] at a
/// time (about a third of the cost of checking each), and every signature of a batch that
/// fails is checked on its own with `verify_strict`. Returns the positions of the ones that
/// fail. Batch verification is not strict (a list with a weak key is checked strictly
/// throughout), so this is for deciding what to show; accepting a change from outside always
/// goes through [`DeviceId::verify_change`].
pub fn failing_signatures(items: &[(DeviceId, ChangeHash, Signature)]) -> Vec<usize> {
    let mut failing = Vec::new();
    // A weak (small-order) key can "sign" anything under batch verification; such keys are
    // only ever checked strictly (and fail).
    if items.iter().any(|(d, _, _)| d.0.is_weak()) {
        return items
            .iter()
            .enumerate()
            .filter(|(_, (d, h, s))| !d.verify_change(h, s))
            .map(|(i, _)| i)
            .collect();
    }
    for (n, chunk) in items.chunks(VERIFY_BATCH).enumerate() {
        let messages: Vec<Vec<u8>> = chunk.iter().map(|(_, h, _)| signed_message(h)).collect();
        let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let signatures: Vec<Signature> = chunk.iter().map(|(_, _, s)| *s).collect();
        let keys: Vec<VerifyingKey> = chunk.iter().map(|(d, _, _)| d.0).collect();
        if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_err() {
            failing.extend(
                chunk
                    .iter()
                    .enumerate()
                    .filter(|(_, (d, h, s))| !d.verify_change(h, s))
                    .map(|(i, _)| n * VERIFY_BATCH + i),
            );
        }
    }
    failing
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.short())
    }
}

/// A device key that is not 32 bytes of hex or not a valid ed25519 point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a device key: expected 64 hex characters of an ed25519 public key")]
pub struct InvalidDeviceId;

impl FromStr for DeviceId {
    type Err = InvalidDeviceId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s.trim()).map_err(|_| InvalidDeviceId)?;
        DeviceId::from_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_round_trips_through_hex() {
        let key = DeviceKey::from_seed([7; 32]);
        let id = key.device_id();
        assert_eq!(id.to_hex().parse::<DeviceId>().unwrap(), id);
        assert!("zz".parse::<DeviceId>().is_err());
        assert!("00".repeat(31).parse::<DeviceId>().is_err());
    }

    #[test]
    fn signature_is_bound_to_hash_and_key() {
        let key = DeviceKey::from_seed([1; 32]);
        let other = DeviceKey::from_seed([2; 32]);
        let h = ChangeHash([9; 32]);
        let sig = key.sign_change(&h);
        assert!(key.device_id().verify_change(&h, &sig));
        assert!(!key.device_id().verify_change(&ChangeHash([8; 32]), &sig));
        assert!(!other.device_id().verify_change(&h, &sig));
    }

    #[test]
    fn signature_is_domain_separated() {
        // A signature over the bare hash (no domain prefix) must not verify as a change signature.
        let key = DeviceKey::from_seed([3; 32]);
        let h = ChangeHash([5; 32]);
        let bare = key.0.sign(&h.0);
        assert!(!key.device_id().verify_change(&h, &bare));
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;

    #[test]
    fn batch_check_finds_exactly_the_bad_signatures_across_batches() {
        let keys: Vec<DeviceKey> = (0..3u8)
            .map(|i| DeviceKey::from_seed([i + 1; 32]))
            .collect();
        let mut items: Vec<(DeviceId, ChangeHash, Signature)> = (0..300u32)
            .map(|i| {
                let mut h = [0u8; 32];
                h[..4].copy_from_slice(&i.to_le_bytes());
                let hash = ChangeHash(h);
                let key = &keys[i as usize % 3];
                (key.device_id(), hash, key.sign_change(&hash))
            })
            .collect();
        assert!(failing_signatures(&items).is_empty());
        // One signature moved to another change (in the second batch), one signed by the wrong
        // key (in the first).
        items[280].2 = items[281].2;
        items[7].0 = keys[0].device_id();
        items[7].2 = keys[1].sign_change(&items[7].1);
        assert_eq!(failing_signatures(&items), vec![7, 280]);
    }

    #[test]
    fn a_weak_key_cannot_pass_a_batch() {
        // The identity point is a valid, small-order key: under non-strict verification the
        // signature (R = identity, s = 0) "verifies" for any message.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = DeviceId::from_bytes(&identity).unwrap();
        let mut sig = [0u8; 64];
        sig[0] = 1;
        let forged = Signature::from_bytes(&sig);
        let good = DeviceKey::from_seed([9; 32]);
        let hash = ChangeHash([3; 32]);
        let items = vec![
            (good.device_id(), hash, good.sign_change(&hash)),
            (weak, hash, forged),
        ];
        assert_eq!(failing_signatures(&items), vec![1]);
    }
}
