//! The header of a change, read from its bytes without Automerge.
//!
//! Everything the trust checks need (the change hash, its dependencies, its actor and sequence
//! number) sits in the first bytes of an Automerge change chunk. [`RawChange::parse`] reads
//! exactly those fields with a small, bounds-checked parser and recomputes the hash (SHA-256
//! over the chunk type, length and body, as Automerge defines it), so signatures, authorship,
//! sequence numbers and equivocation (and, for a live edit, membership) are checked before
//! Automerge's own parser, which can panic on malformed-but-checksummed input, ever sees the
//! bytes of a received batch. Automerge decodes a change only after it passed, and the replica
//! then checks that Automerge read the same header ([`RawChange::matches`]). A whole document
//! is another way in: Automerge loads it first, on a copy of its own (`Replica::receive_document`).
//!
//! Layout of a change chunk (Automerge's binary format):
//! ```text
//! magic (85 6f 4a 83) | checksum (4) | type (1 = change) | uLEB length | body
//! body = uLEB #deps, deps (32 bytes each) | uLEB actor length, actor | uLEB seq
//!      | uLEB start_op | sLEB time | uLEB message length, message | ... op columns
//! ```
//! Only uncompressed change chunks are accepted: alliance always sends and stores a change as
//! the bytes its hash covers.

use std::io::Write;

use automerge::{ActorId, Change, ChangeHash};
use sha2::{Digest, Sha256};

use crate::constants::{ACTOR_ID_LEN, CHANGE_HASH_LEN, MAX_CHANGE_BYTES};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_TYPE_CHANGE: u8 = 1;

/// The bytes of a change from outside and the header fields read from them.
#[derive(Debug, Clone)]
pub struct RawChange {
    bytes: Vec<u8>,
    hash: ChangeHash,
    deps: Vec<ChangeHash>,
    actor: ActorId,
    seq: u64,
    /// Automerge's own parse of these very bytes, when they came out of Automerge (a change
    /// rebuilt from a whole document it loaded, see [`RawChange::of_parsed`]): decoding takes
    /// it instead of parsing the bytes again. The header above is read from the bytes either
    /// way, and decoding checks that the two agree.
    parsed: Option<Box<automerge::Change>>,
}

/// Why change bytes could not even be read as a change header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RawError {
    #[error("change is {0} bytes, more than the limit of {MAX_CHANGE_BYTES}")]
    TooLarge(usize),
    #[error("not an Automerge change chunk (bad magic bytes)")]
    BadMagic,
    #[error("chunk type {0} is not an uncompressed change")]
    NotAChange(u8),
    #[error("the chunk's checksum does not match its contents")]
    BadChecksum,
    #[error("the chunk ends early, or has bytes after its declared length")]
    BadLength,
    #[error("a number in the change header is badly encoded")]
    BadNumber,
    #[error("the change names an actor of {0} bytes; alliance actors have {ACTOR_ID_LEN}")]
    BadActor(usize),
}

impl RawChange {
    /// Reads the header of `bytes` and recomputes the change hash. Never panics; allocates no
    /// more than the bytes' own length.
    pub fn parse(bytes: Vec<u8>) -> Result<RawChange, RawError> {
        let (hash, deps, actor, seq) = read_header(&bytes)?;
        Ok(RawChange {
            bytes,
            hash,
            deps,
            actor,
            seq,
            parsed: None,
        })
    }

    /// A change Automerge rebuilt out of a document it loaded: its header read from its bytes
    /// as from any bytes ([`RawChange::parse`]), and Automerge's parse kept for decoding (the
    /// bytes are then the parsed change's own, not a copy).
    pub fn of_parsed(change: automerge::Change) -> Result<RawChange, RawError> {
        let (hash, deps, actor, seq) = read_header(change.raw_bytes())?;
        Ok(RawChange {
            bytes: Vec::new(),
            hash,
            deps,
            actor,
            seq,
            parsed: Some(Box::new(change)),
        })
    }

