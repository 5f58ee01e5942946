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
//! A batch from a peer goes through [`authenticate_batch`] instead: the same checks, but each author's
//! older changes in the batch are vouched for by the signature on a newer one (see
//! [`vouch`](crate::core::trust::vouch)).
//!
//! Membership ("was the author a member device at that point of the history?") needs the
//! document, so the replica checks it when it applies a batch.

use std::fmt;

use automerge::{ActorId, Change, ChangeHash};
use ed25519_dalek::Signature;

use crate::constants::{ACTOR_ID_LEN, MAX_CHANGE_BYTES, MAX_CHANGE_OPS, SIGNATURE_LEN};
use crate::core::trust::guard::guarded;
use crate::core::trust::identity::{DeviceId, DeviceKey};
use crate::core::trust::raw::{RawChange, RawError};
use crate::core::trust::vouch::{Node, causal_order, signatures_to_check};

/// Marker: not yet verified. Everything from outside starts here, held as its raw bytes and
/// the header read from them ([`RawChange`]); Automerge has not parsed it.
#[derive(Debug, Clone, Copy)]
pub struct Unverified;

/// Marker: signature and author binding checked, then decoded by Automerge.
#[derive(Debug, Clone, Copy)]
pub struct Verified;

/// What a change is held as at each stage of the trust boundary.
pub trait Stage: sealed::Sealed {
    type Body: Clone + fmt::Debug;
    #[doc(hidden)]
    fn hash(body: &Self::Body) -> ChangeHash;
    #[doc(hidden)]
    fn bytes(body: &Self::Body) -> &[u8];
    #[doc(hidden)]
    fn deps(body: &Self::Body) -> &[ChangeHash];
    #[doc(hidden)]
    fn actor(body: &Self::Body) -> &ActorId;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Unverified {}
    impl Sealed for super::Verified {}
}

impl Stage for Unverified {
    type Body = RawChange;
    fn hash(body: &RawChange) -> ChangeHash {
        body.hash()
    }
    fn bytes(body: &RawChange) -> &[u8] {
        body.bytes()
    }
    fn deps(body: &RawChange) -> &[ChangeHash] {
        body.deps()
    }
    fn actor(body: &RawChange) -> &ActorId {
        body.actor()
    }
}

impl Stage for Verified {
    type Body = Change;
    fn hash(body: &Change) -> ChangeHash {
        body.hash()
    }
    fn bytes(body: &Change) -> &[u8] {
        body.raw_bytes()
    }
    fn deps(body: &Change) -> &[ChangeHash] {
        body.deps()
    }
    fn actor(body: &Change) -> &ActorId {
        body.actor_id()
    }
}

/// An Automerge change with the ed25519 signature of its author, when it travels or is kept
/// with one. A change without a signature of its own is vouched for by a later change of the
/// same author that has it in its past (see [`vouch`](crate::core::trust::vouch)): only each author's
/// newest changes of a batch carry a signature on the wire.
pub struct SignedChange<S: Stage = Unverified> {
    body: S::Body,
    /// What vouches for it itself, when it travels or is kept with something: its own
    /// signature, or a [`Proof`] (a signature on a later change of its author that is not in
    /// the history). `None`: a later change of its author in the same batch or history does.
    voucher: Option<Voucher>,
}

/// A signature on a later change of a change's author that is not in the history (a removal
/// withdrew it, see `replica::removal`), with the changes from the vouched change up to the
/// signed one: `via[0]` depends on the vouched change, each next one on the one before, and
/// the signature is over the hash of the last. The changes of `via` are only read (their
/// headers, hashes recomputed), never applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub via: Vec<Vec<u8>>,
    pub signature: Signature,
}

/// What vouches for one change itself: a signature on it, or a [`Proof`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Voucher {
    Signature(Signature),
    Proof(Proof),
}

impl Proof {
    /// The hash the signature is over, when `via` leads from change `hash` to a change of
    /// `author`; `None` when the chain is broken or ends with another author's change.
    pub fn signed_hash(&self, hash: &ChangeHash, author: &DeviceId) -> Option<ChangeHash> {
        let mut last = *hash;
        let mut last_author = None;
        for bytes in &self.via {
            let link = RawChange::parse(bytes.clone()).ok()?;
            if !link.deps().contains(&last) {
                return None;
            }
            last = link.hash();
            last_author = author_of_actor(link.actor());
        }
        (last_author.as_ref() == Some(author)).then_some(last)
    }

    /// Whether the proof vouches for change `hash` of `author`: the chain holds and the
    /// signature verifies.
    pub fn vouches(&self, hash: &ChangeHash, author: &DeviceId) -> bool {
        self.signed_hash(hash, author)
            .is_some_and(|signed| author.verify_change(&signed, &self.signature))
    }
}

