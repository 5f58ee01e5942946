//! Target `wire_frame`: one frame as it arrives on a stream, delivered to what reads it.

use crate::core::invite::{Invite, Invites};
use crate::core::peers::PeerBook;
use crate::core::sync::PeerSync;
use crate::core::{SeededEntropy, Timestamp, Writer};
use crate::net::wire::{self, Frame};
use crate::proto::handshake::{self, Decision, Hello, Standing};
use crate::proto::session::{Action, Event as SessionEvent, Mode, Session, Side};

use super::received_changes::sync_message;
use super::{NOW, OPEN_INVITE_SECRET, fixture, use_replica};

/// Target `wire_frame`: the bytes as a frame body (what follows the length prefix on the
/// stream). A frame that decodes must encode and decode to the same frame. Then what a device
/// does with the frame, without a network: a `Hello` goes through the listener's admission
/// checks (membership, invite, name) and the address book; `Welcome` to the address book; a
/// `Sync` through [`PeerSync::receive`] and a `Changes` through the push path
/// ([`SignedChange::from_bytes`] + [`Replica::receive`]) on a copy of the fixed alliance.
pub fn wire_frame(data: &[u8]) -> bool {
    let Ok(frame) = wire::decode(data) else {
        return false;
    };
    let bytes = wire::encode(&frame);
    assert_eq!(
        u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize,
        bytes.len() - 4,
        "the length prefix is the body's length"
    );
    let again = wire::decode(&bytes[4..]).expect("an encoded frame decodes");
    assert_eq!(again, frame, "a frame survives encoding and decoding");
    deliver(frame)
}

/// What a device does with a frame it received (as far as it can be done without iroh).
fn deliver(frame: Frame) -> bool {
    let fx = fixture();
    let now = Timestamp(NOW);
    match frame {
        Frame::Hello {
            alliance,
            join,
            live,
            addrs,
            hand_over,
        } => {
            // The listener (net::session::accept): the protocol's own decision, then the
            // invite, as the edge redeems it.
            let Ok(hello) = Hello::read(Frame::Hello {
                alliance,
                join: join.clone(),
                live,
                addrs: addrs.clone(),
                hand_over,
            }) else {
                return false;
            };
            let peer = fx.eve.device_id();
            let standing = (hello.alliance == fx.base.id()).then_some(Standing {
                member: fx.base.member_of(&peer).is_some(),
                removed: false,
                quarantine: None,
            });
            let admitted = match (
                handshake::decide(&peer, &hello, standing, Some(&[9; 32])),
                &join,
            ) {
                (Decision::Welcome, _) => true,
                (Decision::Admit { name }, Some(request)) => {
                    let mut invites = Invites {
                        invites: vec![Invite::new(
                            &OPEN_INVITE_SECRET,
                            "member",
                            Timestamp(NOW - 60),
                            3600,
                        )],
                    };
                    let Ok(Invite { role, .. }) =
                        invites.redeem(&request.secret, &peer.to_hex(), now)
                    else {
                        return false;
                    };
                    let mut r = fx.base.clone();
                    let ada = Writer {
                        key: &fx.ada,
                        actor_tag: [1; 8],
                        now,
                    };
                    let mut rng = SeededEntropy::new(3);
                    r.add_member(&ada, &mut rng, &name, &role, Some(peer))
                        .is_ok()
                }
                _ => return false,
            };
            let mut book = PeerBook::default();
            book.seen(&peer.to_hex(), &addrs, None, now);
            let _ = serde_json::to_vec(&book);
            admitted
        }
        Frame::Welcome { addrs } => {
            let mut book = PeerBook::default();
            book.seen(&fx.ada.device_id().to_hex(), &addrs, None, now);
            book.learn(&fx.ben.device_id().to_hex(), &addrs, None);
            serde_json::to_vec(&book).is_ok()
        }
        Frame::Addresses { devices } => {
            // Hints kept in the address book, as the store's target keeps them.
            let mut book = PeerBook::default();
            for d in devices.iter().take(crate::constants::MAX_PASSED_DEVICES) {
                book.learn(&hex::encode(d.device), &d.addrs, d.relay.clone());
            }
            serde_json::to_vec(&book).is_ok()
        }
        Frame::Sync(msg) => sync_message(msg),
        frame @ Frame::Changes { .. } => {
            // A live session takes the push (parse, verify, apply), as devices do.
            let mut r = fx.base.clone();
            let peer = fx.ben.device_id();
            let mut session = Session::new(peer, Side::Listener, Mode::Live, PeerSync::new());
            let t = std::time::Instant::now();
            let _ = session.start(&mut r, t);
            let actions = session.handle(SessionEvent::Frame(frame), &mut r, t);
            let ok = !actions
                .iter()
                .any(|a| matches!(a, Action::Finished(Err(_))));
            if ok {
                use_replica(&r);
            }
            ok
        }
        Frame::Refused { reason } | Frame::Rejected { reason } => !reason.is_empty(),
        Frame::Done => true,
    }
}