    /// Automerge's parse of the bytes, when [`RawChange::of_parsed`] kept one. For decoding,
    /// which consumes the change: the bytes go with the parse.
    pub(crate) fn take_parsed(&mut self) -> Option<automerge::Change> {
        self.parsed.take().map(|c| *c)
    }

    /// The change hash, recomputed from the bytes: what the author signed.
    pub fn hash(&self) -> ChangeHash {
        self.hash
    }

    pub fn deps(&self) -> &[ChangeHash] {
        &self.deps
    }

    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// The change's sequence number among its actor's changes (from 1).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.parsed {
            Some(change) => change.raw_bytes(),
            None => &self.bytes,
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        match self.parsed {
            Some(change) => change.raw_bytes().to_vec(),
            None => self.bytes,
        }
    }

    /// Whether Automerge's reading of the bytes agrees with this header.
    pub fn matches(&self, change: &Change) -> bool {
        change.hash() == self.hash
            && change.deps() == self.deps.as_slice()
            && change.actor_id() == &self.actor
            && change.seq() == self.seq
    }
}

/// Reads a change's header from its bytes and recomputes its hash: (hash, dependencies,
/// actor, sequence number). Never panics; allocates no more than the bytes' own length.
fn read_header(bytes: &[u8]) -> Result<(ChangeHash, Vec<ChangeHash>, ActorId, u64), RawError> {
    if bytes.len() > MAX_CHANGE_BYTES {
        return Err(RawError::TooLarge(bytes.len()));
    }
    let mut r = Reader(bytes);
    if r.take(4)? != MAGIC {
        return Err(RawError::BadMagic);
    }
    let checksum: [u8; 4] = r.take(4)?.try_into().expect("took 4 bytes");
    let chunk_type = r.take(1)?[0];
    if chunk_type != CHUNK_TYPE_CHANGE {
        return Err(RawError::NotAChange(chunk_type));
    }
    let len = r.uleb()?;
    if len != r.0.len() as u64 {
        return Err(RawError::BadLength);
    }
    let body = r.0;
    let hash = chunk_hash(chunk_type, body);
    if hash.0[..4] != checksum {
        return Err(RawError::BadChecksum);
    }
    let mut r = Reader(body);
    let n_deps = r.uleb()?;
    if n_deps > (r.0.len() / CHANGE_HASH_LEN) as u64 {
        return Err(RawError::BadLength);
    }
    let deps = (0..n_deps)
        .map(|_| {
            let b: [u8; CHANGE_HASH_LEN] = r.take(CHANGE_HASH_LEN)?.try_into().expect("len");
            Ok(ChangeHash(b))
        })
        .collect::<Result<Vec<_>, RawError>>()?;
    let actor_len = r.uleb()?;
    if actor_len != ACTOR_ID_LEN as u64 {
        return Err(RawError::BadActor(
            usize::try_from(actor_len).unwrap_or(usize::MAX),
        ));
    }
    let actor = ActorId::from(r.take(ACTOR_ID_LEN)?);
    let seq = r.uleb()?;
    if seq == 0 {
        return Err(RawError::BadNumber);
    }
    Ok((hash, deps, actor, seq))
}

/// Automerge's chunk magic bytes.
pub const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Chunk types.
pub const DOCUMENT: u8 = 0;
pub const CHANGE: u8 = 1;
pub const COMPRESSED_CHANGE: u8 = 2;

/// An Automerge chunk of type `chunk_type` around `body`, with a correct length and checksum.
/// For a compressed change, `body` is the *uncompressed* change body: the checksum is the
/// uncompressed change's, and the body is deflated, as Automerge writes it.
pub fn chunk(chunk_type: u8, body: &[u8]) -> Vec<u8> {
    let hash = chunk_hash(
        if chunk_type == COMPRESSED_CHANGE {
            CHANGE
        } else {
            chunk_type
        },
        body,
    );
    let deflated;
    let body = if chunk_type == COMPRESSED_CHANGE {
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(body).expect("writing to memory");
        deflated = z.finish().expect("writing to memory");
        &deflated[..]
    } else {
        body
    };
    let mut out = Vec::with_capacity(body.len() + 14);
    out.extend_from_slice(&CHUNK_MAGIC);
    out.extend_from_slice(&hash.0[..4]);
    out.push(chunk_type);
    write_uleb(&mut out, body.len() as u64);
    out.extend_from_slice(body);
    out
}

