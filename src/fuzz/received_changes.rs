//! Target `received_changes`: changes (pushed, or in a sync message) received from a peer.

use crate::core::sync::{PeerSync, SyncMessage};
use crate::core::{Replica, SignedChange};

use super::{fixture, use_replica};
use crate::core::raw::{CHANGE, COMPRESSED_CHANGE, chunk, chunk_hash};

/// A sync message from a peer, on a copy of the fixed alliance and on an empty replica of it
/// (a joining device), each with a fresh sync state.
pub(super) fn sync_message(msg: SyncMessage) -> bool {
    let fx = fixture();
    let mut accepted = false;
    for mut r in [fx.base.clone(), Replica::empty(fx.base.id())] {
        let mut peer = PeerSync::new();
        if peer.receive(&mut r, msg.clone()).is_ok() {
            accepted = true;
            use_replica(&r);
            let _ = peer.generate(&r);
            let _ = PeerSync::decode(&peer.encode());
        }
    }
    accepted
}

/// Target `received_changes`: the bytes become one change that a member device signed and a
/// peer sent, and the fixed alliance receives it.
///
/// Input: a flags byte, then the body of an Automerge change chunk. Flags: bits 0-1 the chunk
/// type (1 change; 0 document, 2 compressed change and 3 bundle are there to be refused);
/// bit 2: the batch also holds Ada's honest change [`Fixture::next`] first (so the fuzzed
/// change can build on a change of the same batch, judged against the batch's ledger); bit 3: the
/// change arrives in a sync message (Automerge's V1 message with this one change) instead of
/// a push. The chunk gets a correct length and checksum and its hash is signed by the member
/// whose key appears first in the body (the actor ID), so it passes the checksum and the
/// signature check and reaches Automerge's parse and apply.
pub fn received_changes(data: &[u8]) -> bool {
    let Some((&flags, body)) = data.split_first() else {
        return false;
    };
    let fx = fixture();
    let chunk_type = flags & 0b11;
    let bytes = chunk(chunk_type, body);
    let hash_type = if chunk_type == COMPRESSED_CHANGE {
        CHANGE
    } else {
        chunk_type
    };
    let hash = chunk_hash(hash_type, body);
    let signature = fx.signer_in(body).sign_change(&hash).to_bytes();
    let with_next = flags & 0b100 != 0;
    if flags & 0b1000 != 0 {
        let mut changes = Vec::new();
        let mut signatures = Vec::new();
        if with_next {
            changes.push(fx.next.raw_bytes().to_vec());
            signatures.extend(crate::core::sync::vouches(std::slice::from_ref(&fx.next)));
        }
        changes.push(bytes);
        signatures.push(crate::core::sync::Vouch {
            change: hash.0,
            signature: signature.to_vec(),
            via: Vec::new(),
        });
        let count = changes.len() as u64;
        let message = automerge::sync::Message {
            heads: fx.base.heads(),
            need: Vec::new(),
            have: Vec::new(),
            changes: automerge::sync::ChunkList::from(changes),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        };
        return sync_message(SyncMessage {
            message: message.encode(),
            signatures,
            changes: count,
        });
    }
    let Ok(change) = SignedChange::from_bytes(bytes, &signature) else {
        return false;
    };
    let mut batch = Vec::new();
    if with_next {
        batch.push(fx.next.to_unverified());
    }
    batch.push(change);
    let mut r = fx.base.clone();
    let ok = r.receive(batch).is_ok();
    if ok {
        use_replica(&r);
    }
    ok
}
