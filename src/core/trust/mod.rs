//! Trust: who wrote a change, and whether they could. Everything here runs on a change's raw
//! header before Automerge parses anything it keeps, or judges a change against the document
//! as of its dependencies.
//!
//! Imports: nothing from [`replica`](crate::core::replica) or
//! [`document`](crate::core::document), except the schema's keys and readers
//! ([`model`](crate::core::document::model)) that [`rules`] (who may write what) judges paths
//! by; `model` imports nothing from here.

pub mod equivocation;
pub mod guard;
pub mod identity;
pub mod ledger;
pub mod raw;
pub mod rules;
pub mod signed;
pub mod verdicts;
pub mod vouch;
