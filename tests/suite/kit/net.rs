//! Devices with real iroh endpoints on 127.0.0.1 (relays disabled) and real stores in temp
//! dirs, several in one process: the helpers of the network tests.

use std::sync::Arc;

use alliance::core::invite::Invite;
use alliance::core::{AllianceId, DeviceKey, Replica, SeededEntropy, Timestamp, Writer};
use alliance::net::NetError;
use alliance::net::endpoint::{NetConfig, addr_for};
use alliance::net::node::{Node, add_invite, join, save_join};
use alliance::net::ticket::InviteTicket;
use alliance::store::shared::SharedAlliance;
use alliance::store::{Home, LockMode};

/// The kit's one pinned clock.
pub fn now() -> Timestamp {
    Timestamp(super::NOW)
}

pub struct Dev {
    pub _dir: tempfile::TempDir,
    pub home: Home,
    pub seed: [u8; 32],
    pub name: &'static str,
}

impl Dev {
    pub fn new(seed: u8, name: &'static str) -> Dev {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        Dev {
            _dir: dir,
            home,
            seed: [seed; 32],
            name,
        }
    }
    pub fn key(&self) -> DeviceKey {
        DeviceKey::from_seed(self.seed)
    }
    pub fn id(&self) -> AllianceId {
        self.home.alliance_ids().unwrap()[0]
    }
    pub fn shared(&self) -> Arc<SharedAlliance> {
        SharedAlliance::new(self.home.open(&self.id(), LockMode::Shared).unwrap())
    }
    pub async fn node(&self) -> Node {
        let alliances = if self.home.alliance_ids().unwrap_or_default().is_empty() {
            vec![]
        } else {
            vec![self.shared()]
        };
        Node::start(
            self.key(),
            &NetConfig::loopback(),
            alliances,
            Box::new(SeededEntropy::new(self.seed[0] as u64)),
            now,
        )
        .await
        .unwrap()
    }
    /// Founds an alliance on this device, with this device's person as its first member.
    pub fn found(&self, title: &str) {
        let key = self.key();
        let w = Writer {
            key: &key,
            actor_tag: [self.seed[0]; 8],
            now: now(),
        };
        let (replica, _, genesis) =
            Replica::create(&w, &mut SeededEntropy::new(1), title, self.name, "parent").unwrap();
        self.home
            .create_alliance(&replica.id(), &[genesis], Some([self.seed[0]; 8]))
            .unwrap();
    }

    /// One local edit, as an `alliance` command makes it (lock, edit, fsync).
    pub fn edit(&self, f: impl FnOnce(&mut Replica, &Writer<'_>, &mut SeededEntropy)) {
        let mut open = self.home.open(&self.id(), LockMode::Exclusive).unwrap();
        let mut e = SeededEntropy::new(self.seed[0] as u64 * 7919 + open.replica().len() as u64);
        let tag = open.actor_tag(&mut e).unwrap();
        let key = self.key();
        let w = Writer {
            key: &key,
            actor_tag: tag,
            now: now(),
        };
        let before = open.replica().heads();
        f(open.replica_mut(), &w, &mut e);
        let new = open.replica().changes_since(&before);
        open.persist(&new).unwrap();
    }
    pub fn view(&self) -> alliance::core::AllianceView {
        self.home
            .open(&self.id(), LockMode::Shared)
            .unwrap()
            .replica()
            .view()
    }
    pub fn heads(&self) -> Vec<automerge::ChangeHash> {
        self.home
            .open(&self.id(), LockMode::Shared)
            .unwrap()
            .replica()
            .heads()
    }
    pub fn invite(&self, node: &Node, secret: [u8; 32], valid_secs: i64) -> InviteTicket {
        let open = self.home.open(&self.id(), LockMode::Exclusive).unwrap();
        add_invite(&open, Invite::new(&secret, "member", now(), valid_secs)).unwrap();
        InviteTicket {
            alliance: self.id().0.0,
            inviter: addr_for(&node.device(), &node.addrs(), None),
            secret,
        }
    }
    /// Joins with `ticket` through a temporary endpoint, then stores the alliance.
    pub async fn join(&self, ticket: &InviteTicket) -> Result<(), NetError> {
        let node = self.node().await;
        let result = join(&node.endpoint, ticket, self.name, node.addrs()).await;
        node.shutdown().await;
        let (target, _, addrs) = result?;
        let inviter = alliance::net::endpoint::device_of(&ticket.inviter.id);
        save_join(&self.home, &target, &inviter, &addrs, now())?;
        Ok(())
    }
}

