//! The store's two file formats, as pure encode/decode functions (no I/O).
//!
//! **Change log** (`changes.log`), append-only:
//! ```text
//! "ALLLOG02"
//! record*  where record = u32 LE payload length | u32 LE CRC-32 of payload | payload
//!                payload = flags (1 byte) | vouching | Automerge change bytes
//!                flags 0: vouching is empty (a later change of the author vouches for it)
//!                flags 1: vouching = 64-byte signature (its own)
//!                flags 2: vouching = proof = u32 LE n | (u32 LE length | change bytes)^n |
//!                         64-byte signature (on the last of the n changes; see `signed::Proof`)
//! ```
//! A change is kept with a signature of its own when it has one: this device's own changes
//! always, a received change when it was its author's newest in what arrived. The others are
//! vouched for by a later change of their author (see [`crate::core::vouch`]).
//! Version 1 (`"ALLLOG01"`, every payload `64-byte signature | change bytes`) is still read;
//! the store rewrites it as version 2 when it opens it for writing.
//! A record that runs past the end of the file, or whose checksum fails while it is the last
//! record, is a *torn tail*: a write that was cut short by a crash, whose command never
//! returned. It is ignored and cut off before the next append. A bad record followed by more
//! data is damage, and is reported, never repaired silently; so is a record that runs past the
//! end of the file while a whole record follows it (its length field is damaged).
//!
//! **Snapshot** (`snapshot`), replaced atomically:
//! ```text
//! "ALLSNAP2" | u64 LE doc length | Automerge document (save()) |
//! u64 LE signature count | (32-byte change hash | 64-byte signature)* |
//! u64 LE proof count | (32-byte change hash | proof as in the log)* | u32 LE CRC-32 of all before
//! ```
//! The table holds the signatures kept (not one per change, see above). Version 1
//! (`"ALLSNAP1"`, without the proofs, and a signature for every change) is still read.

use std::collections::HashMap;

use automerge::ChangeHash;
use ed25519_dalek::Signature;

use crate::constants::{
    BUNDLE_MAGIC, BUNDLE_MAGIC_V1, CHANGE_HASH_LEN, LOG_MAGIC, LOG_MAGIC_V1, SIGNATURE_LEN,
    SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_V1,
};
use crate::core::signed::{Proof, Voucher};

const RECORD_HEADER: usize = 8;

/// A version 2 record's flags: what vouches for the change follows.
const UNSIGNED: u8 = 0;
const SIGNED: u8 = 1;
const PROVED: u8 = 2;

/// A record read from the log: the change's own signature or proof, if it was kept with one,
/// and its bytes (not yet parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The signature: the change's own, or, when `via` is not empty, its proof's.
    pub signature: Option<[u8; SIGNATURE_LEN]>,
    /// A proof's changes (see `signed::Proof`); empty for a signature of its own.
    pub via: Vec<Vec<u8>>,
    pub change: Vec<u8>,
    encoded_len: u64,
}

impl LogRecord {
    /// The record's length in the file, header included.
    pub fn encoded_len(&self) -> u64 {
        self.encoded_len
    }

    /// The change's own signature, if it has one.
    pub fn signature(&self) -> Option<Signature> {
        if !self.via.is_empty() {
            return None;
        }
        self.signature.as_ref().map(Signature::from_bytes)
    }

    /// The change's proof, if it was kept with one.
    pub fn proof(&self) -> Option<Proof> {
        if self.via.is_empty() {
            return None;
        }
        Some(Proof {
            via: self.via.clone(),
            signature: Signature::from_bytes(self.signature.as_ref()?),
        })
    }

    /// What the change was kept with to vouch for it itself: its signature, or its proof.
    pub fn voucher(&self) -> Option<Voucher> {
        match self.signature() {
            Some(sig) => Some(Voucher::Signature(sig)),
            None => self.proof().map(Voucher::Proof),
        }
    }
}

