//! Sync planning between two replicas, with no I/O.
//!
//! alliance uses Automerge's sync protocol (heads, needs and Bloom-filter "haves", so a sync
//! costs about what is new, and a persisted [`PeerSync`] state makes a reconnect cheap) for the
//! *negotiation*, but never lets Automerge apply a peer's changes itself:
//!
//! - Outgoing: the message Automerge generates carries changes as individual change chunks
//!   (format V1, which we enforce). Beside them travel the signatures that vouch for the rest
//!   ([`Replica::for_sending`]): each author's newest changes in the message, one [`Vouch`]
//!   each (the change's hash and the signature). A peer known to have nothing (its heads are
//!   empty) gets the whole document as one chunk instead (Automerge's V2 message) with the
//!   signatures of each author's newest changes: loading a document costs a fraction of
//!   applying its changes one by one.
//! - Incoming: the changes are taken out of the message, paired with the signatures sent for
//!   them ([`pair`]), and go through [`Replica::receive`] (authorship through the vouching
//!   signatures, membership at that point of the history; all or nothing), or a whole document
//!   through [`Replica::receive_document`].
//!   Only then is the message, with its changes stripped, given to Automerge to update the
//!   sync state.
//!
//! A transport moves [`SyncMessage`]s back and forth; see `net` for the one over iroh.

use automerge::sync::{self, ChunkList, SyncDoc};
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};

use crate::constants::{MAX_BATCH_CHANGES, MAX_FRAME_BYTES, SIGNATURE_LEN};
use crate::core::replica::{Budget, ReceiveError, Replica};
use crate::core::trust::guard::guarded;
use crate::core::trust::signed::{Proof, SignedChange, Unverified, Verified, Voucher};

/// One sync message on the wire: an Automerge sync message whose changes are V1 change chunks,
/// and the signatures that vouch for them (each author's newest changes in the message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncMessage {
    pub message: Vec<u8>,
    pub signatures: Vec<Vouch>,
    /// How many changes the message carries (a whole document: all of its changes), for a
    /// progress display while they are checked. Not trusted for anything else.
    pub changes: u64,
}

/// A signature on the wire: the hash of the change it vouches for, and the signature (64
/// bytes): on that change itself, or, when `via` is not empty, on the last of `via`, later
/// changes of the same author that a removal withdrew (see [`Proof`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vouch {
    pub change: [u8; 32],
    pub signature: Vec<u8>,
    pub via: Vec<Vec<u8>>,
}

impl Vouch {
    fn of<S: crate::core::trust::signed::Stage>(c: &SignedChange<S>) -> Option<Vouch> {
        Some(Vouch::new(&c.hash(), c.voucher()?))
    }

    /// The signature or proof that vouches for change `hash`, as it travels.
    pub fn new(hash: &automerge::ChangeHash, voucher: &Voucher) -> Vouch {
        let (signature, via) = match voucher {
            Voucher::Signature(sig) => (sig, Vec::new()),
            Voucher::Proof(proof) => (&proof.signature, proof.via.clone()),
        };
        Vouch {
            change: hash.0,
            signature: signature.to_bytes().to_vec(),
            via,
        }
    }

    /// The signature, or the proof, this carries; `None` when the signature is not 64 bytes.
    pub fn voucher(&self) -> Option<Voucher> {
        let signature = Signature::from_slice(&self.signature).ok()?;
        Some(if self.via.is_empty() {
            Voucher::Signature(signature)
        } else {
            Voucher::Proof(Proof {
                via: self.via.clone(),
                signature,
            })
        })
    }
}

/// The signatures changes travel with ([`Replica::for_sending`] decides which they are).
pub fn vouches<S: crate::core::trust::signed::Stage>(changes: &[SignedChange<S>]) -> Vec<Vouch> {
    changes.iter().filter_map(Vouch::of).collect()
}

/// The signatures a batch travels with: those of each author's newest changes in it (see
/// [`vouch`](crate::core::trust::vouch)), or `None` when one of those has none here (then the batch
/// must go through [`Replica::for_sending`], which adds the changes up to one that has).
pub fn newest_signatures<S: crate::core::trust::signed::Stage>(
    changes: &[SignedChange<S>],
) -> Option<Vec<Vouch>> {
    let nodes = crate::core::trust::signed::authored(
        changes.iter().map(|c| (c.hash(), c.actor_id(), c.deps())),
    )
    .ok()?;
    crate::core::trust::vouch::signatures_to_check(&nodes)
        .into_iter()
        .map(|i| Vouch::of(&changes[i]))
        .collect()
}

