//! Receiving a whole history as one Automerge document ([`Replica::receive_document`]): what
//! a peer sends a device that has nothing yet. The document is loaded on its own copy and goes
//! through the checks of `receive`, on Automerge's metadata of its changes, before anything of
//! it is kept; an empty replica then takes it as it is, a replica that meanwhile has changes of
//! its own takes the changes it lacks as a batch.

use std::collections::HashMap;

use automerge::{Automerge, ChangeHash, ReadDoc};

use super::receive::{Numbering, Past, check_op_ranges, within_batch_ops};
use super::{Budget, ReceiveError, Received, Replica};
use crate::constants::MAX_BATCH_CHANGES;
use crate::core::trust::guard::guarded;
use crate::core::trust::identity::DeviceId;
use crate::core::trust::signed::{
    ChangeError, Claim, SignedChange, Voucher, authored, check_vouching_signatures,
    within_change_ops,
};

impl Replica {
    /// [`Replica::receive_document_within`] with no time limit.
    pub fn receive_document(
        &mut self,
        bytes: &[u8],
        signatures: &[(ChangeHash, Voucher)],
    ) -> Result<Received, ReceiveError> {
        self.receive_document_within(bytes, signatures, &Budget::unlimited())
    }

    /// Receives a whole history as one Automerge document with the signatures that vouch for
    /// its changes (each author's newest changes', see [`vouch`](crate::core::trust::vouch)), as
    /// (change hash, signature): what a peer sends a device that has nothing yet, because
    /// loading a document costs a fraction of applying its changes one by one.
    ///
    /// The document is loaded into a separate copy (guarded against panics) and nothing of it
    /// is kept unless all of it passes: Automerge recomputes every change hash while loading
    /// and checks the document's heads against them; nothing may wait for missing
    /// dependencies; the operation limits; the genesis change is this alliance's; authorship
    /// is checked as in [`Replica::receive`]; and every author was a member as of each
    /// change's dependencies. An empty replica takes the document as it is (persist it as a
    /// snapshot, [`Received::loaded`]); a replica that meanwhile has changes of its own takes
    /// the document's changes it lacks, through [`Replica::receive_within`].
    pub fn receive_document_within(
        &mut self,
        bytes: &[u8],
        signatures: &[(ChangeHash, Voucher)],
        budget: &Budget<'_>,
    ) -> Result<Received, ReceiveError> {
        let loaded = match guarded(|| Automerge::load(bytes)) {
            Some(Ok(doc)) => doc,
            Some(Err(e)) => return Err(ReceiveError::Automerge(e.to_string())),
            None => {
                return Err(ReceiveError::Panicked {
                    step: "loading a document",
                    reload: false,
                });
            }
        };
        budget.check("loading the document")?;
        // The dependency check: a change whose dependencies were not sent waits in Automerge's
        // queue.
        let missing = loaded.get_missing_deps(&[]);
        if !missing.is_empty() {
            return Err(ReceiveError::MissingDependencies {
                count: missing.len(),
            });
        }
        let metas = loaded.get_changes_meta(&[]);
        if metas.len() > MAX_BATCH_CHANGES {
            return Err(ReceiveError::TooMany(metas.len()));
        }
        let mut sig_of: HashMap<ChangeHash, &Voucher> = HashMap::with_capacity(signatures.len());
        for (hash, sig) in signatures {
            if sig_of.insert(*hash, sig).is_some() {
                return Err(ChangeError::Malformed(format!(
                    "two signatures were sent for change {hash}"
                ))
                .into());
            }
        }
        if let Some(stray) = sig_of
            .keys()
            .find(|h| loaded.get_change_meta_by_hash(h).is_none())
        {
            return Err(ChangeError::StraySignature(stray.to_string()).into());
        }
        let mut ops: u64 = 0;
        for m in &metas {
            let n = m.max_op.saturating_add(1).saturating_sub(m.start_op);
            within_change_ops(&m.hash, n)?;
            ops += n;
        }
        within_batch_ops(ops, "document")?;
        match loaded.get_change_meta_by_hash(&self.id.0) {
            Some(genesis) if genesis.deps.is_empty() => {}
            _ => return Err(ReceiveError::WrongAlliance(self.id.short())),
        }
        // Authorship, as for a batch (see `authenticate_batch`), on Automerge's metadata.
        let nodes = authored(
            metas
                .iter()
                .map(|m| (m.hash, m.actor.as_ref(), m.deps.as_slice())),
        )?;
        let checked = check_vouching_signatures(&nodes, |i| sig_of.get(&nodes[i].hash).copied())?;
        // Only the signatures checked are kept (one sent on an older change is redundant).
        let kept: HashMap<ChangeHash, Voucher> = checked
            .iter()
            .filter_map(|&i| Some((nodes[i].hash, (*sig_of.get(&nodes[i].hash)?).clone())))
            .collect();
        budget.check("checking signatures")?;
        let claims: Vec<Claim<'_>> = nodes.iter().map(|n| (n.hash, n.deps, n.author)).collect();
        let author_of: HashMap<ChangeHash, DeviceId> =
            nodes.iter().map(|n| (n.hash, n.author)).collect();
        drop(nodes);
        let people = self.check_authors(&loaded, &claims, budget)?;
        drop(claims);
        let changes = guarded(|| loaded.get_changes(&[])).ok_or(ReceiveError::Panicked {
            step: "reading the changes",
            reload: false,
        })?;
        self.check_rules(
            &loaded,
            changes.iter().map(|c| (c, author_of[&c.hash()])),
            &people,
            budget,
        )?;
        drop(changes);
        check_op_ranges(metas.iter().map(Numbering::from), Past::Document(&loaded))?;
        let total = metas.len();
        drop(metas);
        if self.is_empty() {
            self.doc = loaded;
            (self.signatures, self.proofs) = (HashMap::new(), HashMap::new());
            for (hash, voucher) in kept {
                self.keep_voucher(hash, voucher);
            }
            self.seq_counts = Default::default();
            let withdrawn = self.withdraw_concurrent_with_removals();
            return Ok(Received {
                new: Vec::new(),
                duplicates: 0,
                loaded: total - withdrawn.len(),
                equivocations: 0,
                dropped: withdrawn.len(),
            });
        }
        // Another session filled this replica meanwhile: take what it lacks, through the same
        // checks as any batch (equivocations included).
        let added =
            guarded(|| self.doc.get_changes_added(&loaded)).ok_or(ReceiveError::Panicked {
                step: "comparing histories",
                reload: false,
            })?;
        let batch = added
            .into_iter()
            .map(|c| {
                let change = SignedChange::from_parts(c.raw_bytes().to_vec(), None)?;
                Ok(change.with_voucher(kept.get(&c.hash()).cloned()))
            })
            .collect::<Result<Vec<_>, ReceiveError>>()?;
        let mut received = self.receive_within(batch, budget)?;
        received.duplicates += total.saturating_sub(received.new.len() + received.dropped);
        Ok(received)
    }
}
