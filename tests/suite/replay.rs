//! An item read forward from its changes' operations (`core::replay`, what `history` uses)
//! reads exactly as Automerge reads the document at the same point, on random concurrent
//! histories: three devices reword one text, set fields, agree and withdraw, edit a list,
//! and merge each other at random moments; the changes are then applied in a random causal
//! order and, after each one, the replay is compared with `item_at` as of the changes applied.

use std::collections::HashSet;

use alliance::core::ItemId;
use alliance::core::history::item_at;
use alliance::core::replay::ItemReplay;
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, Value};
use proptest::prelude::*;

const ITEM: &str = "e7kq2";

#[derive(Debug, Clone)]
enum Step {
    /// Replace `del` characters at a fraction of the text's length with `ins`.
    Splice(usize, u8, usize, String),
    Put(usize, &'static str, String),
    Agree(usize, &'static str, i64),
    Withdraw(usize, &'static str),
    Push(usize, String),
    Pop(usize, u8),
    /// Device `a` takes everything device `b` has.
    Merge(usize, usize),
}

fn step() -> impl Strategy<Value = Step> {
    let who = 0..3usize;
    let text = "[a-cé😀 ]{0,6}";
    prop_oneof![
        4 => (who.clone(), any::<u8>(), 0..5usize, text).prop_map(|(a, at, d, s)| Step::Splice(a, at, d, s)),
        1 => (who.clone(), prop::sample::select(vec!["holder", "status"]), "[xyz]{1,3}").prop_map(|(a, k, v)| Step::Put(a, k, v)),
        1 => (who.clone(), prop::sample::select(vec!["m1", "m2"]), 0..3i64).prop_map(|(a, m, v)| Step::Agree(a, m, v)),
        1 => (who.clone(), prop::sample::select(vec!["m1", "m2"])).prop_map(|(a, m)| Step::Withdraw(a, m)),
        1 => (who.clone(), "[pq]{1,2}").prop_map(|(a, s)| Step::Push(a, s)),
        1 => (who.clone(), any::<u8>()).prop_map(|(a, at)| Step::Pop(a, at)),
        2 => (who.clone(), who).prop_map(|(a, b)| Step::Merge(a, b)),
    ]
}

fn map(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key) {
        Ok(Some((Value::Object(_), id))) => Some(id),
        _ => None,
    }
}

fn item(doc: &AutoCommit) -> ObjId {
    let c = map(doc, &ROOT, "expectations").expect("collection");
    map(doc, &c, ITEM).expect("item")
}

/// Runs the steps on three devices forked from one founding change; every device then
/// merges all. Returns the merged document.
fn run(steps: &[Step]) -> AutoCommit {
    let mut base = AutoCommit::new().with_actor(ActorId::from(vec![1]));
    let c = base
        .put_object(ROOT, "expectations", ObjType::Map)
        .expect("put");
    base.put_object(ROOT, "needs", ObjType::Map).expect("put");
    base.commit();
    let e = base.put_object(&c, ITEM, ObjType::Map).expect("put");
    let t = base.put_object(&e, "text", ObjType::Text).expect("put");
    base.splice_text(&t, 0, 0, "No screens after 9pm")
        .expect("splice");
    base.put_object(&e, "agreements", ObjType::Map)
        .expect("put");
    base.put_object(&e, "of", ObjType::List).expect("put");
    base.put(&e, "created_at", 1_i64).expect("put");
    base.commit();
    let mut docs: Vec<AutoCommit> = (0..3u8)
        .map(|i| base.fork().with_actor(ActorId::from(vec![10 + i])))
        .collect();
    for s in steps {
        match s {
            Step::Merge(a, b) => {
                if a != b {
                    let mut other = docs[*b].clone();
                    docs[*a].merge(&mut other).expect("merge");
                }
                continue;
            }
            Step::Splice(a, at, del, ins) => {
                let d = &mut docs[*a];
                let e = item(d);
                let t = map(d, &e, "text").expect("text");
                let len = d.length(&t);
                let pos = len * (*at as usize) / 256;
                let del = (*del).min(len - pos);
                d.splice_text(&t, pos, del as isize, ins).expect("splice");
            }
            Step::Put(a, k, v) => {
                let d = &mut docs[*a];
                let e = item(d);
                d.put(&e, *k, v.as_str()).expect("put");
            }
            Step::Agree(a, m, v) => {
                let d = &mut docs[*a];
                let e = item(d);
                let ag = map(d, &e, "agreements").expect("agreements");
                let one = d.put_object(&ag, *m, ObjType::Map).expect("put");
                d.put(&one, "text_digest", *v).expect("put");
            }
            Step::Withdraw(a, m) => {
                let d = &mut docs[*a];
                let e = item(d);
                let ag = map(d, &e, "agreements").expect("agreements");
                if d.get(&ag, *m).expect("get").is_some() {
                    d.delete(&ag, *m).expect("delete");
                }
            }
            Step::Push(a, s) => {
                let d = &mut docs[*a];
                let e = item(d);
                let l = map(d, &e, "of").expect("of");
                let len = d.length(&l);
                d.insert(&l, len, s.as_str()).expect("insert");
            }
            Step::Pop(a, at) => {
                let d = &mut docs[*a];
                let e = item(d);
                let l = map(d, &e, "of").expect("of");
                let len = d.length(&l);
                if len > 0 {
                    d.delete(&l, len * (*at as usize) / 256).expect("delete");
                }
            }
        }
        docs[match s {
            Step::Splice(a, ..)
            | Step::Put(a, ..)
            | Step::Agree(a, ..)
            | Step::Withdraw(a, ..)
            | Step::Push(a, ..)
            | Step::Pop(a, ..)
            | Step::Merge(a, _) => *a,
        }]
        .commit();
    }
    let mut all = docs.remove(0);
    for mut d in docs {
        all.merge(&mut d).expect("merge");
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn an_item_replayed_forward_reads_as_automerge_reads_it(
        steps in prop::collection::vec(step(), 1..40),
        order_seed in any::<u64>(),
    ) {
        let mut doc = run(&steps);
        let doc = doc.document();
        let id: ItemId = ITEM.parse().expect("item id");
        let mut replay = ItemReplay::new(doc, &id).expect("a replay");
        // A random causal order: at each step one of the changes whose dependencies are in.
        let mut pending: Vec<automerge::Change> = doc.get_changes(&[]);
        let mut applied: HashSet<ChangeHash> = HashSet::new();
        let mut heads: Vec<ChangeHash> = Vec::new();
        let mut seed = order_seed | 1;
        while !pending.is_empty() {
            let ready: Vec<usize> = (0..pending.len())
                .filter(|i| pending[*i].deps().iter().all(|d| applied.contains(d)))
                .collect();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let change = pending.swap_remove(ready[(seed % ready.len() as u64) as usize]);
            replay.apply(&change).expect("the replay models these operations");
            heads.retain(|h| !change.deps().contains(h));
            heads.push(change.hash());
            applied.insert(change.hash());
            prop_assert_eq!(
                replay.read(),
                item_at(doc, &id, &heads),
                "after {} of {} changes", applied.len(), doc.get_changes(&[]).len()
            );
        }
    }
}