impl<S: Stage> Clone for SignedChange<S> {
    fn clone(&self) -> Self {
        SignedChange {
            body: self.body.clone(),
            voucher: self.voucher.clone(),
        }
    }
}

impl<S: Stage> fmt::Debug for SignedChange<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedChange")
            .field("hash", &self.hash())
            .field("bytes", &self.raw_bytes().len())
            .finish()
    }
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
    /// A change that no later change of its author in the batch has in its past came without
    /// a signature: nothing vouches for its author.
    #[error(
        "change {hash} is the newest of author {author} in what was sent and carries no signature; nothing vouches for it"
    )]
    Unvouched { hash: String, author: String },
    #[error("a signature was sent for change {0}, which was not sent")]
    StraySignature(String),
    #[error("change {hash} holds {ops} operations, more than the limit of {MAX_CHANGE_OPS}")]
    TooManyOps { hash: String, ops: usize },
    /// Automerge panicked on the bytes: they are malformed in a way its checks miss. The
    /// sender is hostile or broken; quarantine it.
    #[error("change {0} made Automerge panic while decoding it")]
    Panicked(String),
}

impl From<RawError> for ChangeError {
    fn from(e: RawError) -> Self {
        match e {
            RawError::TooLarge(n) => ChangeError::TooLarge(n),
            other => ChangeError::Malformed(other.to_string()),
        }
    }
}

impl SignedChange<Unverified> {
    /// Reads change bytes and a signature that came from outside: the header is parsed by
    /// [`RawChange::parse`] and the hash recomputed; Automerge has not seen the bytes.
    pub fn from_bytes(bytes: Vec<u8>, signature: &[u8]) -> Result<Self, ChangeError> {
        Self::from_parts(bytes, Some(signature))
    }

    /// [`SignedChange::from_bytes`] for a change that may have come without a signature of
    /// its own (one a later change of its author vouches for).
    pub fn from_parts(bytes: Vec<u8>, signature: Option<&[u8]>) -> Result<Self, ChangeError> {
        let signature = signature
            .map(|s| Signature::from_slice(s).map_err(|_| ChangeError::BadSignatureLength))
            .transpose()?;
        Ok(SignedChange {
            body: RawChange::parse(bytes)?,
            voucher: signature.map(Voucher::Signature),
        })
    }

    /// A change Automerge rebuilt out of a whole document it loaded (see
    /// [`RawChange::of_parsed`]), with nothing yet to vouch for it.
    pub fn from_parsed(change: Change) -> Result<Self, ChangeError> {
        Ok(SignedChange {
            body: RawChange::of_parsed(change)?,
            voucher: None,
        })
    }

    /// The header read from the bytes.
    pub fn raw(&self) -> &RawChange {
        &self.body
    }

    /// Checks the author binding and the change's own signature on the raw bytes, then lets
    /// Automerge decode the change (guarded). See the module docs. A change without a
    /// signature of its own is [`ChangeError::Unvouched`] here: alone, nothing vouches for it.
    pub fn verify(self) -> Result<SignedChange<Verified>, ChangeError> {
        let hash = self.hash();
        let author = author_of_actor(self.body.actor())
            .ok_or_else(|| ChangeError::BadAuthor(hash.to_string()))?;
        let Some(signature) = self.signature() else {
            return Err(ChangeError::Unvouched {
                hash: hash.to_string(),
                author: author.short(),
            });
        };
        if !author.verify_change(&hash, signature) {
            return Err(ChangeError::BadSignature {
                hash: hash.to_string(),
                author: author.short(),
            });
        }
        self.decode()
    }

    /// Automerge's decoding of a change whose signature was checked: guarded against panics,
    /// checked to read the same header as [`RawChange`], and held to [`MAX_CHANGE_OPS`].
    fn decode(self) -> Result<SignedChange<Verified>, ChangeError> {
        let mut raw = self.body;
        let hash = raw.hash();
        let change = match raw.take_parsed() {
            // Automerge's parse of these bytes already (a change of a document it loaded).
            Some(change) => change,
            None => guarded(|| Change::from_bytes(raw.bytes().to_vec()))
                .ok_or_else(|| ChangeError::Panicked(hash.to_string()))?
                .map_err(|e| ChangeError::Malformed(e.to_string()))?,
        };
        if !raw.matches(&change) {
            return Err(ChangeError::Malformed(format!(
                "change {hash}: Automerge reads a different header"
            )));
        }
        within_change_ops(&hash, change.len() as u64)?;
        Ok(SignedChange {
            body: change,
            voucher: self.voucher,
        })
    }
}

