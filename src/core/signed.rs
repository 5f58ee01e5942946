//! Signed changes and the trust boundary.
//!
//! Bytes that come from outside this process (a bundle file, later a peer) are a
//! [`SignedChange<Unverified>`]. Only [`SignedChange::verify`] turns one into a
//! [`SignedChange<Verified>`], and only verified changes can be applied to a
//! [`Replica`](crate::core::Replica) or written to the store.
//!
//! What `verify` checks, with no document at hand:
//! - the bytes parse as an Automerge change (parsing is guarded: a panic inside Automerge is
//!   turned into an error),
//! - the change's actor ID starts with a valid ed25519 public key (its author),
//! - the signature verifies (`verify_strict`) under that key over
//!   `SIGNATURE_DOMAIN || change_hash`, where the hash is recomputed from the bytes.
//!
//! A batch from a peer goes through [`verify_batch`] instead: the same checks, but each author's
//! older changes in the batch are vouched for by the signature on a newer one (see
//! [`vouch`](crate::core::vouch)).
//!
//! Membership ("was the author a member device at that point of the history?") needs the
//! document, so the replica checks it when it applies a batch.

use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::{ActorId, Change, ChangeHash};
use ed25519_dalek::Signature;

use crate::core::identity::{DeviceId, DeviceKey};
use crate::core::vouch::{Node, causal_order, signatures_to_check};
use crate::protocol::{ACTOR_ID_LEN, MAX_CHANGE_BYTES, SIGNATURE_LEN};

/// Marker: not yet verified. Everything from outside starts here.
#[derive(Debug, Clone, Copy)]
pub struct Unverified;

/// Marker: signature and author binding checked.
#[derive(Debug, Clone, Copy)]
pub struct Verified;

/// An Automerge change with the ed25519 signature of its author.
#[derive(Debug, Clone)]
pub struct SignedChange<S = Unverified> {
    change: Change,
    signature: Signature,
    _state: PhantomData<S>,
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("change is {0} bytes, more than the limit of {MAX_CHANGE_BYTES}")]
    TooLarge(usize),
    #[error("change bytes are not a valid Automerge change: {0}")]
    Malformed(String),
    #[error("signature must be {SIGNATURE_LEN} bytes")]
    BadSignatureLength,
    #[error("change {0}: its actor ID does not name an ed25519 device key")]
    BadAuthor(String),
    #[error("change {hash}: signature does not verify under author {author}")]
    BadSignature { hash: String, author: String },
}

impl SignedChange<Unverified> {
    /// Parses change bytes and a signature that came from outside. Nothing is trusted yet.
    pub fn from_bytes(bytes: Vec<u8>, signature: &[u8]) -> Result<Self, ChangeError> {
        if bytes.len() > MAX_CHANGE_BYTES {
            return Err(ChangeError::TooLarge(bytes.len()));
        }
        let signature =
            Signature::from_slice(signature).map_err(|_| ChangeError::BadSignatureLength)?;
        // Automerge can panic on malformed-but-checksummed input; never let that take us down.
        let change = catch_unwind(AssertUnwindSafe(|| Change::from_bytes(bytes)))
            .map_err(|_| ChangeError::Malformed("automerge panicked while parsing".into()))?
            .map_err(|e| ChangeError::Malformed(e.to_string()))?;
        Ok(SignedChange {
            change,
            signature,
            _state: PhantomData,
        })
    }

    /// Checks the author binding and the signature. See the module docs.
    pub fn verify(self) -> Result<SignedChange<Verified>, ChangeError> {
        let hash = self.change.hash();
        let author = author_of(&self.change)?;
        if !author.verify_change(&hash, &self.signature) {
            return Err(ChangeError::BadSignature {
                hash: hash.to_string(),
                author: author.short(),
            });
        }
        Ok(SignedChange {
            change: self.change,
            signature: self.signature,
            _state: PhantomData,
        })
    }
}

