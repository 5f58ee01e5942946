//! This device, as both doors use it: the steps the CLI and the page take above the core
//! ([`steps`]), this device online with the alliances it serves ([`online`], shared by
//! `serve` and `app`), what people type that is not document text ([`parse`]), the printable
//! export ([`export`]) and the one error type with its classes ([`error`]).
//!
//! Imports go `cli`, `app` -> `device` -> `net` -> `store`, `proto` -> `core`: the page never
//! imports the CLI (the CLI starts the page for `serve` and `app`), and nothing below imports
//! this layer.

pub mod calendar;
pub mod error;
pub mod export;
pub mod keeper;
pub mod online;
pub mod open_export;
pub mod parse;
pub mod steps;

pub use error::{Class, DeviceError, Result};
pub use online::Online;
