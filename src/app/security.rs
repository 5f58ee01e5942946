//! All of the page's safety, in one middleware layer (see `docs/app.md` for the threat each
//! measure stops). The page is a door into the device key: only the person at this device,
//! through the link `alliance app` printed, gets in.
//!
//! 1. **Host**: a request whose `Host` is not the page's own `127.0.0.1:PORT` is refused (a
//!    hostile site that rebinds its DNS name to 127.0.0.1 still sends its own name).
//! 2. **One-time link**: `/login?token=T` trades an unused token (random, 256 bits, minutes to
//!    live) for a session cookie, `HttpOnly; SameSite=Strict`, and the token is gone. Every
//!    other route needs that cookie.
//! 3. **CSRF**: every request that changes something (POST) carries the session's CSRF token
//!    in the `X-Alliance-CSRF` header (a cross-site form cannot set headers; a cross-site
//!    `fetch` with one needs a CORS preflight this server never answers) *and* an `Origin`
//!    that is the page's own.
//! 4. **Headers** on every answer: a Content-Security-Policy with no inline script and no
//!    framing, `X-Frame-Options: DENY`, `nosniff`, `no-referrer`, `no-store`.
//! 5. **The link API** (`POST /api/link`): a second `alliance app` asks the running one for a
//!    fresh one-time link with the key from a file only this user can read (`app.json`, 0600).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::core::Entropy;

/// The session cookie's name.
pub const COOKIE: &str = "alliance_session";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-alliance-csrf";
/// The header that carries the link API's key.
pub const KEY_HEADER: &str = "x-alliance-key";
/// How long a one-time link stays valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(10 * 60);
/// At most this many sessions are kept (the oldest goes first).
const MAX_SESSIONS: usize = 64;

/// The Content-Security-Policy of every answer: nothing but this origin's own files, no inline
/// script, no plugins, no framing, forms only to this origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// 32 random bytes from the operating system, in hex. Never from a pinned test seed.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    crate::system::OsEntropy.fill(&mut bytes);
    hex::encode(bytes)
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

struct Session {
    csrf: String,
    made: Instant,
}

/// The page's secrets: its address, the link API key, open one-time tokens and sessions.
pub struct Guard {
    /// `127.0.0.1:PORT`: the only `Host` answered.
    pub host: String,
    /// `http://127.0.0.1:PORT`: the only `Origin` a change may come from.
    pub origin: String,
    /// The key of the link API (kept in `app.json`, 0600).
    pub api_key: String,
    tokens: Mutex<HashMap<String, Instant>>,
    sessions: Mutex<HashMap<String, Session>>,
}

impl Guard {
    pub fn new(port: u16) -> Arc<Guard> {
        Arc::new(Guard {
            host: format!("127.0.0.1:{port}"),
            origin: format!("http://127.0.0.1:{port}"),
            api_key: random_token(),
            tokens: Mutex::default(),
            sessions: Mutex::default(),
        })
    }

    /// A fresh one-time link to the page.
    pub fn link(&self) -> String {
        let token = random_token();
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.retain(|_, made| made.elapsed() < TOKEN_TTL);
        tokens.insert(token.clone(), Instant::now());
        format!("{}/login?token={token}", self.origin)
    }

    /// Uses up a one-time token: a session ID and its CSRF token, or `None` (unknown, used,
    /// or expired).
    fn redeem(&self, token: &str) -> Option<String> {
        let made = {
            let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            let key = tokens.keys().find(|t| same_secret(t, token))?.clone();
            tokens.remove(&key)?
        };
        if made.elapsed() >= TOKEN_TTL {
            return None;
        }
        let id = random_token();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.made)
                .map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                csrf: random_token(),
                made: Instant::now(),
            },
        );
        Some(id)
    }

    /// The CSRF token of the session whose cookie the request carries.
    fn session(&self, headers: &HeaderMap) -> Option<String> {
        let id = cookie(headers, COOKIE)?;
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions
            .iter()
            .find(|(k, _)| same_secret(k, &id))
            .map(|(_, s)| s.csrf.clone())
    }
}

/// The session's CSRF token, handed to the views (they put it in a meta tag for the script).
#[derive(Clone)]
pub struct Csrf(pub String);

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A refusal: a short page in plain words, never a stack trace.
fn refuse(status: StatusCode, message: &str) -> Response {
    let page = crate::app::views::refusal(message);
    (status, page).into_response()
}

/// The one middleware: checks Host, the one-time link, the session and CSRF + Origin, and
/// sets the security headers on every answer.
pub async fn guard(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let mut response = check(&guard, req, next).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn check(guard: &Guard, mut req: Request, next: Next) -> Response {
    // 1. DNS rebinding: only our own address and port.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if host != guard.host {
        return refuse(
            StatusCode::FORBIDDEN,
            "This page answers only at its own address. Open the link `alliance app` printed.",
        );
    }
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if method != Method::GET && method != Method::POST && method != Method::HEAD {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "That is not something this page does.",
        );
    }
    // Static files carry no secrets and no data.
    if path.starts_with("/assets/") && method != Method::POST {
        return next.run(req).await;
    }
    // 5. The link API, for a second `alliance app` on this device.
    if path == "/api/link" {
        let key = req
            .headers()
            .get(KEY_HEADER)
            .and_then(|k| k.to_str().ok())
            .unwrap_or("");
        if method != Method::POST
            || !same_secret(key, &guard.api_key)
            || req.headers().contains_key(header::ORIGIN)
        {
            return refuse(StatusCode::FORBIDDEN, "Refused.");
        }
        let body = serde_json::json!({ "url": guard.link() }).to_string();
        return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    // 2. The one-time link becomes a session cookie.
    if path == "/login" {
        let token = req
            .uri()
            .query()
            .and_then(|q| {
                q.split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(k, _)| *k == "token")
                    .map(|(_, v)| v.to_string())
            })
            .unwrap_or_default();
        return match guard.redeem(&token) {
            Some(id) => {
                let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/");
                Response::builder()
                    .status(StatusCode::SEE_OTHER)
                    .header(header::LOCATION, "/")
                    .header(header::SET_COOKIE, cookie)
                    .body(Body::empty())
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
            None => refuse(
                StatusCode::FORBIDDEN,
                "This link was used already or is too old. Run `alliance app` again for a fresh one.",
            ),
        };
    }
    // No cookie, no page and no API.
    let Some(csrf) = guard.session(req.headers()) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "Open the link that `alliance app` printed (each link works once).",
        );
    };
    // 3. Changes: the CSRF header and our own Origin, both.
    if method == Method::POST {
        let header_ok = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| same_secret(v, &csrf));
        let origin_ok = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|o| o == guard.origin);
        if !header_ok || !origin_ok {
            return refuse(
                StatusCode::FORBIDDEN,
                "Refused: this request did not come from the page itself.",
            );
        }
    }
    req.extensions_mut().insert(Csrf(csrf));
    next.run(req).await
}
