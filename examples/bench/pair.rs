//! Two replicas syncing in memory until both are quiet: alliance's `PeerSync` and Automerge's
//! own sync protocol driven the same way, each message encoded as it would go on the wire. And
//! the tokio runtime the network sections share.

use alliance::core::sync::PeerSync;
use alliance::core::{DeviceKey, Replica};
use alliance::proto::sim::{Outcome, one_shot};
use automerge::Automerge;
use automerge::sync::{Message, State, SyncDoc};

/// alliance's sync, both ways, until neither side has anything to say: the protocol's own
/// one-shot session state machine over the simulated wire. Returns the bytes the frames take
/// on the wire.
pub fn exchange(a: &mut Replica, sa: &mut PeerSync, b: &mut Replica, sb: &mut PeerSync) -> usize {
    let run = one_shot(
        (DeviceKey::from_seed([0xa0; 32]).device_id(), a, sa),
        (DeviceKey::from_seed([0xb0; 32]).device_id(), b, sb),
        None,
    );
    assert_eq!(run.outcome, Outcome::Done, "valid changes are accepted");
    run.bytes
}

/// Automerge's sync protocol the same way, unsigned and unverified. Returns the bytes of the
/// encoded messages.
pub fn automerge_exchange(
    a: &mut Automerge,
    sa: &mut State,
    b: &mut Automerge,
    sb: &mut State,
) -> usize {
    let mut bytes = 0;
    loop {
        let m1 = a.generate_sync_message(sa).map(|m| m.encode());
        if let Some(m) = &m1 {
            bytes += m.len();
            b.receive_sync_message(sb, Message::decode(m).unwrap())
                .unwrap();
        }
        let m2 = b.generate_sync_message(sb).map(|m| m.encode());
        if let Some(m) = &m2 {
            bytes += m.len();
            a.receive_sync_message(sa, Message::decode(m).unwrap())
                .unwrap();
        }
        if m1.is_none() && m2.is_none() {
            return bytes;
        }
    }
}

/// The runtime for the sections that use iroh: two workers, one per core.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
