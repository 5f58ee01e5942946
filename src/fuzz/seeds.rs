//! The seed inputs of every target, built from the fixed alliance.

use crate::core::sync::PeerSync;
use crate::core::{Replica, SignedChange, Verified};
use crate::net::ticket::InviteTicket;
use crate::net::wire::{self, Frame};

use super::store_load::store_files;
use super::{OPEN_INVITE_SECRET, fixture};
use crate::core::raw::{CHANGE, chunk_body};

/// Valid inputs for every target, built from the fixed alliance: the starting corpus
/// (`fuzz/seeds/<target>/`), and what the regression tests check is still accepted.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let fx = fixture();
    let mut out = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        out.push((target, name.to_string(), bytes));
    };

    let t = InviteTicket {
        alliance: fx.base.id().0.0,
        inviter: iroh::EndpointAddr::new(iroh::SecretKey::from_bytes(&fx.ada.to_seed()).public())
            .with_ip_addr("127.0.0.1:4242".parse().unwrap()),
        secret: OPEN_INVITE_SECRET,
    };
    add("ticket", "ticket", t.to_string().into_bytes());

    let body = |f: &Frame| wire::encode(f)[4..].to_vec();
    let changes = fx.base.changes_since(&[]);
    let hello_join = Frame::Hello {
        alliance: fx.base.id().0.0,
        join: Some(wire::JoinRequest {
            secret: OPEN_INVITE_SECRET,
            name: "Eve".into(),
        }),
        live: true,
        addrs: vec!["127.0.0.1:4000".into(), "[::1]:4000".into()],
        hand_over: None,
    };
    add("wire_frame", "hello_join", body(&hello_join));
    add(
        "wire_frame",
        "welcome",
        body(&Frame::Welcome {
            addrs: vec!["192.168.1.20:51820".into()],
        }),
    );
    add(
        "wire_frame",
        "changes_push",
        body(
            &crate::proto::session::push_frame(&[fx.next.clone(), fx.after_next.clone()])
                .expect("both changes are signed"),
        ),
    );
    // A sync round from a device that has nothing, and the answer it gets (the whole document).
    let mut empty = Replica::empty(fx.base.id());
    let mut asker = PeerSync::new();
    let first = asker.generate(&empty).expect("a first message");
    add(
        "wire_frame",
        "sync_first",
        body(&Frame::Sync(first.clone())),
    );
    let mut answerer = PeerSync::new();
    let mut base = fx.base.clone();
    answerer.receive(&mut base, first).expect("a first message");
    let doc_msg = answerer.generate(&base).expect("an answer");
    add(
        "wire_frame",
        "sync_document",
        body(&Frame::Sync(doc_msg.clone())),
    );
    asker.receive(&mut empty, doc_msg).expect("the document");
    // A sync message carrying two changes one by one.
    let mut more = fx.with_both();
    let (mut s1, mut s2) = (PeerSync::new(), PeerSync::new());
    let m = s1.generate(&fx.base).unwrap();
    s2.receive(&mut more, m).unwrap();
    let changes_msg = s2.generate(&more).unwrap();
    add(
        "wire_frame",
        "sync_changes",
        body(&Frame::Sync(changes_msg.clone())),
    );
    add("wire_frame", "done", body(&Frame::Done));
    // Sessions: a one-shot listener answering an empty device's round, then Done; a live
    // listener taking a push and a sync round, its settle timer, a fresh change and a close.
    let record = |f: &Frame| {
        let b = body(f);
        [vec![0], (b.len() as u16).to_be_bytes().to_vec(), b].concat()
    };
    let asking = PeerSync::new()
        .generate(&Replica::empty(fx.base.id()))
        .unwrap();
    add(
        "session_frames",
        "one_shot_listener",
        [
            vec![0b01],
            record(&Frame::Sync(asking)),
            record(&Frame::Done),
            vec![1],
        ]
        .concat(),
    );
    add(
        "session_frames",
        "live_listener",
        [
            vec![0b11],
            record(
                &crate::proto::session::push_frame(std::slice::from_ref(&fx.next))
                    .expect("a signed change"),
            ),
            record(&Frame::Sync(changes_msg.clone())),
            vec![1, 2, 3, 1, 4],
        ]
        .concat(),
    );

    let change_body = |c: &SignedChange<Verified>| chunk_body(c.raw_bytes()).unwrap().1.to_vec();
    let with = |flags: u8, b: Vec<u8>| [vec![flags], b].concat();
    add(
        "received_changes",
        "push_next",
        with(CHANGE, change_body(&fx.next)),
    );
    add(
        "received_changes",
        "push_after_next_in_batch",
        with(CHANGE | 0b100, change_body(&fx.after_next)),
    );
    add(
        "received_changes",
        "sync_after_next_in_batch",
        with(CHANGE | 0b1100, change_body(&fx.after_next)),
    );
    // A change the base already holds (a duplicate) and one of another alliance's genesis.
    add(
        "received_changes",
        "push_duplicate",
        with(CHANGE, change_body(&changes[changes.len() - 1])),
    );

    let doc_body = |doc: &[u8]| chunk_body(doc).unwrap().1.to_vec();
    add("received_document", "saved", doc_body(&fx.base.save()));
    add(
        "received_document",
        "saved_uncompressed",
        doc_body(&fx.base.doc().save_nocompress()),
    );

    let files = store_files();
    add("store_load", "log", with(0, files.log.clone()));
    add("store_load", "log_fixed", with(1, files.log.clone()));
    add("store_load", "snapshot", with(2, files.snapshot.clone()));
    add(
        "store_load",
        "snapshot_doc",
        with(3, doc_body(&fx.base.doc().save_nocompress())),
    );
    add("store_load", "index", with(4, files.index.clone()));
    add(
        "store_load",
        "index_body",
        with(5, files.index[12..].to_vec()),
    );
    add(
        "store_load",
        "local_json",
        with(6, br#"{"actor_tag": "0101010101010101"}"#.to_vec()),
    );
    let mut sync = PeerSync::new();
    let _ = sync.generate(&fx.base);
    add("store_load", "sync_state", with(7, sync.encode()));
    out
}
