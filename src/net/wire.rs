//! Frames on an alliance stream: a 4-byte big-endian length, then the body: one byte for its
//! encoding (0: a postcard-encoded [`Frame`]; 1: the same, deflated), then the bytes. The
//! length is checked against [`MAX_FRAME_BYTES`] before anything is allocated, and a deflated
//! body is never inflated past [`FRAME_DEFLATE_MAX`] (no honest sender deflates more).
//!
//! Bodies between [`FRAME_DEFLATE_MIN`] and [`FRAME_DEFLATE_MAX`] bytes are deflated when that
//! makes them smaller: a batch of changes repeats actor IDs, keys and summaries. Larger frames
//! (a whole document, already compressed, and its signatures, which do not compress) are sent
//! as they are.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use std::io::{Read, Write};

use crate::core::sync::SyncMessage;
use crate::protocol::{FRAME_DEFLATE_MAX, FRAME_DEFLATE_MIN, MAX_FRAME_BYTES};

/// Body encodings.
const PLAIN: u8 = 0;
const DEFLATED: u8 = 1;

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
    /// Changes pushed during a live session as they are made (each change's bytes and its
    /// signature, in causal order), without a sync-protocol round per edit.
    Changes {
        changes: Vec<Vec<u8>>,
        signatures: Vec<Vec<u8>>,
    },
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

pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &Frame) -> Result<(), WireError> {
    let bytes = encode(frame);
    if bytes.len() - 4 > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge(bytes.len() - 4, MAX_FRAME_BYTES));
    }
    w.write_all(&bytes).await?;
    w.flush().await?;
    Ok(())
}

pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Frame, WireError> {
    read_frame_within(r, MAX_FRAME_BYTES).await
}

/// Reads one frame of at most `max` bytes. The length prefix is checked first, and the body's
/// buffer grows with the bytes that actually arrive: a peer that announces a large frame and
/// sends nothing costs nothing.
pub async fn read_frame_within<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Frame, WireError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(WireError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(WireError::TooLarge(len, max));
    }
    let mut body = Vec::with_capacity(len.min(READ_CHUNK));
    let got = r.take(len as u64).read_to_end(&mut body).await?;
    if got < len {
        return Err(WireError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    decode(&body)
}

/// The buffer a frame's body starts with; it grows as the bytes arrive.
const READ_CHUNK: usize = 64 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_oversized_frames_are_refused_before_allocation() {
        let frames = vec![
            Frame::Hello {
                alliance: [7; 32],
                join: Some(JoinRequest {
                    secret: [1; 32],
                    name: "Ben".into(),
                }),
                live: true,
                addrs: vec!["127.0.0.1:4000".into()],
            },
            Frame::Welcome { addrs: vec![] },
            Frame::Sync(SyncMessage {
                message: vec![1, 2, 3],
                signatures: vec![vec![9; 64]],
            }),
            Frame::Done,
            Frame::Refused {
                reason: "no".into(),
            },
        ];
        let mut buf = Vec::new();
        for f in &frames {
            write_frame(&mut buf, f).await.unwrap();
        }
        let mut r = buf.as_slice();
        for f in &frames {
            assert_eq!(&read_frame(&mut r).await.unwrap(), f);
        }
        assert!(matches!(read_frame(&mut r).await, Err(WireError::Closed)));
        // A length prefix of 4 GiB is refused without allocating it.
        let huge = [0xffu8, 0xff, 0xff, 0xff, 0];
        assert!(matches!(
            read_frame(&mut &huge[..]).await,
            Err(WireError::TooLarge(..))
        ));
        // Garbage of a valid length is an error, not a panic.
        let garbage = [0u8, 0, 0, 3, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut &garbage[..]).await,
            Err(WireError::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn batches_of_changes_travel_deflated_and_a_deflate_bomb_is_refused() {
        // A batch whose bytes repeat (as actor IDs, keys and summaries do) is deflated.
        let batch = Frame::Changes {
            changes: vec![b"actor-of-ada-actor-of-ada added need: quiet mornings".to_vec(); 20],
            signatures: vec![vec![9; 64]; 20],
        };
        let bytes = encode(&batch);
        assert_eq!(bytes[4], DEFLATED);
        assert!(bytes.len() < postcard::to_stdvec(&batch).unwrap().len() / 2);
        let mut buf = Vec::new();
        write_frame(&mut buf, &batch).await.unwrap();
        assert_eq!(read_frame(&mut buf.as_slice()).await.unwrap(), batch);
        // A small frame goes as it is.
        assert_eq!(encode(&Frame::Done)[4], PLAIN);
        // A deflated body that would inflate past what any honest sender deflates is refused.
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..=(FRAME_DEFLATE_MAX >> 20) {
            z.write_all(&zeros).unwrap();
        }
        let mut bomb = vec![DEFLATED];
        bomb.extend(z.finish().unwrap());
        assert!(bomb.len() < 1 << 20, "a small frame on the wire");
        assert!(matches!(decode(&bomb), Err(WireError::TooLarge(..))));
        // An unknown body encoding is an error.
        assert!(matches!(decode(&[7, 1, 2]), Err(WireError::Malformed(_))));
    }
}
