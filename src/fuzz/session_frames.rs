//! Target `session_frames`: frames fed to a live session between two devices.

use crate::constants::MAX_FRAME_BYTES;
use crate::core::sync::PeerSync;
use crate::core::{SignedChange, Verified};
use crate::net::wire::{self};
use crate::proto::session::{Action, Event as SessionEvent, Mode, Session, Side};

use super::{fixture, use_replica};

/// Target `session_frames`: a sequence of events into one session on a copy of the fixed
/// alliance, as the tokio driver feeds it: frames from the peer, timers, fresh local changes,
/// a lagging notice stream, the peer closing.
///
/// Input: a byte choosing the session (bit 0: listener, else dialer; bit 1: live, else
/// one-shot), then records: a tag byte, and for tag 0 a 2-byte big-endian length and that many
/// bytes of a frame body (a body that does not decode ends the input, as a wire error ends the
/// connection). Tags 1 to 5: the timer fires (at its deadline), Ada's next change enters the
/// replica, the session lagged, the peer closed, the device stops. Every frame the session sends
/// must encode within the frame limit; once it finished it must do nothing more. Returns
/// whether the session is still healthy (open, or finished without an error).
pub fn session_frames(data: &[u8]) -> bool {
    let fx = fixture();
    let Some((&first, mut rest)) = data.split_first() else {
        return false;
    };
    let side = if first & 1 == 1 {
        Side::Listener
    } else {
        Side::Dialer
    };
    let mode = if first & 2 == 2 {
        Mode::Live
    } else {
        Mode::OneShot
    };
    let mut r = fx.base.clone();
    let mut session = Session::new(fx.ben.device_id(), side, mode, PeerSync::new());
    let mut now = std::time::Instant::now();
    let mut timer = None;
    let mut healthy = true;
    let mut check = |actions: Vec<Action<std::convert::Infallible>>,
                     timer: &mut Option<std::time::Instant>,
                     finished: bool| {
        assert!(!finished || actions.is_empty(), "a finished session acts");
        for a in actions {
            match a {
                Action::Send(f) => {
                    let bytes = wire::encode(&f);
                    assert!(bytes.len() - 4 <= MAX_FRAME_BYTES, "a frame over the limit");
                }
                Action::ScheduleTimer(at) => *timer = at,
                Action::Finished(Err(_)) => healthy = false,
                _ => {}
            }
        }
    };
    let actions = session.start(&mut r, now);
    check(actions, &mut timer, false);
    let mut fresh_sent = false;
    while let Some((&tag, tail)) = rest.split_first() {
        rest = tail;
        let event = match tag % 6 {
            0 => {
                if rest.len() < 2 {
                    break;
                }
                let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                let body = &rest[2..(2 + len).min(rest.len())];
                rest = &rest[(2 + len).min(rest.len())..];
                match wire::decode(body) {
                    Ok(frame) => SessionEvent::Frame(frame),
                    Err(_) => break,
                }
            }
            1 => {
                now = timer.unwrap_or(now).max(now);
                SessionEvent::Timer
            }
            2 if !fresh_sent => {
                fresh_sent = true;
                let mut with_next = r.clone();
                let Ok(received) = with_next.receive(vec![as_received(&fx.next)]) else {
                    continue;
                };
                r = with_next;
                SessionEvent::Fresh(std::sync::Arc::new(crate::proto::session::FreshChanges {
                    from: None,
                    changes: received.new,
                }))
            }
            2 | 3 => SessionEvent::Resync,
            4 => SessionEvent::Closed,
            _ => SessionEvent::Stop,
        };
        let finished = session.is_finished();
        let actions = session.handle(event, &mut r, now);
        check(actions, &mut timer, finished);
    }
    use_replica(&r);
    healthy
}

/// A verified change as a peer sends it: bytes and signature, untrusted again.
fn as_received(c: &SignedChange<Verified>) -> SignedChange<crate::core::Unverified> {
    c.to_unverified()
}