/// The log, decoded.
#[derive(Debug, Default)]
pub struct DecodedLog {
    pub records: Vec<LogRecord>,
    /// Length of the valid prefix; anything after it is a torn tail.
    pub valid_len: u64,
    /// Bytes of torn tail found after the valid prefix.
    pub torn_tail: u64,
    /// Whether the log is in the old format (version 1): rewrite it before appending.
    pub old_format: bool,
}

/// Why a file could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("it does not start with the expected header (not an alliance file, or damaged)")]
    BadMagic,
    #[error("record at byte {0} fails its checksum and is followed by more data")]
    BadRecord(u64),
    #[error("record at byte {0} is too short for what its header says it holds")]
    ShortRecord(u64),
    #[error("it is truncated")]
    Truncated,
    #[error("its checksum does not match its contents")]
    BadChecksum,
}

pub fn log_header() -> Vec<u8> {
    LOG_MAGIC.to_vec()
}

pub fn encode_record(signature: Option<&Signature>, change: &[u8]) -> Vec<u8> {
    encode_kept(signature.copied().map(Voucher::Signature).as_ref(), change)
}

/// A record of a change with what vouches for it itself: its signature, or a proof.
pub fn encode_kept(voucher: Option<&Voucher>, change: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(1 + SIGNATURE_LEN + change.len());
    match voucher {
        Some(Voucher::Signature(sig)) => {
            payload.push(SIGNED);
            payload.extend_from_slice(&sig.to_bytes());
        }
        Some(Voucher::Proof(proof)) => {
            payload.push(PROVED);
            encode_proof(&mut payload, proof);
        }
        None => payload.push(UNSIGNED),
    }
    payload.extend_from_slice(change);
    let mut out = Vec::with_capacity(RECORD_HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

pub fn decode_log(bytes: &[u8]) -> Result<DecodedLog, FormatError> {
    if bytes.len() < LOG_MAGIC.len() {
        // A crash while the log was first created leaves a short header: nothing was logged.
        return if LOG_MAGIC.starts_with(bytes) {
            Ok(DecodedLog {
                torn_tail: bytes.len() as u64,
                ..Default::default()
            })
        } else {
            Err(FormatError::BadMagic)
        };
    }
    let old_format = match &bytes[..LOG_MAGIC.len()] {
        m if m == LOG_MAGIC => false,
        m if m == LOG_MAGIC_V1 => true,
        _ => return Err(FormatError::BadMagic),
    };
    let min_payload = if old_format { SIGNATURE_LEN } else { 1 };
    let mut pos = LOG_MAGIC.len();
    let mut records = Vec::new();
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let Some((len, crc)) = record_header(rest) else {
            break; // torn header
        };
        let end = RECORD_HEADER.saturating_add(len);
        if end > rest.len() {
            // Runs past the end of the file: a torn append, whose bytes are a prefix of this
            // one record. If a whole record follows, this record's length is damaged instead,
            // and taking the rest for a torn tail would drop (and the next append cut off)
            // every record after it.
            if whole_record_in(&rest[1..], min_payload) {
                return Err(FormatError::BadRecord(pos as u64));
            }
            break;
        }
        let payload = &rest[RECORD_HEADER..end];
        if crc32fast::hash(payload) != crc {
            if end == rest.len() {
                break; // the last record is torn
            }
            return Err(FormatError::BadRecord(pos as u64));
        }
        let short = || FormatError::ShortRecord(pos as u64);
        let (signature, via, change) = if old_format {
            if payload.len() < SIGNATURE_LEN {
                return Err(short());
            }
            let (sig, change) = payload.split_at(SIGNATURE_LEN);
            (Some(fixed(sig, 0).ok_or_else(short)?), Vec::new(), change)
        } else {
            match payload.split_first() {
                Some((&SIGNED, rest)) if rest.len() >= SIGNATURE_LEN => {
                    let (sig, change) = rest.split_at(SIGNATURE_LEN);
                    (Some(fixed(sig, 0).ok_or_else(short)?), Vec::new(), change)
                }
                Some((&PROVED, rest)) => {
                    let mut at = 0;
                    let (via, sig) = decode_proof(rest, &mut at).ok_or_else(short)?;
                    (Some(sig), via, &rest[at..])
                }
                Some((&UNSIGNED, change)) => (None, Vec::new(), change),
                _ => return Err(short()),
            }
        };
        records.push(LogRecord {
            signature,
            via,
            change: change.to_vec(),
            encoded_len: end as u64,
        });
        pos += end;
    }
    Ok(DecodedLog {
        records,
        valid_len: pos as u64,
        torn_tail: (bytes.len() - pos) as u64,
        old_format,
    })
}

/// The `N` bytes of `bytes` from `at`, if there are that many.
fn fixed<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// A record's header: its payload's length and checksum (`None` when torn).
fn record_header(bytes: &[u8]) -> Option<(usize, u32)> {
    let len = u32::from_le_bytes(fixed(bytes, 0)?) as usize;
    Some((len, u32::from_le_bytes(fixed(bytes, 4)?)))
}

/// Whether a whole, checksummed record starts anywhere in `bytes`.
fn whole_record_in(bytes: &[u8], min_payload: usize) -> bool {
    (0..bytes.len().saturating_sub(RECORD_HEADER - 1)).any(|q| {
        let rest = &bytes[q..];
        let Some((len, crc)) = record_header(rest) else {
            return false;
        };
        len >= min_payload
            && RECORD_HEADER.saturating_add(len) <= rest.len()
            && crc32fast::hash(&rest[RECORD_HEADER..RECORD_HEADER + len]) == crc
    })
}

/// `u32 LE n | (u32 LE length | change bytes)^n | 64-byte signature`.
fn encode_proof(out: &mut Vec<u8>, proof: &Proof) {
    out.extend_from_slice(&(proof.via.len() as u32).to_le_bytes());
    for link in &proof.via {
        out.extend_from_slice(&(link.len() as u32).to_le_bytes());
        out.extend_from_slice(link);
    }
    out.extend_from_slice(&proof.signature.to_bytes());
}

/// A proof's changes and signature from `bytes[*at..]`, moving `at` past it.
fn decode_proof(bytes: &[u8], at: &mut usize) -> Option<(Vec<Vec<u8>>, [u8; SIGNATURE_LEN])> {
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = bytes.get(*at..at.checked_add(n)?)?;
        *at += n;
        Some(s)
    };
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    // Each link takes at least its 4-byte length: a count the bytes cannot hold is refused
    // before anything is allocated for it.
    if count == 0 || count > bytes.len() / 4 {
        return None;
    }
    let mut via = Vec::with_capacity(count);
    for _ in 0..count {
        let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        via.push(take(len)?.to_vec());
    }
    let sig = take(SIGNATURE_LEN)?.try_into().ok()?;
    Some((via, sig))
}