/// Pairs changes from outside with the signatures sent for them. A signature for a change
/// that was not sent, twice for one change, or of the wrong length, refuses them all.
pub fn pair(
    changes: Vec<Vec<u8>>,
    signatures: &[Vouch],
) -> Result<Vec<SignedChange<Unverified>>, crate::core::ChangeError> {
    use crate::core::ChangeError;
    let mut by_hash: std::collections::HashMap<[u8; 32], Voucher> =
        std::collections::HashMap::with_capacity(signatures.len());
    for v in signatures {
        if v.signature.len() != SIGNATURE_LEN {
            return Err(ChangeError::BadSignatureLength);
        }
        let voucher = v.voucher().ok_or(ChangeError::BadSignatureLength)?;
        if by_hash.insert(v.change, voucher).is_some() {
            return Err(ChangeError::Malformed(format!(
                "two signatures were sent for change {}",
                automerge::ChangeHash(v.change)
            )));
        }
    }
    let paired = changes
        .into_iter()
        .map(|bytes| {
            let c = SignedChange::from_parts(bytes, None)?;
            let voucher = by_hash.remove(&c.hash().0);
            Ok(c.with_voucher(voucher))
        })
        .collect::<Result<Vec<_>, ChangeError>>()?;
    if let Some(stray) = by_hash.keys().next() {
        return Err(ChangeError::StraySignature(
            automerge::ChangeHash(*stray).to_string(),
        ));
    }
    Ok(paired)
}

/// Why a peer's sync message was refused. Nothing from it was applied.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("peer sent a malformed sync message: {0}")]
    Malformed(String),
    #[error(transparent)]
    Rejected(#[from] ReceiveError),
}

impl SyncError {
    /// Whether the sender should be quarantined (its data made Automerge panic).
    pub fn is_hostile(&self) -> bool {
        matches!(self, SyncError::Rejected(e) if e.is_hostile())
    }

    /// Whether the in-memory replica must be reloaded from the store.
    pub fn needs_reload(&self) -> bool {
        matches!(self, SyncError::Rejected(e) if e.needs_reload())
    }
}

/// What one received message did.
#[derive(Debug, Default)]
pub struct Applied {
    /// New, verified changes (already in the replica): persist these.
    pub new: Vec<SignedChange<Verified>>,
    pub duplicates: usize,
    /// Changes that came as a whole document into an empty replica: in the replica, not in
    /// `new`; persist them with a snapshot.
    pub loaded: usize,
    /// Equivocations found (see [`Replica::quarantine`]).
    pub equivocations: usize,
    /// Changes left out because of an equivocation.
    pub dropped: usize,
}

/// The sync state with one peer. Persist it between connections ([`PeerSync::encode`]) so a
/// reconnect costs about what is new.
#[derive(Debug, Default)]
pub struct PeerSync {
    state: sync::State,
    /// Whether the whole document went to this peer while it had nothing; it is not sent
    /// again until the peer's heads say it has something (then changes travel one by one).
    sent_document: bool,
    /// The last message sent that carried no changes. Saying it again would tell the peer
    /// nothing: when two replicas can never reach equal heads (one left out an equivocating
    /// branch the other holds), Automerge's protocol would repeat it forever.
    last_bare: Option<Vec<u8>>,
    /// Changes of this session that wait for dependencies the peer left out, and the hashes
    /// asked for. Automerge's sync leaves out a change when the peer's Bloom filter wrongly
    /// says the peer has it (a false positive) but still sends what builds on it; it would
    /// queue those and ask for the missing one by hash, and so does this.
    pending: Vec<SignedChange<Unverified>>,
    asked: Vec<automerge::ChangeHash>,
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
        let state = guarded(|| sync::State::decode(bytes))
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

    /// The heads both sides were known to have when the state was last updated: everything in
    /// their past has reached the peer.
    pub fn shared_heads(&self) -> &[automerge::ChangeHash] {
        &self.state.shared_heads
    }

