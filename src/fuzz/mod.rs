//! Fuzz targets: one function per target, each taking arbitrary bytes and driving the real
//! public API the way bytes from outside reach it. Used by the cargo-fuzz crate in `fuzz/` and
//! replayed on stable by the unit tests of `fuzz::regressions`. Not part of the supported API.
//!
//! Every function must return normally for every input: Automerge may panic on malformed input,
//! but the library catches that (`core::guard::guarded`, `SignedChange::from_bytes`), so a
//! panic that escapes one of these functions is a bug in alliance (a missing guard, or a
//! round trip that does not hold). The functions therefore never catch panics of the library.
//!
//! Where the input is an Automerge chunk, the function first fixes the chunk's checksum (and,
//! for a change, signs its hash with a member's device key): without that, nearly every mutated
//! input would be refused at the checksum or the signature, and the fuzzer would never reach
//! Automerge's parser and apply, which is where malformed input does damage.
//!
//! Each target returns whether the input was *accepted* (parsed, applied, loaded), which the
//! regression tests use to check that the seed inputs ([`seeds`]) still reach the deep paths.

use std::cell::RefCell;
use std::collections::HashMap;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use automerge::Automerge;
use ed25519_dalek::Signature;

use crate::core::index::ChangeIndex;
use crate::core::invite::{Invite, Invites};
use crate::core::peers::PeerBook;
use crate::core::sync::{PeerSync, SyncMessage};
use crate::core::{
    DeviceId, DeviceKey, Replica, SeededEntropy, SignedChange, Timestamp, Verified, Writer,
};
use crate::net::ticket::InviteTicket;
use crate::net::wire::{self, Frame};
use crate::proto::handshake::{self, Decision, Hello, Standing};
use crate::proto::session::{Action, Event as SessionEvent, Mode, Session, Side};
use crate::protocol::{MAX_FRAME_BYTES, SIGNATURE_LEN};
use crate::store::{Home, LockMode, format, layout};

pub use crate::core::raw::{CHANGE, CHUNK_MAGIC, COMPRESSED_CHANGE, DOCUMENT};

const NOW: i64 = 1_795_514_400;
/// The invite secret of the fixed alliance's one open invite.
pub const OPEN_INVITE_SECRET: [u8; 32] = [7; 32];

/// The fixed alliance every target works on: two member devices (Ada founded it, Ben was
/// added), a few edits, and one more change of each device that is not in [`Fixture::base`].
pub struct Fixture {
    pub ada: DeviceKey,
    pub ben: DeviceKey,
    /// A device that is not a member.
    pub eve: DeviceKey,
    /// The alliance as both devices hold it.
    pub base: Replica,
    /// A change of Ada's on top of `base` (not in it).
    pub next: SignedChange<Verified>,
    /// A change of Ben's on top of `base` and `next`.
    pub after_next: SignedChange<Verified>,
}

impl Fixture {
    /// `base` with `next` and `after_next` received, as a peer would send them.
    pub fn with_both(&self) -> Replica {
        let mut r = self.base.clone();
        r.receive(vec![
            self.next.to_unverified(),
            self.after_next.to_unverified(),
        ])
        .expect("honest changes");
        r
    }
}

impl Fixture {
    fn key_for(&self, author: &[u8]) -> Option<&DeviceKey> {
        [&self.ada, &self.ben, &self.eve]
            .into_iter()
            .find(|k| author.starts_with(k.device_id().as_bytes()))
    }

    /// The member key whose public key appears first in `bytes` (the change's actor ID, when
    /// the mutation left it alone); Ada's otherwise.
    fn signer_in(&self, bytes: &[u8]) -> &DeviceKey {
        let (a, b) = (self.ada.device_id(), self.ben.device_id());
        let at = |k: &DeviceId| {
            bytes
                .windows(32)
                .position(|w| w == k.as_bytes())
                .unwrap_or(usize::MAX)
        };
        if at(&b) < at(&a) {
            &self.ben
        } else {
            &self.ada
        }
    }
}

