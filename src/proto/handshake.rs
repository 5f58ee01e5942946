//! The handshake, decided without I/O.
//!
//! ```text
//! dialer                                   listener
//!   Hello{alliance, join?, live, addrs, hand_over?} ->
//!                                         decide(): holds the alliance; the dialer (its key
//!                                         proven by QUIC) is not quarantined; it is a member
//!                                         device or a keeper, or its join request names itself
//!                                         and carries an invite (redeemed by the edge, which
//!                                         then adds the member); or the listener is a keeper
//!                                         that does not hold the alliance and the hello
//!                                         carries its ticket's secret (Adopt: the edge
//!                                         receives the whole alliance, verified, and keeps
//!                                         it only if it names this keeper)
//!                                   <-    Welcome{addrs}  |  Refused{reason} and close
//! ```
//! No document data is sent before `Welcome`. What the listener knows of the dialer
//! ([`Standing`]) is read by the edge from the alliance it holds; the decision is a pure
//! function of that and the hello, so every device answers the same hello the same way.

use crate::core::peers::PeerQuarantine;
use crate::core::{AllianceId, DeviceId, Timestamp};
use crate::proto::frame::{Frame, JoinRequest};
use crate::proto::session::Mode;

/// Why a hello for an alliance this device does not serve is refused.
pub const NOT_SERVED: &str = "this device does not hold that alliance (or does not serve it)";

/// A dialer's first frame, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub alliance: AllianceId,
    pub join: Option<JoinRequest>,
    pub mode: Mode,
    /// Where the dialer can be reached (when it serves), for the address book.
    pub addrs: Vec<String>,
    /// The secret of a keeper's ticket: an admin hands the alliance to that keeper.
    pub hand_over: Option<[u8; 32]>,
}

impl Hello {
    /// The frame that says it.
    pub fn frame(&self) -> Frame {
        Frame::Hello {
            alliance: self.alliance.0.0,
            join: self.join.clone(),
            live: self.mode == Mode::Live,
            addrs: self.addrs.clone(),
            hand_over: self.hand_over,
        }
    }

    /// Reads the dialer's first frame; anything but a hello is refused.
    pub fn read(frame: Frame) -> Result<Hello, String> {
        match frame {
            Frame::Hello {
                alliance,
                join,
                live,
                addrs,
                hand_over,
            } => Ok(Hello {
                alliance: AllianceId(automerge::ChangeHash(alliance)),
                join,
                mode: if live { Mode::Live } else { Mode::OneShot },
                addrs,
                hand_over,
            }),
            _ => Err("expected Hello".into()),
        }
    }
}

/// What the listener knows of the dialer in the alliance it asked for.
#[derive(Debug, Clone, Copy)]
pub struct Standing<'a> {
    /// The dialer's key is a member device or a keeper of the alliance (it syncs).
    pub member: bool,
    /// The dialer's key was a device of the alliance, and was removed (or its person was).
    pub removed: bool,
    /// The dialer's quarantine here, if one is in force (its data made Automerge panic).
    pub quarantine: Option<&'a PeerQuarantine>,
}

/// The listener's answer to a hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A member device: welcome it.
    Welcome,
    /// A device that asks to join: redeem the invite and add the person named (trimmed) with
    /// this device, then welcome it; refuse if the invite does not redeem.
    Admit { name: String },
    /// This keeper does not hold the alliance, and the dialer presents the keeper's secret:
    /// receive the whole alliance (one-shot, verified as any sync), and keep it only if it
    /// names this device as a keeper.
    Adopt,
    /// Refuse, with the reason the dialer is told.
    Refuse(String),
}

/// Why a hand-over to a device that is not a keeper, or with the wrong secret, is refused.
pub const NOT_A_KEEPER: &str = "this device keeps no alliances for others, or the keeper ticket is not its own (run `alliance keeper ticket` on the keeper for its ticket)";

/// Decides the answer to `hello` from `peer`. `standing` is `None` when this device does not
/// hold (or does not serve) the alliance asked for; `keeping` is this device's keeper secret
/// when it runs as a keeper.
pub fn decide(
    peer: &DeviceId,
    hello: &Hello,
    standing: Option<Standing<'_>>,
    keeping: Option<&[u8; 32]>,
) -> Decision {
    let Some(standing) = standing else {
        return match (hello.hand_over, keeping) {
            (Some(offered), Some(mine)) if same_secret(&offered, mine) => Decision::Adopt,
            (Some(_), _) => Decision::Refuse(NOT_A_KEEPER.into()),
            (None, _) => Decision::Refuse(NOT_SERVED.into()),
        };
    };
    if let Some(q) = standing.quarantine {
        return Decision::Refuse(format!(
            "device {} is quarantined until {}: {}",
            peer.short(),
            Timestamp(q.until).to_rfc3339(),
            q.reason
        ));
    }
    if standing.removed {
        return Decision::Refuse(format!(
            "device {} was removed from this alliance; a removal is final (a new device can be invited)",
            peer.short()
        ));
    }
    match &hello.join {
        // No name: a device that joins an existing person (a link ticket); the invite says
        // whom.
        Some(request) if request.name.trim().is_empty() => Decision::Admit {
            name: String::new(),
        },
        Some(request) => match crate::core::text::check_name(&request.name) {
            Ok(name) => Decision::Admit { name },
            Err(why) => Decision::Refuse(why),
        },
        None if standing.member => Decision::Welcome,
        None => Decision::Refuse(format!(
            "device {} is not a member of this alliance; ask a member for an invite",
            peer.short()
        )),
    }
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How the dialer's handshake ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Welcomed; the listener's addresses.
    Welcome(Vec<String>),
    /// Refused, with the reason.
    Refused(String),
    /// Something else arrived.
    Unexpected,
}

