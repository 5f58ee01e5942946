//! Baseline: [samod](https://crates.io/crates/samod) (automerge-repo in Rust, on the same
//! Automerge 0.12 as alliance) syncing a whole document to a fresh peer over iroh on loopback.
//!
//! What is measured, per run:
//!
//! * Setup, not timed: two fresh iroh endpoints bound to `127.0.0.1` (relays, address lookup,
//!   port mapping and net-report probes all off, so no packet leaves loopback), two fresh
//!   in-memory samod `Repo`s, and the original repo holding the document (`Repo::create` of
//!   the loaded bytes). The original repo accepts samod connections on its endpoint.
//! * Timed: the fresh repo dials the original endpoint (QUIC handshake, one bi-directional
//!   stream, samod's join/peer handshake), then `find`s the document by its ID, and the run ends
//!   when its copy has the original's heads. samod's `find` resolves as soon as the copy holds
//!   every head the peer advertised; the heads are compared (untimed) afterwards. Waiting for
//!   the handshake before `find` is samod's documented pattern and costs nothing: the request
//!   cannot leave before the handshake anyway.
//! * Teardown, not timed: both repos stopped, both endpoints closed.
//!
//! The wiring: the fresh repo's [`Dialer`] opens a QUIC connection to the original endpoint by
//! its address (`EndpointAddr` with its loopback socket, no lookup), opens a bi-directional
//! stream and hands it to samod as a [`Transport::from_tokio_io`] (length-delimited frames).
//! The original endpoint's accept loop takes that stream and feeds it to the repo's
//! [`AcceptorHandle::accept_tokio_io`], the matching framing.
//!
//! Each peer has one thread, as on two devices: the original peer runs on a one-worker tokio
//! runtime, the fresh peer on a current-thread runtime driven by the caller. Besides fairness,
//! this sidesteps a race in samod 0.16: `Repo::dial` hands the dial to the repo's IO loop before
//! it registers the dialer, so on a multi-thread runtime the IO loop now and then finds no
//! dialer and the first attempt fails ("no dialer registered"); retries run on samod's 100 ms
//! tick, which would swamp the figure. On a current-thread runtime the IO loop cannot run until
//! `dial` has returned.
//!
//! The bytes reported are those samod wrote to and read from the stream on the fresh peer's
//! side, up to the moment its copy caught up: samod's messages and their 4-byte length prefixes,
//! without QUIC's overhead. Anything still in flight then (samod may send the document a second
//! time, see below) is not counted.
//!
//! What samod sends to an empty peer (Automerge 0.12's sync protocol, one sync state per
//! connection): the original peer announces the document with its heads and a Bloom filter of
//! all its changes (about 10 bits a change); the fresh peer answers with empty heads; the
//! original peer then sends the whole saved document, again with the Bloom filter. The fresh
//! peer's own request usually crosses the announcement, and then the original peer answers both
//! of its messages, sending the whole document twice. Most of the time is then CPU on the fresh
//! peer's one thread: applying the document, saving it to samod's (in-memory) storage, and
//! building the Bloom filter of its reply, all before `find` resolves.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use automerge::{Automerge, ChangeHash};
use iroh::endpoint::{
    Connection, NetReportConfig, PortmapperConfig, RecvStream, SendStream, presets,
};
use iroh::{Endpoint, EndpointAddr, RelayMode};
use samod::{AcceptorHandle, BackoffConfig, DialError, Dialer, DocumentId, Repo, Transport};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The ALPN of this benchmark's connections, distinct from alliance's own protocol.
const ALPN: &[u8] = b"bench/samod/1";

/// samod syncing a saved Automerge document (`doc`) from one `Repo` to a fresh one over iroh on
/// 127.0.0.1 (relays disabled, two endpoints in this process). Returns the median wall time
/// over `runs` runs, from the moment the fresh repo dials until its copy has the same heads as
/// the original, and the bytes exchanged in one run if you can count them cheaply (else 0).
pub fn initial_sync(doc: &[u8], runs: usize) -> (Duration, usize) {
    let doc = Automerge::load(doc).expect("the benchmark document loads");
    // One thread per peer, as on two devices: the original peer runs on a worker of its own,
    // the fresh one on the calling thread.
    let origin_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("samod-origin")
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let fresh_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut samples = Vec::new();
    let mut bytes = 0;
    for _ in 0..runs.max(1) {
        let origin = origin_runtime.block_on(Origin::start(doc.clone()));
        let (elapsed, exchanged) = fresh_runtime.block_on(fetch(&origin));
        origin_runtime.block_on(origin.stop());
        samples.push(elapsed);
        bytes = exchanged;
    }
    samples.sort();
    (samples[samples.len() / 2], bytes)
}