/// A batch whose authorship is established (signatures checked, see [`authenticate_batch`]),
/// in causal order, not yet decoded by Automerge. Membership can be checked on it
/// ([`Authenticated::claims`]) before [`Authenticated::decode`] hands it to Automerge.
#[derive(Debug)]
pub struct Authenticated {
    changes: Vec<SignedChange<Unverified>>,
    authors: Vec<DeviceId>,
}

/// One change's claim to be authorised: its hash, its dependencies and its author.
pub type Claim<'a> = (ChangeHash, &'a [ChangeHash], DeviceId);

impl Authenticated {
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn changes(&self) -> &[SignedChange<Unverified>] {
        &self.changes
    }

    pub fn claims(&self) -> Vec<Claim<'_>> {
        self.changes
            .iter()
            .zip(&self.authors)
            .map(|(c, a)| (c.hash(), c.deps(), *a))
            .collect()
    }

    /// Decodes every change (see [`SignedChange::verify`]), refusing the batch when one fails.
    pub fn decode(self) -> Result<Vec<SignedChange<Verified>>, ChangeError> {
        self.changes.into_iter().map(|c| c.decode()).collect()
    }
}

/// Establishes the authorship of a batch of changes from outside and puts it in causal order
/// (every change after the changes of the batch it depends on), all on the raw bytes.
///
/// Authorship is established for every change, but not every signature is checked: each
/// author's newest changes in the batch are checked with `verify_strict`, and their signatures
/// vouch for that author's older changes of the batch, which are their ancestors (see
/// [`vouch`](crate::core::trust::vouch)). Any failing signature rejects the whole batch. The batch
/// must not hold the same change twice.
pub fn authenticate_batch(
    batch: Vec<SignedChange<Unverified>>,
) -> Result<Authenticated, ChangeError> {
    let nodes = authored(batch.iter().map(|c| (c.hash(), c.actor_id(), c.deps())))?;
    let order = causal_order(&nodes).ok_or_else(|| {
        ChangeError::Malformed(
            "the batch holds a change twice or its dependencies form a cycle".into(),
        )
    })?;
    let checked = check_vouching_signatures(&nodes, |i| batch[i].voucher.as_ref())?;
    let authors: Vec<DeviceId> = nodes.iter().map(|n| n.author).collect();
    drop(nodes);
    let mut batch = batch;
    keep_only_checked(&mut batch, &checked, |c| c.voucher = None);
    let mut slots: Vec<Option<(SignedChange<Unverified>, DeviceId)>> =
        batch.into_iter().zip(authors).map(Some).collect();
    let (changes, authors) = order.into_iter().filter_map(|i| slots[i].take()).unzip();
    Ok(Authenticated { changes, authors })
}

/// The first half of establishing authorship, for a batch ([`authenticate_batch`]) and for a
/// whole history (`Replica::receive_document`): every change, given as (hash, actor ID,
/// dependencies), with the device its actor ID names as author (each actor decoded once).
/// [`ChangeError::BadAuthor`] for the first change whose actor ID names no device key.
pub(crate) fn authored<'a>(
    changes: impl Iterator<Item = (ChangeHash, &'a ActorId, &'a [ChangeHash])>,
) -> Result<Vec<Node<'a>>, ChangeError> {
    let mut memo = Authors::default();
    changes
        .map(|(hash, actor, deps)| {
            let author = memo
                .of(actor)
                .ok_or_else(|| ChangeError::BadAuthor(hash.to_string()))?;
            Ok(Node { hash, author, deps })
        })
        .collect()
}

/// The second half: the signatures that vouch for the rest (each author's newest changes, see
/// [`signatures_to_check`]) must be there and verify under their author. `voucher(i)` is the
/// signature or proof sent with `nodes[i]`, if any. Any missing or failing one refuses the whole batch.
/// Returns the positions whose signatures were checked: only those may be kept (a signature
/// sent on an older change is redundant, and it was not checked).
pub(crate) fn check_vouching_signatures<'s>(
    nodes: &[Node<'_>],
    voucher: impl Fn(usize) -> Option<&'s Voucher>,
) -> Result<Vec<usize>, ChangeError> {
    let checked = signatures_to_check(nodes);
    for &i in &checked {
        let n = &nodes[i];
        let valid = match voucher(i) {
            Some(Voucher::Signature(sig)) => n.author.verify_change(&n.hash, sig),
            Some(Voucher::Proof(proof)) => proof.vouches(&n.hash, &n.author),
            None => {
                return Err(ChangeError::Unvouched {
                    hash: n.hash.to_string(),
                    author: n.author.short(),
                });
            }
        };
        if !valid {
            return Err(ChangeError::BadSignature {
                hash: n.hash.to_string(),
                author: n.author.short(),
            });
        }
    }
    Ok(checked)
}