/// iroh's relay server on 127.0.0.1 with a self-signed certificate, and a loopback network
/// configuration that uses it (and trusts that certificate). Keep the server while it is used.
pub async fn loopback_relay() -> (iroh::RelayUrl, NetConfig, iroh_relay::server::Server) {
    use iroh_relay::server::{CertConfig, RelayConfig, Server, ServerConfig, TlsConfig};
    let (certs, tls) = iroh_relay::server::testing::self_signed_tls_certs_and_config();
    let localhost = std::net::Ipv4Addr::LOCALHOST;
    let mut relay = RelayConfig::new((localhost, 0));
    relay.tls = Some(TlsConfig::new(
        (localhost, 0),
        CertConfig::Manual { server_config: tls },
    ));
    let mut server_config = ServerConfig::default();
    server_config.relay = Some(relay);
    let server = Server::spawn(server_config).await.unwrap();
    let relay_url: iroh::RelayUrl = format!("https://{}", server.https_addr().unwrap())
        .parse()
        .unwrap();
    let config = NetConfig {
        relay: alliance::net::endpoint::Relay::Custom(relay_url.clone()),
        relay_ca: Some(iroh::tls::CaTlsConfig::custom_roots(certs)),
        ..NetConfig::loopback()
    };
    (relay_url, config, server)
}

/// Ada founds the alliance; Ben and Chioma join with tickets while Ada's device serves.
pub async fn family() -> (Dev, Dev, Dev) {
    let ada = Dev::new(1, "Ada");
    ada.found("The Okafor family");
    let (ben, chioma) = (Dev::new(2, "Ben"), Dev::new(3, "Chioma"));
    let node = ada.node().await;
    ben.join(&ada.invite(&node, [21; 32], 3600)).await.unwrap();
    chioma
        .join(&ada.invite(&node, [22; 32], 3600))
        .await
        .unwrap();
    node.shutdown().await;
    (ada, ben, chioma)
}

/// Tells `from`'s node where `to`'s node listens now (as a ticket, mDNS or an earlier
/// connection would): test nodes bind a new port each time.
pub fn introduce(from: &Node, to: &Node) {
    from.listener.alliances()[0]
        .record_contact(&to.device(), &to.addrs(), Ok(()), now())
        .unwrap();
}

/// `node` syncs once with `other`'s device; every session must succeed.
pub async fn sync_once_with(node: &Node, other: &Dev) {
    let shared = node.listener.alliances()[0].clone();
    for o in node
        .sync_once(&shared, Some(&[other.key().device_id()]))
        .await
        .unwrap()
    {
        o.result.unwrap();
    }
}

pub async fn sync_pair(a: &Dev, b: &Dev) {
    let (na, nb) = (a.node().await, b.node().await);
    introduce(&na, &nb);
    introduce(&nb, &na);
    sync_once_with(&nb, a).await;
    sync_once_with(&na, b).await;
    na.shutdown().await;
    nb.shutdown().await;
}

/// Ben's device speaking the live protocol by hand: hello, then whatever frames the test sends.
pub async fn raw_live_session(
    from: &Node,
    to: &Node,
    alliance: AllianceId,
) -> (iroh::endpoint::SendStream, iroh::endpoint::RecvStream) {
    use alliance::net::wire::{Frame, read_frame, write_frame};
    let conn = from
        .endpoint
        .connect(
            addr_for(&to.device(), &to.addrs(), None),
            alliance::constants::ALPN,
        )
        .await
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    write_frame(
        &mut send,
        &Frame::Hello {
            alliance: alliance.0.0,
            join: None,
            live: true,
            addrs: vec![],
            hand_over: None,
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        read_frame(&mut recv).await.unwrap(),
        Frame::Welcome { .. }
    ));
    // Keep the connection open as long as the streams live.
    std::mem::forget(conn);
    (send, recv)
}

