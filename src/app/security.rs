//! All of the page's safety, in one middleware layer (see `docs/app.md` for the threat each
//! measure stops). The page is a door into the device key: only the person at this device,
//! through the link `alliance app` printed, gets in.
//!
//! 1. **Host**: a request whose `Host` is not the page's own `127.0.0.1:PORT` is refused (a
//!    hostile site that rebinds its DNS name to 127.0.0.1 still sends its own name).
//! 2. **One-time link**: `/login?token=T` trades an unused token (random, 256 bits, minutes to
//!    live) for a session cookie, `HttpOnly; SameSite=Strict`, and the token is gone. Every
//!    other route needs that cookie. The home keeps each session as a hash of its secret with
//!    its last use (`page-sessions.json`, 0600), so an open page survives a restart of the
//!    app; a session idle for [`SESSION_IDLE`] is ended.
//! 3. **CSRF**: every request that changes something (POST) carries the session's CSRF token
//!    in the `X-Alliance-CSRF` header (a cross-site form cannot set headers; a cross-site
//!    `fetch` with one needs a CORS preflight this server never answers) *and* an `Origin`
//!    that is the page's own. The token is derived from the session's secret ([`csrf_of`]).
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
use crate::store::{Home, PageSession, PageSessions};

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

/// A session idle this long (no request from its page, no open event stream) is ended.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 60 * 60);
/// A session's last use is written to the home at most this often (and at every login).
const SAVE_EVERY: i64 = 60;

/// What the home keeps of a session: a hash of its secret, never the secret. Domain-separated
/// from [`csrf_of`], so the file gives away neither the cookie nor the CSRF token.
pub fn session_hash(id: &str) -> String {
    tagged_hash(b"alliance page session v1\0", id)
}

/// A session's CSRF token, derived from its secret: the same after a restart of the app (the
/// page keeps the one it was given), and nobody without the cookie can compute it.
pub fn csrf_of(id: &str) -> String {
    tagged_hash(b"alliance page csrf v1\0", id)
}

fn tagged_hash(tag: &[u8], id: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(tag);
    h.update(id.as_bytes());
    hex::encode(h.finalize())
}

/// The sessions of the page, by the hash of their secret: when each was last used and when
/// its last use was last written (Unix seconds). Kept in the home ([`Home::page_sessions`]) so
/// that an open page survives a restart of the app.
struct Sessions {
    used: HashMap<String, Used>,
    home: Option<Home>,
}

#[derive(Clone, Copy)]
struct Used {
    last: i64,
    stored: i64,
}

impl Sessions {
    /// The home's sessions that are not expired at `now` (none when the file is damaged: the
    /// pages then need a fresh link, and the app's log says why).
    fn load(home: Option<Home>, now: i64) -> Sessions {
        let mut used = HashMap::new();
        let mut ended = false;
        if let Some(h) = &home {
            match h.page_sessions() {
                Ok(kept) => {
                    for s in kept.sessions {
                        let at = s.last_used;
                        if expired(at, now) {
                            ended = true;
                        } else {
                            used.insert(
                                s.hash,
                                Used {
                                    last: at,
                                    stored: at,
                                },
                            );
                        }
                    }
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "the page's sessions could not be read; open pages need a fresh link"
                ),
            }
        }
        let mut sessions = Sessions { used, home };
        if ended {
            // Expired sessions leave the home at once.
            sessions.save();
        }
        sessions
    }

    fn save(&mut self) {
        let mut sessions: Vec<PageSession> = self
            .used
            .iter_mut()
            .map(|(hash, u)| {
                u.stored = u.last;
                PageSession {
                    hash: hash.clone(),
                    last_used: u.last,
                }
            })
            .collect();
        sessions.sort_by(|a, b| a.hash.cmp(&b.hash));
        let Some(home) = &self.home else { return };
        if let Err(e) = home.save_page_sessions(&PageSessions { sessions }) {
            tracing::warn!(
                error = %e,
                "the page's sessions could not be saved; open pages may need a fresh link after a restart"
            );
        }
    }

    /// Whether the session `hash` is open at `now`; if so, it was used now.
    fn touch(&mut self, hash: &str, now: i64) -> bool {
        let Some(u) = self.used.get_mut(hash) else {
            return false;
        };
        if expired(u.last, now) {
            self.used.remove(hash);
            self.save();
            return false;
        }
        u.last = u.last.max(now);
        if u.last - u.stored >= SAVE_EVERY {
            self.save();
        }
        true
    }

    fn open(&mut self, hash: String, now: i64) {
        if self.used.len() >= MAX_SESSIONS
            && let Some(oldest) = self
                .used
                .iter()
                .min_by_key(|(_, u)| u.last)
                .map(|(k, _)| k.clone())
        {
            self.used.remove(&oldest);
        }
        self.used.insert(
            hash,
            Used {
                last: now,
                stored: now,
            },
        );
        self.save();
    }
}

fn expired(last_used: i64, now: i64) -> bool {
    now.saturating_sub(last_used) >= SESSION_IDLE.as_secs() as i64
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
    sessions: Mutex<Sessions>,
}

impl Guard {
    /// The guard of a page on `port`, with the sessions kept in `home` (none kept: `None`).
    pub fn new(port: u16, home: Option<Home>) -> Arc<Guard> {
        let now = crate::system::now().0;
        Arc::new(Guard {
            host: format!("127.0.0.1:{port}"),
            origin: format!("http://127.0.0.1:{port}"),
            api_key: random_token(),
            tokens: Mutex::default(),
            sessions: Mutex::new(Sessions::load(home, now)),
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

    /// Uses up a one-time token: a new session's secret (for the cookie), or `None` (unknown,
    /// used, or expired).
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
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .open(session_hash(&id), crate::system::now().0);
        Some(id)
    }

    /// The session whose cookie the request carries, if it is open (it counts as used now).
    fn session(&self, headers: &HeaderMap) -> Option<(SessionKey, String)> {
        let id = cookie(headers, COOKIE)?;
        let key = SessionKey(session_hash(&id));
        self.touch(&key).then(|| (key, csrf_of(&id)))
    }

    /// Marks the session as used now (an open event stream keeps its page's session alive);
    /// `false` when it is not open (any more).
    pub fn touch(&self, key: &SessionKey) -> bool {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .touch(&key.0, crate::system::now().0)
    }
}

/// The session a request belongs to (the hash of its secret), handed to the event stream.
#[derive(Clone)]
pub struct SessionKey(String);

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
            "This page answers only at its own address, 127.0.0.1 and its port.",
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
                "This link was used already or is too old. Open the alliance app again for a fresh one.",
            ),
        };
    }
    // No cookie, no page and no API.
    let Some((key, csrf)) = guard.session(req.headers()) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "This page needs the link this device gave when its alliance app started (each link works once).",
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
    req.extensions_mut().insert(key);
    next.run(req).await
}
