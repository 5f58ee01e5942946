//! The alliance document and its review: the schema, the edits a person makes in each step,
//! texts, concurrent values and text conflicts, the history of an item, replay, what changed
//! between two points and what needs one person's attention.
//!
//! Imports: the [`replica`](crate::core::replica) (the edits are its methods; the review reads
//! it) and [`trust`](crate::core::trust) (identities, signatures, the guard), never the other
//! way, except the schema ([`model`]), the text checks ([`text`]) and the history index
//! ([`index`]) that the replica and the rules read.

pub mod calendar;
pub mod conflicts;
pub mod diff;
pub mod edit;
pub mod history;
pub mod index;
pub mod model;
pub mod reminders;
pub mod replay;
pub mod seed;
pub mod status;
pub mod text;
pub mod text_conflicts;
