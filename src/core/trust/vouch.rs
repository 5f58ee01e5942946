//! Which signatures of a batch must be checked: each author's newest changes.
//!
//! A change's hash covers the hashes of its dependencies, so a signature on a change vouches
//! for its whole causal past, byte for byte. An honest device only builds on changes it made
//! or accepted, and it accepts a change under its own key only with a valid signature by that
//! key (on the change or on one of the key's later changes, which it could only have made
//! after accepting this one). So when author A's valid signature covers change H, every change
//! by A among H's ancestors was made by A.
//!
//! For a batch that means: per author key, only the changes that are *not* an ancestor of
//! another change of the same author in the batch need their own signature checked (usually
//! one per device). Every other change of that author is an ancestor of one of them, found
//! through dependency hashes recomputed from the bytes. Ancestry is only followed inside the
//! batch, which is enough: a change the replica already holds has its whole past in the
//! replica, so none of its ancestors can be new.
//!
//! So only those signatures travel (on the wire and in bundles), and a receiver keeps only
//! the ones it checked. Later, [`vouchers`] finds for every change of a whole history the
//! signature that vouches for it: its own, or one of its author's later changes that has it in
//! its past. `alliance verify`, `log` and the review commands attribute each change through it,
//! so tampering with any stored byte still breaks a signature. No I/O.

use std::collections::HashMap;

use automerge::ChangeHash;

use crate::core::trust::identity::DeviceId;

/// Authors per batch for which the plan tracks ancestry (a bit per author and change); a batch
/// with more authors has every signature checked.
pub const MAX_TRACKED_AUTHORS: usize = 1024;

/// One change of a batch, as far as the plan is concerned.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    pub hash: ChangeHash,
    pub author: DeviceId,
    pub deps: &'a [ChangeHash],
}

/// The order of a batch from its dependencies: every change after the changes of the batch it
/// depends on, ties kept in the batch's order. `None` when the dependencies inside the batch
/// form a cycle (impossible for real change hashes) or a hash appears twice.
pub fn causal_order(nodes: &[Node<'_>]) -> Option<Vec<usize>> {
    let index = positions(nodes)?;
    let mut waiting = vec![0usize; nodes.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for d in n.deps {
            if let Some(&j) = index.get(d) {
                waiting[i] += 1;
                children[j].push(i);
            }
        }
    }
    // Kahn's algorithm; a min-heap on the position keeps ties in batch order.
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = waiting
        .iter()
        .enumerate()
        .filter(|(_, w)| **w == 0)
        .map(|(i, _)| std::cmp::Reverse(i))
        .collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &c in &children[i] {
            waiting[c] -= 1;
            if waiting[c] == 0 {
                ready.push(std::cmp::Reverse(c));
            }
        }
    }
    (order.len() == nodes.len()).then_some(order)
}

/// The positions of the changes whose own signature must be checked: for each author, its
/// changes that no other change of the same author in the batch depends on, directly or
/// through other changes of the batch. Every signature is listed when the batch has more than
/// [`MAX_TRACKED_AUTHORS`] authors or its dependencies are not a DAG.
pub fn signatures_to_check(nodes: &[Node<'_>]) -> Vec<usize> {
    let everything = || (0..nodes.len()).collect();
    let Some(order) = causal_order(nodes) else {
        return everything();
    };
    let mut slots: HashMap<DeviceId, usize> = HashMap::new();
    for n in nodes {
        let next = slots.len();
        slots.entry(n.author).or_insert(next);
    }
    if slots.len() > MAX_TRACKED_AUTHORS {
        return everything();
    }
    let index = positions(nodes).expect("causal_order checked the hashes");
    let words = slots.len().div_ceil(64);
    let slot: Vec<usize> = nodes.iter().map(|n| slots[&n.author]).collect();
    // below[i]: the authors of the batch's changes that depend on change i, a bit each.
    let mut below = vec![0u64; nodes.len() * words];
    let mut mine = vec![0u64; words];
    for &i in order.iter().rev() {
        mine.copy_from_slice(&below[i * words..(i + 1) * words]);
        mine[slot[i] / 64] |= 1 << (slot[i] % 64);
        for d in nodes[i].deps {
            if let Some(&j) = index.get(d) {
                for (w, m) in below[j * words..(j + 1) * words].iter_mut().zip(&mine) {
                    *w |= m;
                }
            }
        }
    }
    (0..nodes.len())
        .filter(|&i| below[i * words + slot[i] / 64] & (1 << (slot[i] % 64)) == 0)
        .collect()
}

/// One change of a whole history: its hash, its dependencies and its author (`None` when its
/// actor names no device key: it neither vouches nor is vouched for).
pub type History<'a> = (ChangeHash, &'a [ChangeHash], Option<DeviceId>);

