//! The family's page (`alliance app`): a local web page served by this device, from its own
//! replica, live with the others' edits. It is the page's edge only: every edit goes through
//! the same calls as the `alliance` command ([`crate::device::steps`] and the core's `Replica` methods,
//! one signed change each, persisted before the page hears it worked).
//!
//! - [`server`]: the server's start on loopback, its routes, the page's file in the home.
//! - [`state`]: [`App`], the page's state: reading and editing an alliance off the async
//!   threads.
//! - [`security`]: the one middleware with all of the page's safety (Host, one-time link,
//!   session cookie, CSRF + Origin, headers).
//! - [`handlers`]: the GET routes: read first ([`read`]), then render ([`views`]).
//! - [`read`]: the read step of every view: the alliance read into plain data, under the
//!   store lock.
//! - [`views`]: server-rendered HTML (maud) from that data, parts the script re-fetches.
//! - [`forms`]: the typed forms ([`forms::Action`], [`forms::FirstRun`], their field names),
//!   shared by the views that render them and the handlers that read them.
//! - [`actions`]: the forms handled (first run, the four steps, invites), answered in words.
//! - [`vision`]: the shared vision's text and the editor's splices.
//! - [`events`]: server-sent events fed by the alliance's change notifications.
//! - [`error`]: [`PageError`], a device error's class as an HTTP status, in words.
//! - [`link`]: a second `alliance app` asking the running page for a link.
//! - `assets/`: one script (the vision editor and live refresh) and one style sheet, embedded.
//!
//! See `docs/app.md`.

pub mod actions;
pub mod error;
pub mod events;
pub mod forms;
pub mod handlers;
pub mod link;
pub mod read;
pub mod reminders;
pub mod security;
pub mod server;
pub mod state;
pub mod views;
pub mod vision;

pub use error::PageError;
pub use link::{is_link_to, request_link};
pub use server::{MAX_BODY, PageServer, start};
pub use state::App;