/// The original peer: an endpoint, a repo holding the document, and an accept loop feeding
/// every incoming stream to the repo.
struct Origin {
    endpoint: Endpoint,
    repo: Repo,
    doc_id: DocumentId,
    heads: Vec<ChangeHash>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl Origin {
    async fn start(doc: Automerge) -> Self {
        let endpoint = loopback_endpoint().await;
        let repo = Repo::build_tokio().load().await;
        let original = repo.create(doc).await.expect("the origin repo runs");
        let acceptor = repo
            .make_acceptor(url(&endpoint))
            .expect("the origin repo runs");
        Origin {
            accept_loop: tokio::spawn(accept_loop(endpoint.clone(), acceptor)),
            endpoint,
            repo,
            doc_id: original.document_id().clone(),
            heads: original.with_document(|d| d.get_heads()),
        }
    }

    async fn stop(self) {
        self.repo.stop().await;
        self.endpoint.close().await;
        self.accept_loop.abort();
    }
}

/// One sync of the origin's document to a fresh repo on a fresh endpoint: the time from dial
/// to caught up, and the bytes the fresh side sent and received.
async fn fetch(origin: &Origin) -> (Duration, usize) {
    let endpoint = loopback_endpoint().await;
    let fresh = Repo::build_tokio().load().await;
    let traffic = Traffic::default();
    let dialer = Arc::new(IrohDialer {
        endpoint: endpoint.clone(),
        target: address_of(&origin.endpoint),
        traffic: traffic.clone(),
    });

    let start = Instant::now();
    fresh
        .dial(no_retries(), dialer)
        .expect("the fresh repo runs")
        .established()
        .await
        .expect("the fresh repo connects to the origin");
    let copy = fresh
        .find(origin.doc_id.clone())
        .await
        .expect("the fresh repo runs")
        .expect("the origin has the document");
    let elapsed = start.elapsed();

    assert_eq!(
        copy.with_document(|d| d.get_heads()),
        origin.heads,
        "find resolved with the fresh copy caught up"
    );
    fresh.stop().await;
    endpoint.close().await;
    (elapsed, traffic.total())
}

/// An endpoint on 127.0.0.1 only: no relays, no address lookup (so no DNS or pkarr), no port
/// mapping and no net-report probes. Peers are dialed by their loopback socket address.
async fn loopback_endpoint() -> Endpoint {
    Endpoint::builder(presets::Minimal)
        .alpns(vec![ALPN.to_vec()])
        .relay_mode(RelayMode::Disabled)
        .clear_address_lookup()
        .portmapper_config(PortmapperConfig::Disabled)
        .net_report_config(NetReportConfig::minimal())
        .clear_ip_transports()
        .bind_addr(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("127.0.0.1:0 is a valid bind address")
        .bind()
        .await
        .expect("an endpoint binds to 127.0.0.1")
}

/// The address to dial `endpoint` at: its ID and its loopback sockets, nothing else.
fn address_of(endpoint: &Endpoint) -> EndpointAddr {
    endpoint
        .bound_sockets()
        .into_iter()
        .filter(|a| a.ip().is_loopback())
        .fold(EndpointAddr::new(endpoint.id()), EndpointAddr::with_ip_addr)
}

/// samod names every dialer and acceptor by a URL, used only in its logs.
fn url(endpoint: &Endpoint) -> samod::Url {
    samod::Url::parse(&format!("iroh://{}", endpoint.id())).expect("a valid URL")
}

/// One attempt only: a dial that fails on loopback is a broken benchmark, and samod retries
/// on a 100 ms tick, which would swamp the figure.
fn no_retries() -> BackoffConfig {
    BackoffConfig {
        max_retries: Some(0),
        ..BackoffConfig::default()
    }
}

/// Feeds the first bi-directional stream of every incoming connection to the repo's acceptor.
/// Ends when the endpoint closes.
async fn accept_loop(endpoint: Endpoint, acceptor: AcceptorHandle) {
    while let Some(incoming) = endpoint.accept().await {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            let Ok((send, recv)) = conn.accept_bi().await else {
                return;
            };
            let stream = PeerStream {
                send,
                recv,
                _conn: conn,
                traffic: Traffic::default(),
            };
            let _ = acceptor.accept_tokio_io(stream);
        });
    }
}

/// The fresh repo's way to reach the original one: a QUIC connection to its endpoint and one
/// bi-directional stream, framed by samod.
struct IrohDialer {
    endpoint: Endpoint,
    target: EndpointAddr,
    traffic: Traffic,
}

impl Dialer for IrohDialer {
    type Error = io::Error;

    fn url(&self) -> samod::Url {
        samod::Url::parse(&format!("iroh://{}", self.target.id)).expect("a valid URL")
    }

    fn connect(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<Transport, DialError<io::Error>>> + Send>> {
        let endpoint = self.endpoint.clone();
        let target = self.target.clone();
        let traffic = self.traffic.clone();
        Box::pin(async move {
            let conn = endpoint
                .connect(target, ALPN)
                .await
                .map_err(|e| DialError::PermanentFailure(io::Error::other(e)))?;
            let (send, recv) = conn
                .open_bi()
                .await
                .map_err(|e| DialError::PermanentFailure(io::Error::other(e)))?;
            Ok(Transport::from_tokio_io(PeerStream {
                send,
                recv,
                _conn: conn,
                traffic,
            }))
        })
    }
}

/// Bytes written and read on one side of a stream.
#[derive(Clone, Default)]
struct Traffic {
    sent: Arc<AtomicUsize>,
    received: Arc<AtomicUsize>,
}

impl Traffic {
    fn total(&self) -> usize {
        self.sent.load(Ordering::Relaxed) + self.received.load(Ordering::Relaxed)
    }
}

/// An iroh bi-directional stream as one `AsyncRead + AsyncWrite`, counting its bytes. It owns
/// its connection so the connection lives as long as samod uses the stream.
struct PeerStream {
    send: SendStream,
    recv: RecvStream,
    _conn: Connection,
    traffic: Traffic,
}

impl AsyncRead for PeerStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = AsyncRead::poll_read(Pin::new(&mut self.recv), cx, buf);
        let read = buf.filled().len() - before;
        self.traffic.received.fetch_add(read, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = AsyncWrite::poll_write(Pin::new(&mut self.send), cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.traffic.sent.fetch_add(n, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(Pin::new(&mut self.send), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_shutdown(Pin::new(&mut self.send), cx)
    }
}