    /// The next message for the peer, or `None` when there is nothing to say.
    pub fn generate(&mut self, replica: &Replica) -> Option<SyncMessage> {
        if replica.is_poisoned() {
            return None;
        }
        // A peer known to have nothing gets the whole document in one chunk (Automerge's V2
        // message) with the signatures of each author's newest changes. Anyone else gets each
        // change as its own chunk, and the signatures that vouch for them.
        let empty_peer = self.state.their_heads.as_deref() == Some(&[]);
        if !empty_peer {
            self.sent_document = false;
        }
        let whole = (empty_peer && !self.sent_document && !replica.is_empty())
            .then(|| document_signatures(replica))
            .flatten();
        self.state.their_capabilities = whole.is_some().then(|| vec![sync::Capability::MessageV2]);
        let generated = replica.doc.generate_sync_message(&mut self.state);
        self.state.their_capabilities = None;
        self.asked.retain(|h| !replica.has(h));
        let mut msg = match generated {
            Some(msg) => msg,
            // Nothing to say but what is still missing: ask for it.
            None if !self.asked.is_empty() => sync::Message {
                heads: replica.heads(),
                need: Vec::new(),
                have: Vec::new(),
                changes: ChunkList::empty(),
                flags: None,
                version: sync::MessageVersion::V1,
            },
            None => return None,
        };
        for h in &self.asked {
            if !msg.need.contains(h) {
                msg.need.push(*h);
            }
        }
        // The encoding requires sorted hashes.
        msg.need.sort();
        if msg.changes.len() == 1
            && msg.changes.iter().all(is_document_chunk)
            && let Some(signatures) = whole
        {
            self.sent += replica.len();
            self.sent_document = true;
            return Some(SyncMessage {
                message: msg.encode(),
                signatures,
                changes: replica.len() as u64,
            });
        }
        let changes: Vec<SignedChange<Verified>> = msg
            .changes
            .iter()
            .filter_map(|chunk| automerge::Change::from_bytes(chunk.to_vec()).ok())
            .map(|c| replica.as_kept(c))
            .collect();
        let changes = replica.for_sending(changes);
        let signatures = vouches(&changes);
        let chunks: Vec<Vec<u8>> = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
        self.sent += chunks.len();
        let chunks_sent = chunks.len();
        let bare = chunks.is_empty();
        msg.changes = ChunkList::from(chunks);
        let message = msg.encode();
        if bare {
            if self.last_bare.as_ref() == Some(&message) {
                return None;
            }
            self.last_bare = Some(message.clone());
        } else {
            self.last_bare = None;
        }
        Some(SyncMessage {
            message,
            signatures,
            changes: chunks_sent as u64,
        })
    }

    /// Verifies and applies a message from the peer. On error nothing was applied and the
    /// sync state is unchanged; the caller should disconnect. (Changes that verified and were
    /// applied are always returned for the caller to persist, even when the rest of the
    /// message was bad; the sync state then starts afresh.)
    pub fn receive(
        &mut self,
        replica: &mut Replica,
        incoming: SyncMessage,
    ) -> Result<Applied, SyncError> {
        self.receive_within(replica, incoming, &Budget::unlimited())
    }