pub fn encode_snapshot(
    doc: &[u8],
    signatures: &HashMap<ChangeHash, Signature>,
    proofs: &HashMap<ChangeHash, Proof>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        8 + 8 + doc.len() + 8 + signatures.len() * (CHANGE_HASH_LEN + SIGNATURE_LEN) + 4,
    );
    out.extend_from_slice(SNAPSHOT_MAGIC);
    out.extend_from_slice(&(doc.len() as u64).to_le_bytes());
    out.extend_from_slice(doc);
    out.extend_from_slice(&(signatures.len() as u64).to_le_bytes());
    let mut sorted: Vec<_> = signatures.iter().collect();
    sorted.sort_by_key(|(h, _)| **h);
    for (hash, sig) in sorted {
        out.extend_from_slice(&hash.0);
        out.extend_from_slice(&sig.to_bytes());
    }
    out.extend_from_slice(&(proofs.len() as u64).to_le_bytes());
    let mut sorted: Vec<_> = proofs.iter().collect();
    sorted.sort_by_key(|(h, _)| **h);
    for (hash, proof) in sorted {
        out.extend_from_slice(&hash.0);
        encode_proof(&mut out, proof);
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A decoded snapshot: the Automerge document bytes, the signature table and the proofs.
pub struct DecodedSnapshot<'a> {
    pub doc: &'a [u8],
    pub signatures: HashMap<ChangeHash, Signature>,
    pub proofs: HashMap<ChangeHash, Proof>,
}

