//! Sync planning between two replicas, with no I/O.
//!
//! alliance uses Automerge's sync protocol (heads, needs and Bloom-filter "haves", so a sync
//! costs about what is new, and a persisted [`PeerSync`] state makes a reconnect cheap) for the
//! *negotiation*, but never lets Automerge apply a peer's changes itself:
//!
//! - Outgoing: the message Automerge generates carries changes as individual change chunks
//!   (format V1, which we enforce); each is sent with its signature, in the same order.
//! - Incoming: the changes are taken out of the message, paired with their signatures, and
//!   go through [`Replica::receive`] (signature, author, membership at that point of the
//!   history; all or nothing). Only then is the message, with its changes stripped, given to
//!   Automerge to update the sync state.
//!
//! A transport moves [`SyncMessage`]s back and forth; see `net` for the one over iroh.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::sync::{self, ChunkList, SyncDoc};
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};

use crate::core::replica::{ReceiveError, Replica};
use crate::core::signed::{SignedChange, Verified};
use crate::protocol::{MAX_BATCH_CHANGES, SIGNATURE_LEN};

/// One sync message on the wire: an Automerge sync message whose changes are V1 change chunks,
/// and the signature of each change, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncMessage {
    pub message: Vec<u8>,
    pub signatures: Vec<Vec<u8>>,
}

/// Why a peer's sync message was refused. Nothing from it was applied.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("peer sent a malformed sync message: {0}")]
    Malformed(String),
    #[error("peer sent {changes} changes with {signatures} signatures")]
    SignatureCount { changes: usize, signatures: usize },
    #[error(transparent)]
    Rejected(#[from] ReceiveError),
}

/// What one received message did.
#[derive(Debug, Default)]
pub struct Applied {
    /// New, verified changes (already in the replica): persist these.
    pub new: Vec<SignedChange<Verified>>,
    pub duplicates: usize,
}

/// The sync state with one peer. Persist it between connections ([`PeerSync::encode`]) so a
/// reconnect costs about what is new.
#[derive(Debug, Default)]
pub struct PeerSync {
    state: sync::State,
    /// Changes sent and received in this session.
    pub sent: usize,
    pub received: usize,
}

impl PeerSync {
    pub fn new() -> Self {
        Self::default()
    }

    /// Restores a persisted state; a state that does not decode starts afresh (it only costs
    /// a longer negotiation).
    pub fn decode(bytes: &[u8]) -> Self {
        let state = catch_unwind(|| sync::State::decode(bytes))
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        PeerSync {
            state,
            ..Default::default()
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        self.state.encode()
    }

    /// The next message for the peer, or `None` when there is nothing to say.
    pub fn generate(&mut self, replica: &Replica) -> Option<SyncMessage> {
        // Never let Automerge switch to V2 (a whole-document chunk): every change must travel
        // on its own, next to its signature.
        self.state.their_capabilities = None;
        let mut msg = replica.doc.generate_sync_message(&mut self.state)?;
        let mut signatures = Vec::with_capacity(msg.changes.len());
        let mut chunks = Vec::with_capacity(msg.changes.len());
        for chunk in msg.changes.iter() {
            let Ok(change) = automerge::Change::from_bytes(chunk.to_vec()) else {
                continue;
            };
            match replica.signatures().get(&change.hash()) {
                Some(sig) => {
                    signatures.push(sig.to_bytes().to_vec());
                    chunks.push(chunk.to_vec());
                }
                // An unsigned change is never sent (it could not be verified anyway).
                None => continue,
            }
        }
        self.sent += chunks.len();
        msg.changes = ChunkList::from(chunks);
        Some(SyncMessage {
            message: msg.encode(),
            signatures,
        })
    }

    /// Verifies and applies a message from the peer. On error nothing was applied and the
    /// sync state is unchanged; the caller should disconnect.
    pub fn receive(
        &mut self,
        replica: &mut Replica,
        incoming: SyncMessage,
    ) -> Result<Applied, SyncError> {
        let mut msg = catch_unwind(AssertUnwindSafe(|| {
            sync::Message::decode(&incoming.message)
        }))
        .map_err(|_| SyncError::Malformed("automerge panicked while decoding".into()))?
        .map_err(|e| SyncError::Malformed(e.to_string()))?;
        let chunks: Vec<Vec<u8>> = msg.changes.iter().map(|c| c.to_vec()).collect();
        if chunks.len() != incoming.signatures.len() {
            return Err(SyncError::SignatureCount {
                changes: chunks.len(),
                signatures: incoming.signatures.len(),
            });
        }
        if chunks.len() > MAX_BATCH_CHANGES {
            return Err(ReceiveError::TooMany(chunks.len()).into());
        }
        let mut applied = Applied::default();
        if !chunks.is_empty() {
            let batch = chunks
                .into_iter()
                .zip(&incoming.signatures)
                .map(|(bytes, sig)| {
                    if sig.len() != SIGNATURE_LEN {
                        return Err(ReceiveError::Change(
                            crate::core::ChangeError::BadSignatureLength,
                        ));
                    }
                    Ok(SignedChange::from_bytes(bytes, sig)?)
                })
                .collect::<Result<Vec<_>, ReceiveError>>()?;
            let received = replica.receive(batch)?;
            applied.duplicates = received.duplicates;
            applied.new = received.new;
        }
        self.received += applied.new.len();
        msg.changes = ChunkList::empty();
        let doc = &mut replica.doc;
        let state = &mut self.state;
        match catch_unwind(AssertUnwindSafe(|| doc.receive_sync_message(state, msg))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(SyncError::Malformed(e.to_string())),
            Err(_) => return Err(SyncError::Malformed("automerge panicked".into())),
        }
        self.state.their_capabilities = None;
        Ok(applied)
    }

    /// Whether the peer is known to have exactly our heads.
    pub fn in_sync(&self, replica: &Replica) -> bool {
        self.state.their_heads.as_deref() == Some(replica.heads().as_slice())
    }
}

/// Signature bytes of a verified change, for callers that build messages by hand.
pub fn signature_bytes(sig: &Signature) -> Vec<u8> {
    sig.to_bytes().to_vec()
}
