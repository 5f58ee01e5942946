//! Frames on an alliance stream and their encoding, without I/O: a 4-byte big-endian length,
//! then the body: one byte for its encoding (0: a postcard-encoded [`Frame`]; 1: the same,
//! deflated), then the bytes. A deflated body is never inflated past [`FRAME_DEFLATE_MAX`] (no
//! honest sender deflates more). Reading and writing frames on a stream is `net::wire`'s.
//!
//! Bodies between [`FRAME_DEFLATE_MIN`] and [`FRAME_DEFLATE_MAX`] bytes are deflated when that
//! makes them smaller: a batch of changes repeats actor IDs, keys and summaries. Larger frames
//! (a whole document, already compressed) are sent as they are.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::constants::{FRAME_DEFLATE_MAX, FRAME_DEFLATE_MIN};
use crate::core::sync::{SyncMessage, Vouch};

/// Body encodings.
pub(crate) const PLAIN: u8 = 0;
pub(crate) const DEFLATED: u8 = 1;

/// What a joining device sends with its hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The invite secret from the ticket.
    pub secret: [u8; 32],
    /// The joining person's display name.
    pub name: String,
}

/// Everything that travels on an alliance stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// Dialer's first frame: which alliance, whether this is a join, and whether to stay
    /// connected for live updates.
    Hello {
        alliance: [u8; 32],
        join: Option<JoinRequest>,
        live: bool,
        /// Direct addresses the dialer can be reached at (when it serves), for the address book.
        addrs: Vec<String>,
        /// An admin handing the alliance to a keeper that does not hold it yet: the secret of
        /// the keeper's ticket (see `proto::handshake`).
        hand_over: Option<[u8; 32]>,
    },
    /// The listener accepts; sync follows.
    Welcome {
        /// Direct addresses of the listener, for the address book.
        addrs: Vec<String>,
    },
    /// The listener refuses (not a member, bad invite, unknown alliance); the connection closes.
    Refused { reason: String },
    /// An Automerge sync message with the signatures of its changes.
    Sync(SyncMessage),
    /// "Nothing more to send": ends a one-shot sync when both sides say it.
    Done,
    /// The sender refused what it received (a change failed verification) and closes.
    Rejected { reason: String },
    /// Changes pushed during a live session as they are made (each change's bytes, in causal
    /// order, and the signatures of each author's newest changes among them, which vouch for
    /// the rest), without a sync-protocol round per edit.
    Changes {
        changes: Vec<Vec<u8>>,
        signatures: Vec<Vouch>,
    },
    /// The addresses the sender knows of the alliance's other devices, sent once after the
    /// handshake, so that two devices that only ever met through a third (or a keeper) can
    /// meet directly next time. Hints only: a device is dialled by its key, which QUIC proves.
    Addresses { devices: Vec<PassedAddrs> },
}

/// What one device of the alliance is known to be reachable at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassedAddrs {
    pub device: [u8; 32],
    pub addrs: Vec<String>,
    pub relay: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("peer sent a frame of {0} bytes, more than the limit of {1}")]
    TooLarge(usize, usize),
    #[error("peer sent a frame that does not decode: {0}")]
    Malformed(String),
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("the peer closed the stream")]
    Closed,
}

/// A frame as it goes on the stream: length, encoding byte, body.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let body = postcard::to_stdvec(frame).expect("frames serialise");
    let deflated = (FRAME_DEFLATE_MIN..=FRAME_DEFLATE_MAX)
        .contains(&body.len())
        .then(|| {
            let mut z = flate2::write::DeflateEncoder::new(
                Vec::with_capacity(body.len() / 2),
                flate2::Compression::default(),
            );
            z.write_all(&body).expect("writing to memory");
            z.finish().expect("writing to memory")
        })
        .filter(|z| z.len() < body.len());
    let (encoding, body) = match deflated {
        Some(z) => (DEFLATED, z),
        None => (PLAIN, body),
    };
    let mut out = Vec::with_capacity(5 + body.len());
    out.extend_from_slice(&(body.len() as u32 + 1).to_be_bytes());
    out.push(encoding);
    out.extend_from_slice(&body);
    out
}

/// A frame from its body (the bytes after the length).
pub fn decode(body: &[u8]) -> Result<Frame, WireError> {
    let malformed = |e: &dyn std::fmt::Display| WireError::Malformed(e.to_string());
    match body.split_first() {
        Some((&PLAIN, rest)) => postcard::from_bytes(rest).map_err(|e| malformed(&e)),
        Some((&DEFLATED, rest)) => {
            // Honest senders deflate only bodies of at most FRAME_DEFLATE_MAX bytes, so nothing
            // inflates past that: a small frame cannot make this device allocate much.
            let mut plain = Vec::new();
            flate2::read::DeflateDecoder::new(rest)
                .take(FRAME_DEFLATE_MAX as u64 + 1)
                .read_to_end(&mut plain)
                .map_err(|e| malformed(&e))?;
            if plain.len() > FRAME_DEFLATE_MAX {
                return Err(WireError::TooLarge(plain.len(), FRAME_DEFLATE_MAX));
            }
            postcard::from_bytes(&plain).map_err(|e| malformed(&e))
        }
        Some((other, _)) => Err(malformed(&format!("unknown body encoding {other}"))),
        None => Err(malformed(&"empty frame")),
    }
}

/// Why a connection was closed: the QUIC application close code, so the peer (and a packet
/// capture) can tell a finished sync from a refusal without reading the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum CloseCode {
    /// Both sides had nothing more to say (a one-shot sync), or the device stops.
    Done = 0,
    /// The handshake was refused: not a member, a bad invite, an unknown alliance, a
    /// quarantined device, or no hello in time.
    Refused = 1,
    /// What the peer sent failed verification (a `Rejected` frame says why).
    Rejected = 2,
    /// The peer broke the protocol or stopped answering.
    Broken = 3,
    /// Too many devices that are not members are connected at once.
    Busy = 4,
}

impl CloseCode {
    /// The code on the wire.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The short reason that goes with the code.
    pub fn reason(self) -> &'static [u8] {
        match self {
            CloseCode::Done => b"done",
            CloseCode::Refused => b"refused",
            CloseCode::Rejected => b"rejected changes",
            CloseCode::Broken => b"protocol error",
            CloseCode::Busy => b"busy",
        }
    }
}