/// Verifies a batch of changes from outside and returns them in causal order (every change
/// after the changes of the batch it depends on).
///
/// Authorship is established for every change, but not every signature is checked: each
/// author's newest changes in the batch are checked with `verify_strict`, and their signatures
/// vouch for that author's older changes of the batch, which are their ancestors (see
/// [`vouch`](crate::core::vouch)). Any failing signature rejects the whole batch. The batch
/// must not hold the same change twice.
pub fn verify_batch(
    batch: Vec<SignedChange<Unverified>>,
) -> Result<Vec<SignedChange<Verified>>, ChangeError> {
    let mut memo = Authors::default();
    let authors = batch
        .iter()
        .map(|c| {
            memo.of(c.change.actor_id())
                .ok_or_else(|| ChangeError::BadAuthor(c.hash().to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let deps: Vec<&[ChangeHash]> = batch.iter().map(|c| c.change.deps()).collect();
    let nodes: Vec<Node<'_>> = batch
        .iter()
        .zip(&authors)
        .zip(&deps)
        .map(|((c, author), deps)| Node {
            hash: c.hash(),
            author: *author,
            deps,
        })
        .collect();
    let order = causal_order(&nodes).ok_or_else(|| {
        ChangeError::Malformed(
            "the batch holds a change twice or its dependencies form a cycle".into(),
        )
    })?;
    for i in signatures_to_check(&nodes) {
        let c = &batch[i];
        if !authors[i].verify_change(&c.hash(), &c.signature) {
            return Err(ChangeError::BadSignature {
                hash: c.hash().to_string(),
                author: authors[i].short(),
            });
        }
    }
    let mut slots: Vec<Option<SignedChange<Unverified>>> = batch.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .filter_map(|i| slots[i].take())
        .map(|c| SignedChange {
            change: c.change,
            signature: c.signature,
            _state: PhantomData,
        })
        .collect())
}

impl SignedChange<Verified> {
    /// Signs a change this device just made. The change's author must be this device.
    pub(crate) fn sign_local(change: Change, key: &DeviceKey) -> Self {
        debug_assert_eq!(author_of(&change).ok(), Some(key.device_id()));
        let signature = key.sign_change(&change.hash());
        SignedChange {
            change,
            signature,
            _state: PhantomData,
        }
    }

    /// Re-labels a change read back from this device's own store, which only ever holds changes
    /// that were verified before they were written (and whose records are checksummed).
    /// `alliance verify` re-checks them all.
    pub(crate) fn from_trusted_store(change: Change, signature: Signature) -> Self {
        SignedChange {
            change,
            signature,
            _state: PhantomData,
        }
    }

    /// The device that made (and signed) this change.
    pub fn author(&self) -> DeviceId {
        author_of(&self.change).expect("verified changes have a valid author")
    }

    pub(crate) fn into_change(self) -> Change {
        self.change
    }
}

impl<S> SignedChange<S> {
    pub fn hash(&self) -> ChangeHash {
        self.change.hash()
    }

    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    pub fn change(&self) -> &Change {
        &self.change
    }

    /// The change's bytes as stored and sent (uncompressed chunk; the hash is over these).
    pub fn raw_bytes(&self) -> &[u8] {
        self.change.raw_bytes()
    }
}

/// The device key a change names as its author: the first 32 bytes of its actor ID.
///
/// Every alliance actor ID is `device key (32 bytes) || actor tag (8 bytes)`. The actor ID is in
/// every change's header, so it is covered by the change hash and therefore by the signature:
/// a signature cannot be moved to a change of another author, and every change can be checked
/// on its own, without the rest of the document. (Automerge's `Author` footer is only written on
/// an actor's first change, so it cannot serve that purpose.)
pub fn author_of(change: &Change) -> Result<DeviceId, ChangeError> {
    author_of_actor(change.actor_id())
        .ok_or_else(|| ChangeError::BadAuthor(change.hash().to_string()))
}

/// The authors of many changes, each actor's key decoded once (a batch has thousands of
/// changes and a few actors, and decoding an ed25519 point is not free).
#[derive(Default)]
pub struct Authors(std::collections::HashMap<ActorId, Option<DeviceId>>);

impl Authors {
    pub fn of(&mut self, actor: &ActorId) -> Option<DeviceId> {
        if let Some(known) = self.0.get(actor) {
            return *known;
        }
        let author = author_of_actor(actor);
        self.0.insert(actor.clone(), author);
        author
    }
}

/// The device key an actor ID names: its first 32 bytes, when it is an alliance actor ID.
pub fn author_of_actor(actor: &ActorId) -> Option<DeviceId> {
    let actor = actor.to_bytes();
    if actor.len() != ACTOR_ID_LEN {
        return None;
    }
    DeviceId::from_bytes(&actor[..crate::protocol::DEVICE_KEY_LEN]).ok()
}