/// Reads the listener's answer to our hello.
pub fn answer(frame: Frame) -> Answer {
    match frame {
        Frame::Welcome { addrs } => Answer::Welcome(addrs),
        Frame::Refused { reason } => Answer::Refused(reason),
        _ => Answer::Unexpected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::DeviceKey;

    fn hello(join: Option<&str>) -> Hello {
        Hello {
            alliance: AllianceId(automerge::ChangeHash([3; 32])),
            join: join.map(|name| JoinRequest {
                secret: [1; 32],
                name: name.into(),
            }),
            mode: Mode::Live,
            addrs: vec![],
            hand_over: None,
        }
    }

    #[test]
    fn a_member_is_welcomed_a_stranger_or_removed_device_refused_and_a_joiner_admitted() {
        let peer = DeviceKey::from_seed([9; 32]).device_id();
        let member = Standing {
            member: true,
            removed: false,
            quarantine: None,
        };
        let stranger = Standing {
            member: false,
            removed: false,
            quarantine: None,
        };
        assert_eq!(
            decide(&peer, &hello(None), Some(member), None),
            Decision::Welcome
        );
        assert!(matches!(
            decide(&peer, &hello(None), Some(stranger), None),
            Decision::Refuse(r) if r.contains("not a member")
        ));
        assert!(matches!(
            decide(&peer, &hello(None), None, None),
            Decision::Refuse(r) if r.contains("does not hold that alliance")
        ));
        assert_eq!(
            decide(&peer, &hello(Some("  Ben ")), Some(stranger), None),
            Decision::Admit { name: "Ben".into() }
        );
        // No name: a device joining an existing person with a link ticket (the invite it
        // presents says whom; a person's invite without a name is refused where it is
        // redeemed).
        assert_eq!(
            decide(&peer, &hello(Some("   ")), Some(stranger), None),
            Decision::Admit {
                name: String::new()
            }
        );
        let removed = Standing {
            member: false,
            removed: true,
            quarantine: None,
        };
        assert!(matches!(
            decide(&peer, &hello(None), Some(removed), None),
            Decision::Refuse(r) if r.contains("was removed")
        ));
        assert!(matches!(
            decide(&peer, &hello(Some("Ben")), Some(removed), None),
            Decision::Refuse(r) if r.contains("was removed")
        ));
        let long = "x".repeat(crate::constants::MAX_NAME_CHARS + 1);
        assert!(matches!(
            decide(&peer, &hello(Some(&long)), Some(stranger), None),
            Decision::Refuse(_)
        ));
        // A quarantine refuses even a member.
        let q = PeerQuarantine {
            reason: "made Automerge panic".into(),
            since: 500,
            until: 2_000,
        };
        let quarantined = Standing {
            member: true,
            removed: false,
            quarantine: Some(&q),
        };
        assert!(matches!(
            decide(&peer, &hello(None), Some(quarantined), None),
            Decision::Refuse(r) if r.contains("quarantined")
        ));
        // A keeper adopts an alliance it does not hold only with its own secret.
        let mut handing = hello(None);
        handing.hand_over = Some([5; 32]);
        assert_eq!(
            decide(&peer, &handing, None, Some(&[5; 32])),
            Decision::Adopt
        );
        assert!(matches!(
            decide(&peer, &handing, None, Some(&[6; 32])),
            Decision::Refuse(r) if r.contains("keeper ticket is not its own")
        ));
        assert!(matches!(
            decide(&peer, &handing, None, None),
            Decision::Refuse(r) if r.contains("keeps no alliances")
        ));
        // Held already: a hand-over is an ordinary sync for a member device.
        assert_eq!(
            decide(&peer, &handing, Some(member), Some(&[5; 32])),
            Decision::Welcome
        );
        // The hello survives its frame.
        let h = hello(Some("Ben"));
        assert_eq!(Hello::read(h.frame()), Ok(h));
        assert!(Hello::read(Frame::Done).is_err());
    }
}
