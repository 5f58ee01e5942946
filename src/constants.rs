//! Wire and format constants, in one place.
//!
//! Everything that another device (or a later version of this program) must agree on lives here:
//! the domain-separation prefix for change signatures, the store's file magics and the limits on
//! what is accepted from outside. Changing any of these is a protocol version bump.

/// Prefix of every signed message. A signature over a change is
/// `ed25519(SIGNATURE_DOMAIN || change_hash)`, so a signature made by an alliance device can never
/// be replayed as a signature over some other kind of message, and vice versa.
pub const SIGNATURE_DOMAIN: &[u8] = b"alliance/change-signature/v1\0";

/// Prefix of the key that binds this device's cached verdicts (see
/// [`crate::core::verdicts`]): derived from the device's secret seed, never the signing key itself.
pub const VERDICT_KEY_DOMAIN: &[u8] = b"alliance/verdict-key/v1\0";

/// Length of an ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Length of an ed25519 public key (a device key; the first bytes of each of its actor IDs).
pub const DEVICE_KEY_LEN: usize = 32;

/// Length of the tag that follows the device key in an actor ID.
pub const ACTOR_TAG_LEN: usize = 8;

/// Length of every alliance actor ID: `device key || actor tag`. The key makes the author part of
/// every change's hashed header; the tag lets a device start a fresh actor (for example after a
/// restore from backup) without ever reusing an (actor, seq) pair.
pub const ACTOR_ID_LEN: usize = DEVICE_KEY_LEN + ACTOR_TAG_LEN;

/// Length of an Automerge change hash (SHA-256).
pub const CHANGE_HASH_LEN: usize = 32;

/// The largest single change accepted from outside (a bundle, later a peer): 1 MiB.
/// Local edits are tiny; anything bigger is rejected before Automerge parses it.
pub const MAX_CHANGE_BYTES: usize = 1 << 20;

/// The largest number of changes accepted in one received batch.
pub const MAX_BATCH_CHANGES: usize = 1_000_000;

/// The most operations one change from outside may hold. A change's bytes do not bound its
/// operations: run-length encoding lets a few bytes stand for millions of deletions. The
/// largest honest edit (replacing a vision of [`MAX_TEXT_CHARS`] characters) is far below.
pub const MAX_CHANGE_OPS: usize = 1 << 20;

/// The most operations one received batch or document may hold in all (checked before the
/// batch is applied; for a whole document, right after Automerge loaded it into a separate
/// copy and before anything is kept).
pub const MAX_BATCH_OPS: u64 = 16 << 20;

/// The longest a received batch may keep its receiver busy before the work is abandoned (with
/// nothing applied) and the peer told why. Checked between the steps of a receive; an honest
/// history of 100,000 changes takes about 2 s on a 2-core machine.
pub const MAX_BATCH_SECS: u64 = 60;

/// Longest text accepted for one field from the command line (a need, an expectation, the vision).
pub const MAX_TEXT_CHARS: usize = 100_000;

/// Schema version written into every new alliance document (`ROOT.schema`).
pub const SCHEMA_VERSION: i64 = 1;

/// Magic of a snapshot file: `ALLSNAP` + format version. Version 2 keeps only the signatures
/// that vouch (see [`crate::core::vouch`]); version 1 had one for every change.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"ALLSNAP2";

/// Magic of the append-only change log: `ALLLOG` + format version. Version 2 records say
/// whether a signature follows; version 1 records always held one.
pub const LOG_MAGIC: &[u8; 8] = b"ALLLOG02";

/// Magic of a bundle file (signed changes carried by hand between devices), version 2: records
/// as in the log's version 2.
pub const BUNDLE_MAGIC: &[u8; 8] = b"ALLBNDL2";

/// The version 1 magics, still read: a store written by an older alliance is upgraded when it
/// is opened for writing, and an older bundle can be imported.
pub const SNAPSHOT_MAGIC_V1: &[u8; 8] = b"ALLSNAP1";
pub const LOG_MAGIC_V1: &[u8; 8] = b"ALLLOG01";
pub const BUNDLE_MAGIC_V1: &[u8; 8] = b"ALLBNDL1";

// ---------------------------------------------------------------------------------------------
// Networking (iroh).

/// The ALPN of alliance connections. The version is part of it: a device that speaks another
/// version refuses the connection during the QUIC handshake instead of misreading frames.
/// Version 3: only the signatures that vouch travel (each author's newest changes in a batch).
/// Version 4: a hello may hand an alliance over to a keeper, and both sides pass on the
/// addresses they know of the alliance's other devices (`Addresses`).
pub const ALPN: &[u8] = b"alliance/4";

/// The largest frame accepted from a peer: 64 MiB. The length prefix is checked before any
/// buffer is allocated.
pub const MAX_FRAME_BYTES: usize = 64 << 20;

/// The largest frame accepted before the peer is known to be a member (its `Hello`, or the
/// answer to ours): 64 KiB.
pub const MAX_HANDSHAKE_FRAME_BYTES: usize = 64 << 10;

/// Connections from devices that are not members of any alliance this device serves (joining
/// devices, or strangers) that may be open at once; more are closed at once. Member devices
/// are never counted, so a flood of strangers cannot keep the family out.
pub const MAX_STRANGER_CONNECTIONS: usize = 32;

/// Frame bodies of at least this many bytes are deflated when that makes them smaller.
pub const FRAME_DEFLATE_MIN: usize = 200;

/// Frame bodies larger than this are sent as they are: a whole history (a document, compressed
/// already, and its signatures, which do not compress) would cost more time to deflate than
/// it saves.
pub const FRAME_DEFLATE_MAX: usize = 256 << 10;

/// How long a peer may take for the handshake (its first frame) before it is dropped.
pub const HANDSHAKE_TIMEOUT_SECS: u64 = 10;

/// How long a one-shot sync waits for the peer's next frame.
pub const FRAME_TIMEOUT_SECS: u64 = 30;

/// Sync rounds after which a one-shot sync is considered stuck.
pub const MAX_SYNC_ROUNDS: usize = 1000;

/// Changes per pushed frame in a live session: a large batch (say a third device's catch-up)
/// goes as several frames, each far below the frame limit.
pub const PUSH_CHUNK: usize = 1000;

/// How long after the last pushed change a live session runs a sync round, which brings both
/// sides' sync states up to date (so a later reconnect costs about what is new) and repairs
/// anything a push missed.
pub const SETTLE_AFTER_MS: u64 = 500;

/// How long `sync` waits for a connection to a peer before calling it unreachable.
pub const CONNECT_TIMEOUT_SECS: u64 = 5;

/// How long a peer whose data made Automerge panic is quarantined: its connections are
/// refused and it is not dialled (24 hours).
pub const PEER_QUARANTINE_SECS: u64 = 24 * 60 * 60;

/// The kind prefix of invite tickets (`alliance` + base32).
pub const TICKET_KIND: &str = "alliance";

/// The kind prefix of keeper tickets (`keeper` + base32): a keeper's key, addresses and the
/// secret that lets an admin hand it an alliance.
pub const KEEPER_TICKET_KIND: &str = "keeper";

/// Devices whose addresses a session passes on (`Addresses`), and addresses per device: an
/// alliance is a family or a coach's clients, not a crowd; more is cut off, not refused.
pub const MAX_PASSED_DEVICES: usize = 64;
pub const MAX_PASSED_ADDRS: usize = 8;

/// The longest display name accepted in a join request.
pub const MAX_NAME_CHARS: usize = 200;