/// The body of an (uncompressed) Automerge chunk, or `None` when `bytes` is not one.
pub fn chunk_body(bytes: &[u8]) -> Option<(u8, &[u8])> {
    if bytes.len() < 9 || bytes[..4] != CHUNK_MAGIC {
        return None;
    }
    let chunk_type = bytes[8];
    let mut len: u64 = 0;
    let mut i = 9;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(i)?;
        i += 1;
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
    }
    let end = i.checked_add(usize::try_from(len).ok()?)?;
    Some((chunk_type, bytes.get(i..end)?))
}

/// SHA-256 over `type || uLEB(len) || body`: the hash Automerge gives a chunk (for a change,
/// its change hash; the first 4 bytes are the chunk's checksum).
pub fn chunk_hash(chunk_type: u8, body: &[u8]) -> ChangeHash {
    let mut prefix = vec![chunk_type];
    write_uleb(&mut prefix, body.len() as u64);
    let mut hasher = Sha256::new();
    hasher.update(&prefix);
    hasher.update(body);
    ChangeHash(hasher.finalize().into())
}

/// Appends `v` as an unsigned LEB128 number (the shortest encoding, as Automerge writes it).
pub fn write_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RawError> {
        if self.0.len() < n {
            return Err(RawError::BadLength);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// An unsigned LEB128 number, refused when it is overlong or does not fit in 64 bits (the
    /// same rules as Automerge's reader).
    fn uleb(&mut self) -> Result<u64, RawError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = self.take(1)?[0];
            let bits = u64::from(byte & 0x7f);
            if i == 9 && bits > 1 {
                return Err(RawError::BadNumber);
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                if i > 0 && byte == 0 {
                    return Err(RawError::BadNumber);
                }
                return Ok(value);
            }
        }
        Err(RawError::BadNumber)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{AutoCommit, transaction::Transactable};

    fn change_bytes(actor: &[u8]) -> Vec<u8> {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(actor));
        doc.put(automerge::ROOT, "k", "v").unwrap();
        doc.commit();
        let changes = doc.get_changes(&[]);
        changes[0].raw_bytes().to_vec()
    }

    #[test]
    fn reads_the_same_header_and_hash_as_automerge() {
        let bytes = change_bytes(&[7u8; ACTOR_ID_LEN]);
        let raw = RawChange::parse(bytes.clone()).unwrap();
        let change = Change::from_bytes(bytes).unwrap();
        assert!(raw.matches(&change));
        assert_eq!(raw.seq(), 1);
    }

    #[test]
    fn any_flipped_byte_or_truncation_is_refused_or_changes_the_hash() {
        let bytes = change_bytes(&[7u8; ACTOR_ID_LEN]);
        let hash = RawChange::parse(bytes.clone()).unwrap().hash();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            if let Ok(raw) = RawChange::parse(b) {
                assert_ne!(raw.hash(), hash, "byte {i}");
            }
            assert!(RawChange::parse(bytes[..i].to_vec()).is_err(), "cut at {i}");
        }
    }

    #[test]
    fn foreign_actor_lengths_and_compressed_chunks_are_refused() {
        let short = change_bytes(&[7u8; 16]);
        assert_eq!(RawChange::parse(short).unwrap_err(), RawError::BadActor(16));
        let mut bytes = change_bytes(&[7u8; ACTOR_ID_LEN]);
        bytes[8] = 2;
        assert_eq!(
            RawChange::parse(bytes).unwrap_err(),
            RawError::NotAChange(2)
        );
        assert_eq!(
            RawChange::parse(vec![0; MAX_CHANGE_BYTES + 1]).unwrap_err(),
            RawError::TooLarge(MAX_CHANGE_BYTES + 1)
        );
    }
}
