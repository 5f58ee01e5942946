//! # alliance
//!
//! Coaches and families *design their alliance*: they write down, together, what each person
//! **needs**, a **plan** to sit down and design together, a shared **vision** with concrete
//! **expectations**, and regular **check-ins**. This crate keeps that document on every
//! participant's own devices as an [Automerge](automerge) CRDT, with every change signed by the
//! ed25519 key of the device that made it.
//!
//! ## Layers
//! - [`core`]: no I/O, in two rooms. [`core::trust`]: identity and signatures
//!   ([`core::DeviceKey`], [`core::SignedChange`]), vouching, equivocations, the rules of who
//!   may write what. [`core::document`]: the document schema ([`core::model`]), the edits
//!   people make ([`core::edit`], one file per step) and their review (history, conflicts,
//!   diff, status). They meet in the [`core::Replica`], which only ever accepts changes that
//!   are signed by their author and authored by a member device.
//! - [`proto`]: the sync protocol as state machines without I/O (handshake, session).
//! - [`store`]: this device's files: the identity, and per alliance a checksummed append-only
//!   change log plus an atomically replaced snapshot, under a lock; an alliance a running
//!   device shares between its sessions and the page ([`store::shared`]).
//! - [`net`]: iroh and tokio around them: endpoints, sessions, a running node.
//! - [`device`]: this device as both doors use it: the steps above the core, this device
//!   online, the parsers, the printable export, one error type with classes.
//! - [`cli`]: the `alliance` command; [`app`]: the family's page (`alliance app`), a second
//!   door onto the same calls.
//! - [`constants`]: constants other devices must agree on (signature domain, limits, formats).
//!
//! Imports go one way: `cli`, `app` -> `device` -> `net` -> `store` -> `proto` -> `core` ->
//! `constants`.
//!
//! ## Two devices, in memory
//!
//! Ada founds an alliance and adds Ben's device. Ben's replica receives the signed changes,
//! checks every signature and every author's membership, and only then applies them. Both
//! write the shared vision while apart; their edits merge character by character.
//!
//! ```
//! use alliance::core::{DeviceKey, Replica, SeededEntropy, SignedChange, Timestamp, Writer};
//!
//! // Bytes as they would cross a wire (each author's newest change signed, vouching for the
//! // rest): nothing from outside is trusted until verified.
//! fn wire(r: &Replica) -> Vec<SignedChange> {
//!     r.for_sending(r.changes_since(&[])).iter().map(|c| c.to_unverified()).collect()
//! }
//!
//! let (ada_key, ben_key) = (DeviceKey::from_seed([1; 32]), DeviceKey::from_seed([2; 32]));
//! let ada = Writer { key: &ada_key, actor_tag: [1; 8], now: Timestamp(1_795_514_400) };
//! let ben = Writer { key: &ben_key, actor_tag: [2; 8], now: Timestamp(1_795_514_460) };
//! let mut rng = SeededEntropy::new(7);
//!
//! let (mut a, _, _) = Replica::create(&ada, &mut rng, "The Okafor family", "Ada", "parent")?;
//! a.add_member(&ada, &mut rng, "Ben", "teen", Some(ben_key.device_id()))?;
//! a.set_vision(&ada, "We listen first.")?;
//!
//! // Ben's device joins: it verifies and applies everything, all or nothing.
//! let mut b = Replica::empty(a.id());
//! b.receive(wire(&a))?;
//!
//! // Concurrent, offline edits of the same text...
//! a.set_vision(&ada, "We listen first, always.")?;
//! b.set_vision(&ben, "Together, we listen first.")?;
//! b.add_need(&ben, &mut rng, "time alone after school")?;
//!
//! // ...merge when the devices meet.
//! b.receive(wire(&a))?;
//! a.receive(wire(&b))?;
//! assert_eq!(a.view(), b.view());
//! assert_eq!(a.view().vision, "Together, we listen first, always.");
//! assert!(a.verify_history().iter().all(|c| c.problem.is_none()));
//!
//! // A stranger's change is refused, however well signed.
//! let eve_key = DeviceKey::from_seed([6; 32]);
//! let eve = Writer { key: &eve_key, actor_tag: [6; 8], now: Timestamp(0) };
//! let mut e = Replica::empty(a.id());
//! e.receive(wire(&a))?;
//! assert!(e.add_need(&eve, &mut rng, "let me in").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod app;
pub mod cli;
pub mod constants;
pub mod core;
pub mod device;
/// The fuzz targets' bodies: built for the library's own tests and, with the `fuzz` feature,
/// for cargo-fuzz (`fuzz/`); not in a normal build.
#[cfg(any(test, feature = "fuzz"))]
#[doc(hidden)]
pub mod fuzz;
pub mod net;
pub mod proto;
pub mod store;
pub mod system;
