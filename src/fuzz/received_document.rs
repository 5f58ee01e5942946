//! Target `received_document`: a whole history received as one document.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::Automerge;
use ed25519_dalek::Signature;

use crate::constants::SIGNATURE_LEN;
use crate::core::Replica;

use super::{Fixture, fixture, use_replica};
use crate::core::raw::{DOCUMENT, chunk};

/// Target `received_document`: the bytes are the body of an Automerge document chunk (a whole
/// history, what a device that has nothing receives); the chunk gets a correct checksum. When
/// Automerge loads it, every change in it gets a signature by the device its actor ID names
/// (when that is one of the fixture's keys), so the document passes the signature checks and
/// reaches the membership checks. It is received by an empty replica of the fixed alliance
/// (which takes the document as it is) and by a copy of the fixed alliance (which applies the
/// changes it lacks).
pub fn received_document(data: &[u8]) -> bool {
    let fx = fixture();
    let bytes = chunk(DOCUMENT, data);
    let signatures = document_signatures(fx, &bytes);
    let mut accepted = false;
    for mut r in [Replica::empty(fx.base.id()), fx.base.clone()] {
        if r.receive_document(&bytes, &signatures).is_ok() {
            accepted = true;
            use_replica(&r);
        }
    }
    accepted
}

/// A signature for every change of a document (an honest sender sends only each author's
/// newest; the others are redundant, and a receiver drops them). Loading the document here to learn its changes is the harness's work, not
/// the library's, so a panic of Automerge here is caught (and the document gets none).
fn document_signatures(
    fx: &Fixture,
    bytes: &[u8],
) -> Vec<(automerge::ChangeHash, crate::core::signed::Voucher)> {
    let metas = catch_unwind(AssertUnwindSafe(|| {
        let doc = Automerge::load(bytes).ok()?;
        Some(
            doc.get_changes_meta(&[])
                .into_iter()
                .map(|m| (m.hash, m.actor.to_bytes().to_vec()))
                .collect::<Vec<_>>(),
        )
    }));
    let Ok(Some(mut metas)) = metas else {
        return Vec::new();
    };
    metas.sort();
    metas
        .iter()
        .map(|(hash, actor)| {
            let sig = match fx.key_for(actor) {
                Some(k) => k.sign_change(hash),
                None => Signature::from_bytes(&[0; SIGNATURE_LEN]),
            };
            (*hash, crate::core::signed::Voucher::Signature(sig))
        })
        .collect()
}
