//! The page's one error type: a [`DeviceError`] becomes an HTTP status by its [`Class`] (the
//! page's side of `cli::exit_code`) and a message in words; a store error is said without the
//! file or the system's words, which go to the app's log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::device::{Class, DeviceError};
use crate::store::StoreError;

/// An error the page shows: its message in plain words, never a raw error.
pub struct PageError {
    pub(super) status: StatusCode,
    pub(super) message: String,
}

impl PageError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        PageError {
            status,
            message: message.into(),
        }
    }
}

/// The status for an error of `class`: the person's input 400, another device 502, damage
/// and bugs 500.
fn status_of(class: Class) -> StatusCode {
    match class {
        Class::Input => StatusCode::BAD_REQUEST,
        Class::Peer => StatusCode::BAD_GATEWAY,
        Class::Damaged | Class::Unverified | Class::Bug => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<DeviceError> for PageError {
    fn from(e: DeviceError) -> Self {
        let status = status_of(e.class());
        let message = match &e {
            DeviceError::Store(store) => {
                // The details (the file, the system's words) go to the app's log; the page
                // says what happened in words.
                tracing::error!(error = %e.message(), "the page could not use this device's files");
                store_in_words(store)
            }
            _ => without_commands(&e.message()),
        };
        PageError::new(status, message)
    }
}

/// A device error's message for the page: the CLI's hints (a clause or a bracket that names an
/// `alliance` command) left out, since the page never tells a person to run a command; the
/// rest capitalised as a sentence.
pub(super) fn without_commands(message: &str) -> String {
    let names_a_command = |s: &str| s.contains("`alliance") || s.contains("alliance join");
    let mut kept: Vec<String> = Vec::new();
    for clause in message.split("; ") {
        if names_a_command(clause) {
            // "X (to add a device of your own, use `alliance device link`)": keep X.
            if let Some((before, _)) = clause.split_once(" (")
                && !names_a_command(before)
            {
                kept.push(before.to_string());
            }
            continue;
        }
        kept.push(clause.to_string());
    }
    let mut out = kept.join("; ");
    if out.trim().is_empty() {
        out = message.to_string();
    }
    let out = out.trim_end_matches(['.', ' ']).to_string();
    let mut chars = out.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => out,
    }
}

/// What a store error means for the person at the page, without file paths or the system's own
/// text (those are in the app's log).
fn store_in_words(e: &StoreError) -> String {
    let details = "The details are in the log of the window where the page was started.";
    match e {
        _ if e.is_disk_full() => {
            "This device's disk is full, so nothing was saved. Free some space on it, then try again.".into()
        }
        StoreError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied
                || source.raw_os_error() == Some(30) =>
        {
            format!("This device may not write its alliance files, so nothing was saved. {details}")
        }
        StoreError::Io { .. } => format!(
            "This device could not read or write its alliance files, so nothing was saved. {details}"
        ),
        StoreError::Corrupt { .. } => format!(
            "Part of this alliance's files on this device is damaged, so nothing was changed. \
             Restore them from a backup, or from another device once they sync. {details}"
        ),
        StoreError::Busy { .. } => {
            "Another program on this device is busy with this alliance. Try again in a moment.".into()
        }
        StoreError::NoIdentity { .. } => "This device is not set up yet. Reload the page.".into(),
        StoreError::NotFound(_) => "There is no such alliance on this device.".into(),
        StoreError::AlreadyExists(_) => "That alliance is already on this device.".into(),
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        (self.status, super::views::refusal(&self.message)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::without_commands;

    #[test]
    fn the_page_says_a_device_error_without_the_command_lines_of_its_hint() {
        assert_eq!(
            without_commands("no invite 'abcd' on this device; `alliance invite list` shows them"),
            "No invite 'abcd' on this device."
        );
        assert_eq!(
            without_commands(
                "only an admin may invite a new person (to add a device of your own, use `alliance device link`)"
            ),
            "Only an admin may invite a new person."
        );
        assert_eq!(
            without_commands("the expectation is in conflict; keep one version first"),
            "The expectation is in conflict; keep one version first."
        );
    }
}