/// The fixed alliance, built once (deterministic: same keys, clock and randomness every time,
/// so its ID and changes are the same in every process).
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ada = DeviceKey::from_seed([1; 32]);
        let ben = DeviceKey::from_seed([2; 32]);
        let eve = DeviceKey::from_seed([6; 32]);
        let wa = |t: i64| Writer {
            key: &ada,
            actor_tag: [1; 8],
            now: Timestamp(NOW + t),
        };
        let wb = |t: i64| Writer {
            key: &ben,
            actor_tag: [2; 8],
            now: Timestamp(NOW + t),
        };
        let mut rng = SeededEntropy::new(7);
        let (mut base, _, _) =
            Replica::create(&wa(0), &mut rng, "The fuzzed family", "Ada", "parent").unwrap();
        base.add_member(&wa(1), &mut rng, "Ben", "teen", Some(ben.device_id()))
            .unwrap();
        base.set_vision(&wa(2), "We listen first.").unwrap();
        base.add_need(&wb(3), &mut rng, "time alone after school")
            .unwrap();
        base.set_vision(&wb(4), "Together, we listen first.")
            .unwrap();
        let mut more = base.clone();
        let next = more
            .add_need(&wa(5), &mut rng, "quiet mornings")
            .unwrap()
            .change
            .unwrap();
        let after_next = more
            .set_vision(&wb(6), "Together, we always listen first.")
            .unwrap()
            .change
            .unwrap();
        Fixture {
            ada,
            ben,
            eve,
            base,
            next,
            after_next,
        }
    })
}

pub use crate::core::raw::{chunk, chunk_body, chunk_hash};

/// Everything a device does with a replica after it accepted something: read it, index it,
/// review it, save it. A document Automerge accepted must not make any of these panic.
fn use_replica(r: &Replica) {
    let view = r.view();
    let index = ChangeIndex::build(r);
    let _ = r.conflicts(Some(&index));
    let _ = r.blame_vision(&index);
    let _ = r.diff(&index, &[]);
    if let Some(member) = view.members.first() {
        let _ = r.history(&index, &member.id);
        let _ = r.status(&index, &member.id, None, Timestamp(NOW));
    }
    let _ = r.log();
    let _ = r.verify_history();
    let _ = r.save();
    let _ = r.changes_since(&[]);
}

