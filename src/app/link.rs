//! The other side of the link API: a second `alliance app` asks the page already running on
//! this device for a fresh one-time link, over loopback, with the key from the page's file
//! (`app.json`, [`crate::store::AppFile`]). A hand-written HTTP/1.1 request: one POST, one
//! answer, no client library for it.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::security;
use crate::store::Home;

/// Asks a running page on this device for a fresh one-time link (over loopback, with the key
/// from the page's file). `None` when no page answers, or the answer is not a link to that same
/// port on 127.0.0.1 ([`is_link_to`]).
pub fn request_link(home: &Home) -> Option<String> {
    use std::io::{Read, Write};
    let file = home.app_file()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], file.port));
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!(
        "POST /api/link HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{}: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        file.port,
        security::KEY_HEADER,
        file.key
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.take(64 << 10).read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    if !text.starts_with("HTTP/1.1 200") {
        return None;
    }
    let body = text.split("\r\n\r\n").nth(1)?;
    #[derive(Deserialize)]
    struct Link {
        url: String,
    }
    let url = serde_json::from_str::<Link>(body.trim()).ok()?.url;
    is_link_to(&url, file.port).then_some(url)
}

/// Whether `url` is a page link as [`security::Guard::link`] makes them, to the page on
/// `127.0.0.1:port` and nowhere else: whatever answers on a remembered port (another program
/// that took it since) must not get a browser opened on an address of its choosing.
pub fn is_link_to(url: &str, port: u16) -> bool {
    let prefix = format!("http://127.0.0.1:{port}/login?token=");
    url.strip_prefix(&prefix)
        .is_some_and(|token| !token.is_empty() && token.chars().all(|c| c.is_ascii_alphanumeric()))
}
