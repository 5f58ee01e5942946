//! The alliance in open formats, for any other program (`alliance export --format automerge`
//! and `--format signatures`; docs/schema.md, "Reading the alliance elsewhere"): the whole
//! history as a standard Automerge document (`Automerge::save`), and the signatures this device
//! keeps, each over `SIGNATURE_DOMAIN ‖ change hash` by the ed25519 key that is the first 32
//! bytes of the change's actor ID. An author's newest changes carry signatures; a change hash
//! covers the change's dependencies, so a signed change vouches for everything before it.

use automerge::ReadDoc;
use serde::Serialize;

use crate::core::Replica;

/// The document, as Automerge saves it: every change, compressed.
pub fn automerge(replica: &Replica) -> Vec<u8> {
    replica.doc().save()
}

/// One kept signature.
#[derive(Debug, Clone, Serialize)]
pub struct KeptSignature {
    /// The change's hash (hex), as Automerge computes it.
    pub change: String,
    /// The signing device's ed25519 public key (hex): the first 32 bytes of the change's actor.
    pub device: String,
    /// The ed25519 signature (hex) over `domain ‖ change hash`.
    pub signature: String,
}

/// What another program needs to check the signatures.
#[derive(Debug, Clone, Serialize)]
pub struct Signatures {
    /// The alliance's ID: the hash of its first change.
    pub alliance: String,
    /// The bytes every signed message starts with, as text and as hex.
    pub domain: String,
    pub domain_hex: String,
    pub signatures: Vec<KeptSignature>,
}

/// The signatures this device keeps, sorted by change hash.
pub fn signatures(replica: &Replica) -> Signatures {
    let domain = crate::constants::SIGNATURE_DOMAIN;
    let mut signatures: Vec<KeptSignature> = replica
        .signatures()
        .iter()
        .filter_map(|(hash, sig)| {
            let change = replica.doc().get_change_by_hash(hash)?;
            let actor = change.actor_id().to_bytes();
            Some(KeptSignature {
                change: hash.to_string(),
                device: hex::encode(actor.get(..32)?),
                signature: hex::encode(sig.to_bytes()),
            })
        })
        .collect();
    signatures.sort_by(|a, b| a.change.cmp(&b.change));
    Signatures {
        alliance: replica.id().to_string(),
        domain: String::from_utf8_lossy(domain.strip_suffix(b"\0").unwrap_or(domain)).into_owned()
            + "\\0",
        domain_hex: hex::encode(domain),
        signatures,
    }
}