/// Target `ticket`: the bytes (as UTF-8, lossily) parsed as an invite ticket. A ticket that
/// parses must print back to a string that parses to the same ticket.
pub fn ticket(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    match text.parse::<InviteTicket>() {
        Ok(t) => {
            let again: InviteTicket = t
                .to_string()
                .parse()
                .expect("a printed ticket parses again");
            assert_eq!(again, t, "a ticket survives printing and parsing");
            true
        }
        Err(_) => false,
    }
}

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
        } => {
            // The listener (net::session::accept): the protocol's own decision, then the
            // invite, as the edge redeems it.
            let Ok(hello) = Hello::read(Frame::Hello {
                alliance,
                join: join.clone(),
                live,
                addrs: addrs.clone(),
            }) else {
                return false;
            };
            let peer = fx.eve.device_id();
            let standing = (hello.alliance == fx.base.id()).then_some(Standing {
                member: fx.base.member_of(&peer).is_some(),
                removed: false,
                quarantine: None,
            });
            let admitted = match (handshake::decide(&peer, &hello, standing), &join) {
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

/// A sync message from a peer, on a copy of the fixed alliance and on an empty replica of it
/// (a joining device), each with a fresh sync state.
fn sync_message(msg: SyncMessage) -> bool {
    let fx = fixture();
    let mut accepted = false;
    for mut r in [fx.base.clone(), Replica::empty(fx.base.id())] {
        let mut peer = PeerSync::new();
        if peer.receive(&mut r, msg.clone()).is_ok() {
            accepted = true;
            use_replica(&r);
            let _ = peer.generate(&r);
            let _ = PeerSync::decode(&peer.encode());
        }
    }
    accepted
}

/// Target `received_changes`: the bytes become one change that a member device signed and a
/// peer sent, and the fixed alliance receives it.
///
/// Input: a flags byte, then the body of an Automerge change chunk. Flags: bits 0-1 the chunk
/// type (1 change; 0 document, 2 compressed change and 3 bundle are there to be refused);
/// bit 2: the batch also holds Ada's honest change [`Fixture::next`] first (so the fuzzed
/// change can build on a change of the same batch, which takes the staging path); bit 3: the
/// change arrives in a sync message (Automerge's V1 message with this one change) instead of
/// a push. The chunk gets a correct length and checksum and its hash is signed by the member
/// whose key appears first in the body (the actor ID), so it passes the checksum and the
/// signature check and reaches Automerge's parse and apply.
pub fn received_changes(data: &[u8]) -> bool {
    let Some((&flags, body)) = data.split_first() else {
        return false;
    };
    let fx = fixture();
    let chunk_type = flags & 0b11;
    let bytes = chunk(chunk_type, body);
    let hash_type = if chunk_type == COMPRESSED_CHANGE {
        CHANGE
    } else {
        chunk_type
    };
    let hash = chunk_hash(hash_type, body);
    let signature = fx.signer_in(body).sign_change(&hash).to_bytes();
    let with_next = flags & 0b100 != 0;
    if flags & 0b1000 != 0 {
        let mut changes = Vec::new();
        let mut signatures = Vec::new();
        if with_next {
            changes.push(fx.next.raw_bytes().to_vec());
            signatures.extend(crate::core::sync::vouches(std::slice::from_ref(&fx.next)));
        }
        changes.push(bytes);
        signatures.push(crate::core::sync::Vouch {
            change: hash.0,
            signature: signature.to_vec(),
            via: Vec::new(),
        });
        let count = changes.len() as u64;
        let message = automerge::sync::Message {
            heads: fx.base.heads(),
            need: Vec::new(),
            have: Vec::new(),
            changes: automerge::sync::ChunkList::from(changes),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        };
        return sync_message(SyncMessage {
            message: message.encode(),
            signatures,
            changes: count,
        });
    }
    let Ok(change) = SignedChange::from_bytes(bytes, &signature) else {
        return false;
    };
    let mut batch = Vec::new();
    if with_next {
        batch.push(fx.next.to_unverified());
    }
    batch.push(change);
    let mut r = fx.base.clone();
    let ok = r.receive(batch).is_ok();
    if ok {
        use_replica(&r);
    }
    ok
}

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

/// The fixed alliance's store files, as a device that holds it would have them.
struct StoreFiles {
    snapshot: Vec<u8>,
    log: Vec<u8>,
    index: Vec<u8>,
}

fn store_files() -> &'static StoreFiles {
    static FILES: OnceLock<StoreFiles> = OnceLock::new();
    FILES.get_or_init(|| {
        let fx = fixture();
        let snapshot =
            format::encode_snapshot(&fx.base.save(), fx.base.signatures(), fx.base.proofs());
        let mut log = format::log_header();
        for c in [&fx.next, &fx.after_next] {
            log.extend(format::encode_record(c.signature(), c.raw_bytes()));
        }
        let full = fx.with_both();
        let index = ChangeIndex::build(&full).to_bytes();
        StoreFiles {
            snapshot,
            log,
            index,
        }
    })
}

/// Rewrites a change log so that every record's CRC is right and every Automerge chunk in a
/// record has a correct length and checksum: the records are read as `u32 LE length | u32 CRC
/// | payload` as far as they go (a short last record takes what is left).
fn fix_log(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 64);
    let magic_len = format::log_header().len();
    out.extend_from_slice(&bytes[..bytes.len().min(magic_len)]);
    let mut rest = bytes.get(magic_len..).unwrap_or_default();
    while rest.len() >= 8 {
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        let payload = &rest[8..8 + len.min(rest.len() - 8)];
        rest = &rest[8 + payload.len()..];
        let payload = fix_payload(payload);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
    }
    out.extend_from_slice(rest);
    out
}