pub fn decode_snapshot(bytes: &[u8]) -> Result<DecodedSnapshot<'_>, FormatError> {
    if bytes.len() < SNAPSHOT_MAGIC.len()
        || (&bytes[..SNAPSHOT_MAGIC.len()] != SNAPSHOT_MAGIC
            && &bytes[..SNAPSHOT_MAGIC.len()] != SNAPSHOT_MAGIC_V1)
    {
        return Err(FormatError::BadMagic);
    }
    let old_format = &bytes[..SNAPSHOT_MAGIC.len()] == SNAPSHOT_MAGIC_V1;
    if bytes.len() < 8 + 8 + 8 + 4 {
        return Err(FormatError::Truncated);
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if fixed(crc, 0).map(u32::from_le_bytes) != Some(crc32fast::hash(body)) {
        return Err(FormatError::BadChecksum);
    }
    let mut pos = 8;
    let take = |pos: &mut usize, n: usize| -> Result<&[u8], FormatError> {
        let end = pos.checked_add(n).ok_or(FormatError::Truncated)?;
        let s = body.get(*pos..end).ok_or(FormatError::Truncated)?;
        *pos = end;
        Ok(s)
    };
    let take_u64 = |pos: &mut usize| -> Result<u64, FormatError> {
        let at = *pos;
        take(pos, 8)?;
        fixed(body, at)
            .map(u64::from_le_bytes)
            .ok_or(FormatError::Truncated)
    };
    let doc_len = take_u64(&mut pos)?;
    let doc = take(
        &mut pos,
        usize::try_from(doc_len).map_err(|_| FormatError::Truncated)?,
    )?;
    let count = take_u64(&mut pos)?;
    let entry = CHANGE_HASH_LEN + SIGNATURE_LEN;
    let count = usize::try_from(count).map_err(|_| FormatError::Truncated)?;
    let table = count.checked_mul(entry).ok_or(FormatError::Truncated)?;
    let room = body.len() - pos;
    if (old_format && table != room) || table > room {
        return Err(FormatError::Truncated);
    }
    let mut signatures = HashMap::with_capacity(count);
    for _ in 0..count {
        let e = take(&mut pos, entry)?;
        let hash = ChangeHash(fixed(e, 0).ok_or(FormatError::Truncated)?);
        let sig = Signature::from_bytes(&fixed(e, CHANGE_HASH_LEN).ok_or(FormatError::Truncated)?);
        signatures.insert(hash, sig);
    }
    let mut proofs = HashMap::new();
    if !old_format {
        let count = take_u64(&mut pos)?;
        for _ in 0..count {
            let hash = ChangeHash(
                fixed(take(&mut pos, CHANGE_HASH_LEN)?, 0).ok_or(FormatError::Truncated)?,
            );
            let (via, sig) = decode_proof(body, &mut pos).ok_or(FormatError::Truncated)?;
            proofs.insert(
                hash,
                Proof {
                    via,
                    signature: Signature::from_bytes(&sig),
                },
            );
        }
        if pos != body.len() {
            return Err(FormatError::Truncated);
        }
    }
    Ok(DecodedSnapshot {
        doc,
        signatures,
        proofs,
    })
}