/// Calls `drop_signature` on every item but the checked ones (`checked`, ascending positions
/// of `items`).
pub(crate) fn keep_only_checked<T>(
    items: &mut [T],
    checked: &[usize],
    drop_signature: impl Fn(&mut T),
) {
    let mut next = checked.iter().peekable();
    for (i, item) in items.iter_mut().enumerate() {
        if next.peek() == Some(&&i) {
            next.next();
        } else {
            drop_signature(item);
        }
    }
}

/// Holds one change to [`MAX_CHANGE_OPS`], whether Automerge decoded it alone or loaded it in a
/// whole document.
pub(crate) fn within_change_ops(hash: &ChangeHash, ops: u64) -> Result<(), ChangeError> {
    if ops > MAX_CHANGE_OPS as u64 {
        return Err(ChangeError::TooManyOps {
            hash: hash.to_string(),
            ops: ops as usize,
        });
    }
    Ok(())
}

impl SignedChange<Verified> {
    /// Signs a change this device just made. The change's author must be this device.
    pub(crate) fn sign_local(change: Change, key: &DeviceKey) -> Self {
        debug_assert_eq!(author_of(&change).ok(), Some(key.device_id()));
        let signature = key.sign_change(&change.hash());
        SignedChange {
            body: change,
            voucher: Some(Voucher::Signature(signature)),
        }
    }

    /// Re-labels a change read back from this device's own store, which only ever holds changes
    /// that were verified before they were written (and whose records are checksummed).
    /// `alliance verify` re-checks them all.
    pub(crate) fn from_trusted_store(change: Change, voucher: Option<Voucher>) -> Self {
        SignedChange {
            body: change,
            voucher,
        }
    }

    /// The device that made (and signed) this change.
    pub fn author(&self) -> DeviceId {
        author_of(&self.body).expect("verified changes have a valid author")
    }

    pub fn change(&self) -> &Change {
        &self.body
    }

    /// The change as a peer receives it: its bytes and its own signature (if it has one),
    /// untrusted again.
    pub fn to_unverified(&self) -> SignedChange<Unverified> {
        SignedChange {
            body: RawChange::parse(self.body.raw_bytes().to_vec())
                .expect("a change Automerge decoded has a readable header"),
            voucher: self.voucher.clone(),
        }
    }

    pub(crate) fn into_change(self) -> Change {
        self.body
    }
}

impl<S: Stage> SignedChange<S> {
    /// The change hash (recomputed from the bytes): what the author signed.
    pub fn hash(&self) -> ChangeHash {
        S::hash(&self.body)
    }

    /// What vouches for it itself, when it has something (see the type's docs).
    pub fn voucher(&self) -> Option<&Voucher> {
        self.voucher.as_ref()
    }

    /// The change's own signature, when it has one.
    pub fn signature(&self) -> Option<&Signature> {
        match &self.voucher {
            Some(Voucher::Signature(sig)) => Some(sig),
            _ => None,
        }
    }

    /// The proof that vouches for it, when it is kept or travels with one instead of a
    /// signature (see [`Proof`]).
    pub fn proof(&self) -> Option<&Proof> {
        match &self.voucher {
            Some(Voucher::Proof(proof)) => Some(proof),
            _ => None,
        }
    }

    /// The same change vouched for by `voucher` itself (or, with `None`, by nothing of its own).
    pub fn with_voucher(mut self, voucher: Option<Voucher>) -> Self {
        self.set_voucher(voucher);
        self
    }

    /// [`SignedChange::with_voucher`] in place.
    pub(crate) fn set_voucher(&mut self, voucher: Option<Voucher>) {
        self.voucher = voucher;
    }

    /// The same change without its signature: how it travels when a later change of its
    /// author in the same batch vouches for it.
    pub fn without_signature(self) -> Self {
        self.with_voucher(None)
    }

    pub fn deps(&self) -> &[ChangeHash] {
        S::deps(&self.body)
    }

    pub fn actor_id(&self) -> &ActorId {
        S::actor(&self.body)
    }

    /// The change's bytes as stored and sent (uncompressed chunk; the hash is over these).
    pub fn raw_bytes(&self) -> &[u8] {
        S::bytes(&self.body)
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
    DeviceId::from_bytes(&actor[..crate::constants::DEVICE_KEY_LEN]).ok()
}