impl Dev {
    /// A change as this device's modified client makes it (see [`super::forge`]): on the
    /// document at `heads` (its current heads when `None`), under this device's own actor (a
    /// fresh one when backdated).
    pub fn forge(
        &self,
        heads: Option<&[automerge::ChangeHash]>,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &automerge::Automerge),
    ) -> alliance::core::SignedChange<alliance::core::Unverified> {
        let mut open = self.home.open(&self.id(), LockMode::Exclusive).unwrap();
        let mut e = SeededEntropy::new(99);
        let tag = open.actor_tag(&mut e).unwrap();
        let doc = open.replica().doc().clone();
        let mut actor = self.key().device_id().as_bytes().to_vec();
        actor.extend_from_slice(&if heads.is_some() { [0xfe; 8] } else { tag });
        let heads = heads.map(<[_]>::to_vec).unwrap_or_else(|| doc.get_heads());
        super::forge(
            &doc,
            &heads,
            automerge::ActorId::from(actor),
            &self.key(),
            now().0,
            f,
        )
    }

    /// Stores `change` as this device's modified client would: written to its store without
    /// any check (the device then offers it to every peer it syncs with).
    pub fn store_unchecked(
        &self,
        change: &alliance::core::SignedChange<alliance::core::Unverified>,
    ) {
        let verified = change.clone().verify().expect("genuinely signed");
        let mut open = self.home.open(&self.id(), LockMode::Exclusive).unwrap();
        open.persist(&[verified]).unwrap();
    }

    /// Receives everything `from` holds, as a bundle would bring it (verified, then persisted).
    pub fn take_all_from(&self, from: &Dev) {
        let source = from.home.open(&from.id(), LockMode::Shared).unwrap();
        let replica = source.replica();
        let batch = replica
            .for_sending(replica.changes_since(&[]))
            .iter()
            .map(|c| c.to_unverified())
            .collect();
        drop(source);
        let mut open = self.home.open(&self.id(), LockMode::Exclusive).unwrap();
        let received = open.replica_mut().receive(batch).unwrap();
        open.persist(&received.new).unwrap();
    }

    /// Whether this device's alliance holds a need with exactly `text`.
    pub fn has_need(&self, text: &str) -> bool {
        self.view().needs.iter().any(|n| n.text == text)
    }
}

/// `from` adds a need `text` and syncs it to `to` through their running nodes: the check that
/// honest devices still sync after an attack.
pub async fn honest_need_arrives(
    from: &Dev,
    from_node: &Node,
    to: &Dev,
    to_node: &Node,
    text: &str,
) {
    from.edit(|r, w, e| {
        r.add_need(w, e, text).unwrap();
    });
    introduce(from_node, to_node);
    sync_once_with(from_node, to).await;
    assert!(to.has_need(text), "{text:?} did not arrive");
}

/// A hand-made push of changes, each with the signature given (an empty one: none): more than
/// an honest sender sends (it signs each author's newest only), which a receiver checks for the
/// newest and drops for the rest.
pub fn push_each_signed(changes: &[(Vec<u8>, Vec<u8>)]) -> alliance::net::wire::Frame {
    alliance::net::wire::Frame::Changes {
        changes: changes.iter().map(|c| c.0.clone()).collect(),
        signatures: changes
            .iter()
            .filter(|(_, sig)| !sig.is_empty())
            .map(|(bytes, sig)| alliance::core::sync::Vouch {
                change: alliance::core::SignedChange::from_parts(bytes.clone(), None)
                    .unwrap()
                    .hash()
                    .0,
                signature: sig.clone(),
                via: Vec::new(),
            })
            .collect(),
    }
}
