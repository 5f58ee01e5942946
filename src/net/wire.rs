//! Frames on a stream (see [`crate::proto::frame`] for the format): the length is checked
//! against a limit ([`MAX_FRAME_BYTES`], or less during the handshake) before anything is
//! allocated, and the body's buffer grows with the bytes that actually arrive.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::constants::MAX_FRAME_BYTES;
pub use crate::proto::frame::{Frame, JoinRequest, WireError, decode, encode};

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
    read_frame_observed(r, max, &mut |_, _| {}).await
}

/// [`read_frame_within`], telling `arrived(bytes, of)` how much of a large frame's body (at
/// least [`OBSERVED_FRAME_BYTES`]) has arrived, as it arrives: a progress display's data.
pub async fn read_frame_observed<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    arrived: &mut (dyn FnMut(usize, usize) + Send),
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
    let mut rest = r.take(len as u64);
    let got = if len < OBSERVED_FRAME_BYTES {
        rest.read_to_end(&mut body).await?
    } else {
        arrived(0, len);
        loop {
            body.reserve(READ_CHUNK.min(len - body.len()));
            if rest.read_buf(&mut body).await? == 0 {
                break body.len();
            }
            arrived(body.len(), len);
        }
    };
    if got < len {
        return Err(WireError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    decode(&body)
}

/// Frames at least this large report their bytes as they arrive ([`read_frame_observed`]).
pub const OBSERVED_FRAME_BYTES: usize = 1 << 20;

/// The buffer a frame's body starts with; it grows as the bytes arrive.
const READ_CHUNK: usize = 64 << 10;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::FRAME_DEFLATE_MAX;
    use crate::core::sync::{SyncMessage, Vouch};
    use crate::proto::frame::{DEFLATED, PLAIN};
    use std::io::Write;

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
                hand_over: None,
            },
            Frame::Welcome { addrs: vec![] },
            Frame::Sync(SyncMessage {
                message: vec![1, 2, 3],
                signatures: vec![Vouch {
                    change: [4; 32],
                    signature: vec![9; 64],
                    via: vec![],
                }],
                changes: 1,
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
            signatures: vec![
                Vouch {
                    change: [4; 32],
                    signature: vec![9; 64],
                    via: vec![],
                };
                2
            ],
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