fn history_positions(nodes: &[History<'_>]) -> HashMap<ChangeHash, usize> {
    nodes.iter().enumerate().map(|(i, n)| (n.0, i)).collect()
}

/// Which signature vouches for each change of a whole history: its own, or that of a later
/// change of the same author that has it in its past. `nodes` in causal order (every change
/// after its dependencies, as Automerge lists a document's changes), `signed[i]` whether
/// change `i` has a signature of its own here.
///
/// Each signed change floods its past, marking its author's unsigned changes it reaches; the
/// flood of an author stops at changes an earlier flood of the same author reached (their
/// past was reached too), so each change is visited at most once per author who signs.
/// Floods go in causal order, so a change is vouched for by its author's earliest signed
/// change after it.
pub fn vouchers(nodes: &[History<'_>], signed: &[bool]) -> Vec<Option<usize>> {
    let index = history_positions(nodes);
    let mut voucher: Vec<Option<usize>> = signed
        .iter()
        .enumerate()
        .map(|(i, s)| s.then_some(i))
        .collect();
    let mut reached: HashMap<DeviceId, Vec<bool>> = HashMap::new();
    let mut stack = Vec::new();
    for (v, &(_, _, author)) in nodes.iter().enumerate() {
        let Some(author) = author.filter(|_| signed[v]) else {
            continue;
        };
        let seen = reached
            .entry(author)
            .or_insert_with(|| vec![false; nodes.len()]);
        if seen[v] {
            // Only when `nodes` is not in causal order: its past was flooded already.
            continue;
        }
        seen[v] = true;
        stack.push(v);
        while let Some(i) = stack.pop() {
            for d in nodes[i].1 {
                let Some(&j) = index.get(d) else { continue };
                if seen[j] {
                    continue;
                }
                seen[j] = true;
                if voucher[j].is_none() && nodes[j].2 == Some(author) {
                    voucher[j] = Some(v);
                }
                stack.push(j);
            }
        }
    }
    voucher
}

/// A path through the history from change `from` to its descendant `to`: the changes after
/// `from`, each depending on the one before it (the first on `from`), the last being `to`.
/// `None` when `to` does not have `from` in its past. For proofs that show why a signature
/// vouches for a change.
pub fn path(nodes: &[History<'_>], from: usize, to: usize) -> Option<Vec<usize>> {
    let index = history_positions(nodes);
    // Walk back from `to`, remembering through which change each one was reached.
    let mut came_from: HashMap<usize, usize> = HashMap::new();
    let mut stack = vec![to];
    let mut found = from == to;
    while let Some(i) = stack.pop() {
        if found {
            break;
        }
        for d in nodes[i].1 {
            let Some(&j) = index.get(d) else { continue };
            if j == to || came_from.contains_key(&j) {
                continue;
            }
            came_from.insert(j, i);
            if j == from {
                found = true;
                break;
            }
            stack.push(j);
        }
    }
    if !found {
        return None;
    }
    let mut out = Vec::new();
    let mut at = from;
    while at != to {
        at = came_from[&at];
        out.push(at);
    }
    Some(out)
}

fn positions(nodes: &[Node<'_>]) -> Option<HashMap<ChangeHash, usize>> {
    let mut index = HashMap::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        if index.insert(n.hash, i).is_some() {
            return None;
        }
    }
    Some(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::trust::identity::DeviceKey;

    fn h(i: u8) -> ChangeHash {
        ChangeHash([i; 32])
    }

    fn key(i: u8) -> DeviceId {
        DeviceKey::from_seed([i; 32]).device_id()
    }

    fn node(hash: ChangeHash, author: DeviceId, deps: &[ChangeHash]) -> Node<'_> {
        Node { hash, author, deps }
    }

    #[test]
    fn a_chain_by_one_author_needs_only_its_newest_signature() {
        let deps: Vec<Vec<ChangeHash>> = (0..5u8)
            .map(|i| if i == 0 { vec![] } else { vec![h(i)] })
            .collect();
        let nodes: Vec<Node<'_>> = (0..5u8)
            .map(|i| node(h(i + 1), key(1), &deps[i as usize]))
            .collect();
        assert_eq!(signatures_to_check(&nodes), vec![4]);
    }

    #[test]
    fn another_authors_change_in_between_still_vouches_through_it() {
        // A1 <- B1 <- A2: A2's signature covers A1 (through B1); B1 is B's newest.
        let (d1, d2): (Vec<ChangeHash>, Vec<ChangeHash>) = (vec![h(1)], vec![h(2)]);
        let nodes = [
            node(h(1), key(1), &[]),
            node(h(2), key(2), &d1),
            node(h(3), key(1), &d2),
        ];
        assert_eq!(signatures_to_check(&nodes), vec![1, 2]);
    }

    #[test]
    fn concurrent_changes_of_one_author_are_each_checked() {
        let d: Vec<ChangeHash> = vec![h(1)];
        let nodes = [
            node(h(1), key(1), &[]),
            node(h(2), key(1), &d),
            node(h(3), key(1), &d),
        ];
        assert_eq!(signatures_to_check(&nodes), vec![1, 2]);
    }

    #[test]
    fn a_change_another_author_built_on_is_not_vouched_for_by_that_author() {
        // B builds on a change claiming A: B's signature says nothing about A's authorship.
        let d: Vec<ChangeHash> = vec![h(1)];
        let nodes = [node(h(1), key(1), &[]), node(h(2), key(2), &d)];
        assert_eq!(signatures_to_check(&nodes), vec![0, 1]);
    }

    #[test]
    fn order_puts_dependencies_first_and_keeps_ties_in_batch_order() {
        let (d3, d1) = (vec![h(3)], vec![h(1)]);
        let nodes = [
            node(h(2), key(1), &d3),
            node(h(3), key(1), &d1),
            node(h(1), key(1), &[]),
            node(h(4), key(2), &[]),
        ];
        assert_eq!(causal_order(&nodes), Some(vec![2, 1, 0, 3]));
    }

    #[test]
    fn duplicate_hashes_make_every_signature_checked() {
        let nodes = [node(h(1), key(1), &[]), node(h(1), key(1), &[])];
        assert_eq!(causal_order(&nodes), None);
        assert_eq!(signatures_to_check(&nodes), vec![0, 1]);
    }
}

/// Which stored signature vouches for each change that has none of its own, worked out for
/// one set of heads (see [`vouchers`]); a replica keeps the last one it worked out.
#[derive(Debug, Default)]
pub(crate) struct Vouchers {
    pub(crate) heads: Vec<ChangeHash>,
    pub(crate) of: HashMap<ChangeHash, ChangeHash>,
}
