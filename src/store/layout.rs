//! The names of this device's files: the one place they are spelled. Every other module reaches
//! a file through [`Home`](super::Home) and [`OpenAlliance`](super::OpenAlliance); tests that
//! damage a file on purpose name it with these constants.
//!
//! ```text
//! HOME/
//!   identity/
//!     device.key             this device's secret key and its device ID (mode 0600; never
//!                            printed); written once, never replaced
//!     profile.json           the person's display name
//!   default.json             the alliance commands use when several are here and none is
//!                            named (`alliance use`, or the last one created or joined)
//!   serve.lock               flocked (exclusively) by the one process that serves this home
//!                            for as long as it runs: one node per home
//!   serve.json               what a running `alliance serve` announces (its device, addresses
//!                            and pid), for `invite` and for the next `serve` to reuse its port;
//!                            removed when it stops
//!   page-sessions.json       the open sessions of this device's page (`alliance app`): a
//!                            hash of each session's secret (never the secret) and when it
//!                            was last used (mode 0600)
//!   app.json                 the page's port (remembered across runs), the process running
//!                            it and the key of its link API (mode 0600)
//!   keeper.json              a keeper's home only: the secret of its ticket (mode 0600)
//!   keeper-status.json       a keeper's home only: what the running keeper holds (alliances,
//!                            devices, last syncs, changes waiting), for `keeper status`
//!   alliances/
//!     .new-<short id>-<pid>/ an alliance being created, renamed to its ID once complete
//!     .gone-<short id>-<pid>/ an alliance being removed from this device (`alliance forget`)
//!     <alliance id>/
//!       lock                 flocked by every command on this alliance (see `lock`)
//!       snapshot             compacted document + signatures, replaced atomically (absent
//!                            until the first compaction when the alliance was created from
//!                            its changes: founded here, or imported from a bundle)
//!       changes.log          append-only, checksummed signed changes since the snapshot
//!       local.json           this device's actor tag and the directory it was made in
//!       quarantine.json      equivocation proofs and the changes left out because of them
//!       index.cache          the history index; derived data, rebuilt when missing or damaged
//!       peers.json           the address book: addresses, last contact, quarantined peers
//!       invites.json         the invites made on this device (only their secrets' hashes)
//!       seen.json            the heads this device's person last marked as seen
//!       sync/<device hex>    the sync state with each peer device
//! ```
//!
//! Everything under `alliances/<alliance id>/` is written under the alliance's lock (shared or
//! exclusive). A file is written as a temporary sibling `NAME.tmp-<pid>` and renamed over the
//! old one (`device.key`, written once, is hard-linked instead), so a reader never sees a
//! partial file; a writer killed in between leaves the temporary behind, and the next command
//! that takes an alliance's exclusive lock removes those in the alliance's directory.
//! `changes.log` is the one file that is appended to in place. Nothing here is synced: other
//! devices only ever see signed changes.

/// Home: this device's identity.
pub const IDENTITY_DIR: &str = "identity";
/// `identity/`: the device's secret key.
pub const DEVICE_KEY: &str = "device.key";
/// `identity/`: the person's display name.
pub const PROFILE: &str = "profile.json";
/// Home: the announcement of a running `serve`.
/// Home: the alliance commands use by default (see [`super::Home::default_alliance`]).
pub const DEFAULT_ALLIANCE: &str = "default.json";
/// Home: held by the process that serves this home (see [`super::Home::claim_serving`]).
pub const SERVE_LOCK: &str = "serve.lock";
pub const SERVE_ANNOUNCEMENT: &str = "serve.json";
/// Home: the page's sessions (see [`super::PageSessions`]).
pub const PAGE_SESSIONS: &str = "page-sessions.json";
/// Home: the page's port, process and link key (see [`super::AppFile`]).
pub const APP_FILE: &str = "app.json";
/// Home of a keeper: the secret of its ticket (see [`super::KeeperFile`]).
pub const KEEPER_FILE: &str = "keeper.json";
/// Home of a keeper: what it holds (see [`super::KeeperStatus`]).
pub const KEEPER_STATUS: &str = "keeper-status.json";
/// Home: one directory per alliance, named by its ID.
pub const ALLIANCES_DIR: &str = "alliances";
/// `alliances/`: the prefix of an alliance directory being created.
pub const STAGING_PREFIX: &str = ".new-";
/// Alliances: an alliance being removed from this device.
pub const FORGOTTEN_PREFIX: &str = ".gone-";

/// Alliance: the lock file.
pub const LOCK: &str = "lock";
/// Alliance: the compacted document and its signatures.
pub const SNAPSHOT: &str = "snapshot";
/// Alliance: the append-only log of signed changes since the snapshot.
pub const CHANGES_LOG: &str = "changes.log";
/// Alliance: this device's actor tag.
pub const LOCAL_STATE: &str = "local.json";
/// Alliance: equivocation proofs (see [`crate::core::equivocation`]).
pub const QUARANTINE: &str = "quarantine.json";
/// Alliance: the history index cache (see [`crate::core::index::ChangeIndex`]).
pub const INDEX_CACHE: &str = "index.cache";
/// Alliance: a note that the history had no text conflict at the heads it names (see
/// [`super::OpenAlliance::conflicts`]); a cache, like the index.
pub const NO_TEXT_CONFLICTS: &str = "no-text-conflicts.cache";

/// The verdicts of earlier checks, each bound to a change's hash and signature under a key
/// derived from this device's secret (see `core::verdicts`): a local cache, never trusted by
/// `verify`, rebuilt when missing or damaged.
pub const VERDICTS_CACHE: &str = "verdicts.cache";
/// Each actor's newest change, as of some heads: a local cache that spares the first change
/// received from a long-silent actor a pass over the whole history (`Replica::resume_tips`).
pub const TIPS_CACHE: &str = "tips.cache";
/// Alliance: the address book (see [`crate::core::peers::PeerBook`]).
pub const PEER_BOOK: &str = "peers.json";
/// Alliance: the invites made here (see [`crate::core::invite::Invites`]).
pub const INVITES: &str = "invites.json";
/// Alliance: the seen marker (see [`super::Seen`]).
pub const SEEN: &str = "seen.json";
/// Alliance: one sync state file per peer device, named by the device's hex key.
pub const SYNC_DIR: &str = "sync";

/// What a temporary file's name adds to the name of the file it will replace, before the
/// writer's process ID.
pub const TEMP_MARK: &str = ".tmp-";