/// A log record's payload (64-byte signature, change chunk) with its chunk's checksum fixed.
fn fix_payload(payload: &[u8]) -> Vec<u8> {
    if payload.len() < SIGNATURE_LEN {
        return payload.to_vec();
    }
    let (sig, change) = payload.split_at(SIGNATURE_LEN);
    let mut out = sig.to_vec();
    match chunk_body(change) {
        Some((t, body)) => out.extend(chunk(t, body)),
        None if change.len() > 9 && change[..4] == CHUNK_MAGIC => {
            // A length that runs past the end: the rest is the body.
            let body = &change[10.min(change.len())..];
            out.extend(chunk(change[8], body));
        }
        None => out.extend_from_slice(change),
    }
    out
}

thread_local! {
    /// A home directory per thread (the regression tests run in parallel), reused by every
    /// input of that thread.
    static HOME: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// Target `store_load`: the store's load path. The bytes are decoded as a change log, a
/// snapshot and a bundle, then written as one file of the fixed alliance in a home (the other
/// files as a device that holds the alliance has them) and the alliance is opened: an error is
/// fine, a panic is not. When it opens, what commands do next runs too: read the document,
/// bring the history index cache up to date, verify the history, read the device-local files
/// (nothing is written back: each write is fsynced, which would make the target crawl).
///
/// Input: a mode byte, then the file. Mode (mod 8): 0 `changes.log` as it is; 1 `changes.log`
/// with every record's CRC and every change chunk's checksum fixed; 2 `snapshot` as it is;
/// 3 the body of the snapshot's Automerge document, wrapped in a snapshot with a correct
/// chunk checksum and CRC and the real signatures; 4 `index.cache` as it is; 5 the body of
/// `index.cache`, with the right magic and CRC; 6 `local.json`, `invites.json`, `peers.json`
/// and `seen.json` (all four these bytes); 7 a peer's persisted sync state.
pub fn store_load(data: &[u8]) -> bool {
    let _ = format::decode_log(data);
    let _ = format::decode_snapshot(data);
    let _ = format::decode_bundle(data);
    let Some((&mode, file)) = data.split_first() else {
        return false;
    };
    let fx = fixture();
    let files = store_files();
    let mut snapshot = files.snapshot.clone();
    let mut log = files.log.clone();
    let mut index = files.index.clone();
    let mut local: Option<&[u8]> = None;
    let mut sync_state: Option<&[u8]> = None;
    match mode % 8 {
        0 => log = file.to_vec(),
        1 => log = fix_log(file),
        2 => snapshot = file.to_vec(),
        3 => {
            let doc = chunk(DOCUMENT, file);
            let sigs: HashMap<_, _> = fx.base.signatures().clone();
            snapshot = format::encode_snapshot(&doc, &sigs, &HashMap::new());
        }
        4 => index = file.to_vec(),
        5 => {
            // "ALLIDX02" | u32 LE CRC-32 of the body | body
            index = index[..8].to_vec();
            index.extend_from_slice(&crc32fast::hash(file).to_le_bytes());
            index.extend_from_slice(file);
        }
        6 => local = Some(file),
        _ => sync_state = Some(file),
    }
    HOME.with(|home| {
        let mut home = home.borrow_mut();
        let root = home
            .get_or_insert_with(|| tempfile::tempdir().expect("a temporary directory"))
            .path()
            .to_path_buf();
        let id = fx.base.id();
        let dir = root.join(layout::ALLIANCES_DIR).join(id.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(layout::SYNC_DIR))
            .expect("creating the alliance directory");
        let put = |name: &str, bytes: &[u8]| {
            std::fs::write(dir.join(name), bytes).expect("writing a store file");
        };
        put(layout::SNAPSHOT, &snapshot);
        put(layout::CHANGES_LOG, &log);
        put(layout::INDEX_CACHE, &index);
        if let Some(local) = local {
            for name in [
                layout::LOCAL_STATE,
                layout::INVITES,
                layout::PEER_BOOK,
                layout::SEEN,
            ] {
                put(name, local);
            }
        }
        let peer = fx.ben.device_id().to_hex();
        if let Some(state) = sync_state {
            std::fs::write(dir.join(layout::SYNC_DIR).join(&peer), state)
                .expect("writing a store file");
        }
        let Ok(open) = Home::new(&root).open(&id, LockMode::Shared) else {
            return false;
        };
        // Lighter than `use_replica`: the store's own data is what is fuzzed here, and every
        // signature check costs a lot under the fuzzer's instrumentation.
        let _ = open.replica().view();
        let _ = open.replica().log();
        // What `OpenAlliance::change_index` does, without writing the cache back (an fsync
        // per input would make this target a hundred times slower).
        let mut index = ChangeIndex::from_bytes(&index).unwrap_or_default();
        index.update(open.replica());
        let _ = open.replica().blame_vision(&index);
        let _ = open.replica().diff(&index, &[]);
        let _ = open.local_state();
        let _ = open.invites();
        let _ = open.peer_book();
        let _ = open.seen();
        if let Ok(Some(state)) = open.sync_state(&peer) {
            let mut sync = PeerSync::decode(&state);
            let _ = sync.generate(open.replica());
        }
        true
    })
}

/// Valid inputs for every target, built from the fixed alliance: the starting corpus
/// (`fuzz/seeds/<target>/`), and what the regression tests check is still accepted.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let fx = fixture();
    let mut out = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        out.push((target, name.to_string(), bytes));
    };

    let t = InviteTicket {
        alliance: fx.base.id().0.0,
        inviter: iroh::EndpointAddr::new(iroh::SecretKey::from_bytes(&fx.ada.to_seed()).public())
            .with_ip_addr("127.0.0.1:4242".parse().unwrap()),
        secret: OPEN_INVITE_SECRET,
    };
    add("ticket", "ticket", t.to_string().into_bytes());

    let body = |f: &Frame| wire::encode(f)[4..].to_vec();
    let changes = fx.base.changes_since(&[]);
    let hello_join = Frame::Hello {
        alliance: fx.base.id().0.0,
        join: Some(wire::JoinRequest {
            secret: OPEN_INVITE_SECRET,
            name: "Eve".into(),
        }),
        live: true,
        addrs: vec!["127.0.0.1:4000".into(), "[::1]:4000".into()],
    };
    add("wire_frame", "hello_join", body(&hello_join));
    add(
        "wire_frame",
        "welcome",
        body(&Frame::Welcome {
            addrs: vec!["192.168.1.20:51820".into()],
        }),
    );
    add(
        "wire_frame",
        "changes_push",
        body(
            &crate::proto::session::push_frame(&[fx.next.clone(), fx.after_next.clone()])
                .expect("both changes are signed"),
        ),
    );
    // A sync round from a device that has nothing, and the answer it gets (the whole document).
    let mut empty = Replica::empty(fx.base.id());
    let mut asker = PeerSync::new();
    let first = asker.generate(&empty).expect("a first message");
    add(
        "wire_frame",
        "sync_first",
        body(&Frame::Sync(first.clone())),
    );
    let mut answerer = PeerSync::new();
    let mut base = fx.base.clone();
    answerer.receive(&mut base, first).expect("a first message");
    let doc_msg = answerer.generate(&base).expect("an answer");
    add(
        "wire_frame",
        "sync_document",
        body(&Frame::Sync(doc_msg.clone())),
    );
    asker.receive(&mut empty, doc_msg).expect("the document");
    // A sync message carrying two changes one by one.
    let mut more = fx.with_both();
    let (mut s1, mut s2) = (PeerSync::new(), PeerSync::new());
    let m = s1.generate(&fx.base).unwrap();
    s2.receive(&mut more, m).unwrap();
    let changes_msg = s2.generate(&more).unwrap();
    add(
        "wire_frame",
        "sync_changes",
        body(&Frame::Sync(changes_msg.clone())),
    );
    add("wire_frame", "done", body(&Frame::Done));
    // Sessions: a one-shot listener answering an empty device's round, then Done; a live
    // listener taking a push and a sync round, its settle timer, a fresh change and a close.
    let record = |f: &Frame| {
        let b = body(f);
        [vec![0], (b.len() as u16).to_be_bytes().to_vec(), b].concat()
    };
    let asking = PeerSync::new()
        .generate(&Replica::empty(fx.base.id()))
        .unwrap();
    add(
        "session_frames",
        "one_shot_listener",
        [
            vec![0b01],
            record(&Frame::Sync(asking)),
            record(&Frame::Done),
            vec![1],
        ]
        .concat(),
    );
    add(
        "session_frames",
        "live_listener",
        [
            vec![0b11],
            record(
                &crate::proto::session::push_frame(std::slice::from_ref(&fx.next))
                    .expect("a signed change"),
            ),
            record(&Frame::Sync(changes_msg.clone())),
            vec![1, 2, 3, 1, 4],
        ]
        .concat(),
    );

    let change_body = |c: &SignedChange<Verified>| chunk_body(c.raw_bytes()).unwrap().1.to_vec();
    let with = |flags: u8, b: Vec<u8>| [vec![flags], b].concat();
    add(
        "received_changes",
        "push_next",
        with(CHANGE, change_body(&fx.next)),
    );
    add(
        "received_changes",
        "push_after_next_in_batch",
        with(CHANGE | 0b100, change_body(&fx.after_next)),
    );
    add(
        "received_changes",
        "sync_after_next_in_batch",
        with(CHANGE | 0b1100, change_body(&fx.after_next)),
    );
    // A change the base already holds (a duplicate) and one of another alliance's genesis.
    add(
        "received_changes",
        "push_duplicate",
        with(CHANGE, change_body(&changes[changes.len() - 1])),
    );

    let doc_body = |doc: &[u8]| chunk_body(doc).unwrap().1.to_vec();
    add("received_document", "saved", doc_body(&fx.base.save()));
    add(
        "received_document",
        "saved_uncompressed",
        doc_body(&fx.base.doc().save_nocompress()),
    );

    let files = store_files();
    add("store_load", "log", with(0, files.log.clone()));
    add("store_load", "log_fixed", with(1, files.log.clone()));
    add("store_load", "snapshot", with(2, files.snapshot.clone()));
    add(
        "store_load",
        "snapshot_doc",
        with(3, doc_body(&fx.base.doc().save_nocompress())),
    );
    add("store_load", "index", with(4, files.index.clone()));
    add(
        "store_load",
        "index_body",
        with(5, files.index[12..].to_vec()),
    );
    add(
        "store_load",
        "local_json",
        with(6, br#"{"actor_tag": "0101010101010101"}"#.to_vec()),
    );
    let mut sync = PeerSync::new();
    let _ = sync.generate(&fx.base);
    add("store_load", "sync_state", with(7, sync.encode()));
    out
}

/// A fuzz target: returns whether the input was accepted; must never panic.
pub type Target = fn(&[u8]) -> bool;

/// The target functions by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("ticket", ticket),
    ("wire_frame", wire_frame),
    ("session_frames", session_frames),
    ("received_changes", received_changes),
    ("received_document", received_document),
    ("store_load", store_load),
];

#[cfg(test)]
mod regressions;