/// Encodes a bundle: signed changes of one alliance, carried between devices by hand.
/// `"ALLBNDL2" | 32-byte alliance ID | record*` (records as in the log, version 2; a bundle
/// carries the signatures that vouch for its changes, each author's newest). Version 1
/// (`"ALLBNDL1"`, a signature on every record) is still read.
pub fn encode_bundle<'a>(
    alliance: &ChangeHash,
    changes: impl IntoIterator<Item = (Option<&'a Signature>, &'a [u8])>,
) -> Vec<u8> {
    let mut out = BUNDLE_MAGIC.to_vec();
    out.extend_from_slice(&alliance.0);
    for (sig, bytes) in changes {
        out.extend(encode_record(sig, bytes));
    }
    out
}

/// [`encode_bundle`] of changes with what vouches for each itself (signature or proof).
pub fn encode_bundle_kept(
    alliance: &ChangeHash,
    changes: &[crate::core::SignedChange<crate::core::Verified>],
) -> Vec<u8> {
    let mut out = BUNDLE_MAGIC.to_vec();
    out.extend_from_slice(&alliance.0);
    for c in changes {
        out.extend(encode_kept(c.voucher(), c.raw_bytes()));
    }
    out
}

/// Decodes a bundle strictly: unlike the log, a bundle has no torn tail to forgive.
pub fn decode_bundle(bytes: &[u8]) -> Result<(ChangeHash, Vec<LogRecord>), FormatError> {
    let head = BUNDLE_MAGIC.len() + CHANGE_HASH_LEN;
    if bytes.len() < head {
        return Err(FormatError::BadMagic);
    }
    let log_magic = match &bytes[..BUNDLE_MAGIC.len()] {
        m if m == BUNDLE_MAGIC => LOG_MAGIC,
        m if m == BUNDLE_MAGIC_V1 => LOG_MAGIC_V1,
        _ => return Err(FormatError::BadMagic),
    };
    let alliance = ChangeHash(fixed(bytes, BUNDLE_MAGIC.len()).ok_or(FormatError::BadMagic)?);
    // Reuse the log decoder on a log-shaped view of the records.
    let mut as_log = log_magic.to_vec();
    as_log.extend_from_slice(&bytes[head..]);
    let log = decode_log(&as_log)?;
    if log.torn_tail > 0 {
        return Err(FormatError::Truncated);
    }
    Ok((alliance, log.records))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records 0, 2, 4, … with a signature, the others without.
    fn log_of(n: usize) -> Vec<u8> {
        let mut log = log_header();
        for i in 0..n {
            let sig = Signature::from_bytes(&[i as u8; 64]);
            log.extend(encode_record((i % 2 == 0).then_some(&sig), &[i as u8; 10]));
        }
        log
    }

    #[test]
    fn a_record_kept_with_a_proof_round_trips() {
        let proof = Proof {
            via: vec![vec![1, 2, 3], vec![4]],
            signature: Signature::from_bytes(&[9; 64]),
        };
        let mut log = log_header();
        log.extend(encode_kept(Some(&Voucher::Proof(proof.clone())), &[7; 6]));
        log.extend(encode_kept(None, &[8; 6]));
        let d = decode_log(&log).unwrap();
        assert_eq!(d.records[0].proof(), Some(proof));
        assert_eq!(d.records[0].signature(), None);
        assert_eq!(d.records[0].change, vec![7; 6]);
        assert_eq!(d.records[1].proof(), None);
        assert_eq!(d.valid_len, log.len() as u64);
    }

    #[test]
    fn log_round_trips_with_and_without_signatures() {
        let d = decode_log(&log_of(3)).unwrap();
        assert_eq!(d.records.len(), 3);
        assert_eq!(d.records[2].change, vec![2u8; 10]);
        assert_eq!(d.records[0].signature, Some([0; 64]));
        assert_eq!(d.records[1].signature, None);
        assert_eq!(d.torn_tail, 0);
        assert!(!d.old_format);
        let lens: u64 = d.records.iter().map(|r| r.encoded_len()).sum();
        assert_eq!(lens + 8, d.valid_len);
    }

    #[test]
    fn an_old_format_log_and_bundle_are_still_read() {
        // Version 1: every payload is `signature | change`.
        let mut log = LOG_MAGIC_V1.to_vec();
        for i in 0..2u8 {
            let mut payload = vec![i; 64];
            payload.extend_from_slice(&[i + 10; 5]);
            log.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            log.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            log.extend_from_slice(&payload);
        }
        let d = decode_log(&log).unwrap();
        assert!(d.old_format);
        assert_eq!(d.records.len(), 2);
        assert_eq!(d.records[1].signature, Some([1; 64]));
        assert_eq!(d.records[1].change, vec![11; 5]);
        let mut bundle = BUNDLE_MAGIC_V1.to_vec();
        bundle.extend_from_slice(&[7; 32]);
        bundle.extend_from_slice(&log[8..]);
        let (id, records) = decode_bundle(&bundle).unwrap();
        assert_eq!(id, ChangeHash([7; 32]));
        assert_eq!(records, d.records);
    }

    #[test]
    fn torn_tail_at_every_cut_is_ignored_not_fatal() {
        let full = log_of(3);
        let two = decode_log(&log_of(2)).unwrap().valid_len as usize;
        for cut in two..full.len() {
            let d = decode_log(&full[..cut]).unwrap();
            assert_eq!(d.records.len(), 2, "cut at {cut}");
            assert_eq!(d.valid_len as usize, two);
        }
        for cut in 0..8 {
            assert!(decode_log(&full[..cut]).unwrap().records.is_empty());
        }
    }

    #[test]
    fn damage_in_the_middle_is_reported() {
        let mut log = log_of(3);
        log[8 + 8 + 70] ^= 0xff; // inside the first record's payload
        assert!(matches!(decode_log(&log), Err(FormatError::BadRecord(8))));
        // A damaged length that runs past the end is no torn tail while whole records follow.
        for byte in 8..12 {
            let mut log = log_of(3);
            log[byte] ^= 0x80;
            assert!(
                matches!(decode_log(&log), Err(FormatError::BadRecord(8))),
                "flip at {byte}"
            );
        }
        let mut log = log_of(1);
        log[0] = b'X';
        assert_eq!(decode_log(&log).unwrap_err(), FormatError::BadMagic);
    }

    #[test]
    fn snapshot_round_trips_and_detects_any_flipped_byte() {
        let mut sigs = HashMap::new();
        sigs.insert(ChangeHash([1; 32]), Signature::from_bytes(&[2; 64]));
        let mut proofs = HashMap::new();
        proofs.insert(
            ChangeHash([3; 32]),
            Proof {
                via: vec![vec![4; 5], vec![5; 2]],
                signature: Signature::from_bytes(&[6; 64]),
            },
        );
        let snap = encode_snapshot(b"docbytes", &sigs, &proofs);
        let d = decode_snapshot(&snap).unwrap();
        assert_eq!(d.doc, b"docbytes");
        assert_eq!(d.signatures, sigs);
        assert_eq!(d.proofs, proofs);
        // Version 1: the same layout without the proofs.
        let mut old = encode_snapshot(b"docbytes", &sigs, &HashMap::new());
        old.truncate(old.len() - 4 - 8);
        old.extend_from_slice(&[0; 4]);
        old[..8].copy_from_slice(SNAPSHOT_MAGIC_V1);
        let body = old.len() - 4;
        let crc = crc32fast::hash(&old[..body]);
        old[body..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_snapshot(&old).unwrap().signatures, sigs);
        for i in 0..snap.len() {
            let mut bad = snap.clone();
            bad[i] ^= 0x40;
            assert!(decode_snapshot(&bad).is_err(), "flip at {i}");
        }
        for cut in 0..snap.len() {
            assert!(decode_snapshot(&snap[..cut]).is_err());
        }
    }
}