    /// [`PeerSync::receive`] within a time budget (see [`Budget`]).
    pub fn receive_within(
        &mut self,
        replica: &mut Replica,
        incoming: SyncMessage,
        budget: &Budget<'_>,
    ) -> Result<Applied, SyncError> {
        let mut msg = guarded(|| sync::Message::decode(&incoming.message))
            .ok_or(ReceiveError::Panicked {
                step: "decoding a sync message",
                reload: false,
            })?
            .map_err(|e| SyncError::Malformed(e.to_string()))?;
        let chunks: Vec<Vec<u8>> = msg.changes.iter().map(|c| c.to_vec()).collect();
        let document = chunks.len() == 1 && is_document_chunk(&chunks[0]);
        if incoming.signatures.len() > MAX_BATCH_CHANGES {
            return Err(ReceiveError::TooMany(incoming.signatures.len()).into());
        }
        let mut applied = Applied::default();
        if document {
            let signatures = incoming
                .signatures
                .iter()
                .map(|v| Some((automerge::ChangeHash(v.change), v.voucher()?)))
                .collect::<Option<Vec<_>>>()
                .ok_or(ReceiveError::Change(
                    crate::core::ChangeError::BadSignatureLength,
                ))?;
            let received = replica.receive_document_within(&chunks[0], &signatures, budget)?;
            applied.duplicates = received.duplicates;
            applied.loaded = received.loaded;
            applied.equivocations = received.equivocations;
            applied.dropped = received.dropped;
            applied.new = received.new;
        } else if !chunks.is_empty() {
            let batch = pair(chunks, &incoming.signatures).map_err(ReceiveError::Change)?;
            let mut batch = batch;
            batch.append(&mut self.pending);
            if batch.len() > MAX_BATCH_CHANGES {
                return Err(ReceiveError::TooMany(batch.len()).into());
            }
            let bytes: usize = batch.iter().map(|c| c.raw_bytes().len()).sum();
            if bytes > MAX_FRAME_BYTES {
                return Err(ReceiveError::OverBudget(format!(
                    "{bytes} bytes of changes wait for their dependencies, more than {MAX_FRAME_BYTES}"
                ))
                .into());
            }
            let missing = missing_deps(replica, &batch);
            if missing.is_empty() {
                let received = replica.receive_within(batch, budget)?;
                applied.duplicates = received.duplicates;
                applied.equivocations = received.equivocations;
                applied.dropped = received.dropped;
                applied.new = received.new;
            } else {
                // Keep the batch and ask for what it lacks in the next message (the checks
                // run when it is complete).
                self.asked = missing;
                self.pending = batch;
            }
        }
        self.received += applied.new.len() + applied.loaded;
        msg.changes = ChunkList::empty();
        // Automerge sees a message without changes whose heads are already ours (we applied
        // the changes ourselves), and concludes that it has told the peer our heads: it would
        // then say nothing more, and the peer would never learn that its changes arrived (its
        // kept state, and `status`'s "not yet shared", would lag). What we last told the peer
        // is still what it was.
        let told = (!applied.new.is_empty() || applied.loaded > 0)
            .then(|| self.state.last_sent_heads.clone());
        let doc = &mut replica.doc;
        let state = &mut self.state;
        let negotiation = match guarded(|| doc.receive_sync_message(state, msg)) {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(SyncError::Malformed(e.to_string())),
            None => Err(SyncError::Rejected(ReceiveError::Panicked {
                step: "reading a sync message",
                reload: false,
            })),
        };
        if let Err(e) = negotiation {
            if applied.new.is_empty() && applied.loaded == 0 {
                // A state that Automerge panicked on half-way cannot be trusted either.
                self.state = sync::State::new();
                return Err(e);
            }
            // The changes were verified and are in the replica: the caller must persist them.
            // Only the negotiation part was bad; it starts afresh next time.
            tracing::warn!(error = %e, "peer's sync message did not update the sync state");
            self.state = sync::State::new();
        }
        self.state.their_capabilities = None;
        if let Some(told) = told {
            self.state.last_sent_heads = told;
        }
        Ok(applied)
    }
}

/// The dependencies of `batch` that are neither in it nor in the replica.
fn missing_deps(
    replica: &Replica,
    batch: &[SignedChange<Unverified>],
) -> Vec<automerge::ChangeHash> {
    let inside: std::collections::HashSet<_> = batch.iter().map(|c| c.hash()).collect();
    let mut missing: Vec<_> = batch
        .iter()
        .flat_map(|c| c.deps().iter().copied())
        .filter(|d| !inside.contains(d) && !replica.has(d))
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

/// The signatures of each author's newest changes of the whole history, which vouch for the
/// rest, or `None` when one of them is not kept here (then the changes travel one by one).
fn document_signatures(replica: &Replica) -> Option<Vec<Vouch>> {
    let metas = replica.doc.get_changes_meta(&[]);
    let nodes = crate::core::trust::signed::authored(
        metas
            .iter()
            .map(|m| (m.hash, m.actor.as_ref(), m.deps.as_slice())),
    )
    .ok()?;
    crate::core::trust::vouch::signatures_to_check(&nodes)
        .into_iter()
        .map(|i| {
            Some(Vouch::new(
                &nodes[i].hash,
                &replica.kept_voucher(&nodes[i].hash)?,
            ))
        })
        .collect()
}

/// Whether an Automerge chunk is a whole document: magic bytes, a 4-byte checksum, then chunk
/// type 0 (a change is type 1, a compressed change type 2).
fn is_document_chunk(chunk: &[u8]) -> bool {
    chunk.len() > 8 && chunk[..4] == [0x85, 0x6f, 0x4a, 0x83] && chunk[8] == 0
}

/// A signature as it travels, for callers that build messages by hand.
pub fn vouch(hash: &automerge::ChangeHash, sig: &Signature) -> Vouch {
    Vouch::new(hash, &Voucher::Signature(*sig))
}
