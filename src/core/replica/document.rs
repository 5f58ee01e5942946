//! Receiving a whole history as one Automerge document ([`Replica::receive_document`]): what
//! a peer sends a device that has nothing yet. The document is loaded on its own copy, its
//! limits checked on Automerge's metadata, then split into its changes, which go through every
//! check of `receive` as one batch before anything of it is kept; an empty replica then takes
//! the copy as it is, a replica that meanwhile has changes of its own applies the changes it
//! lacks.

use std::collections::HashMap;

use automerge::{Automerge, ChangeHash, ReadDoc};

use super::receive::within_batch_ops;
use super::{Budget, ReceiveError, Received, Replica};
use crate::constants::MAX_BATCH_CHANGES;
use crate::core::trust::guard::guarded;
use crate::core::trust::signed::{ChangeError, SignedChange, Voucher, within_change_ops};

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
    /// dependencies; the operation limits; the genesis change is this alliance's. Then the
    /// copy is split into its changes and they go through every check of
    /// [`Replica::receive`] as one batch (authorship, membership as of each change's
    /// dependencies, the rules), before anything reaches the replica. An empty replica takes
    /// the copy as it is (persist it as a snapshot, [`Received::loaded`]); a replica that
    /// meanwhile has changes of its own applies the document's changes it lacks.
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
        // Split into its changes, each judged as any batch's change is, before anything of
        // the document reaches the replica.
        let changes = guarded(|| loaded.get_changes(&[])).ok_or(ReceiveError::Panicked {
            step: "reading the changes",
            reload: false,
        })?;
        let batch = changes
            .into_iter()
            .map(|c| {
                let voucher = sig_of.get(&c.hash()).map(|v| (*v).clone());
                Ok(SignedChange::from_parsed(c)?.with_voucher(voucher))
            })
            .collect::<Result<Vec<_>, ReceiveError>>()?;
        let total = metas.len();
        drop(metas);
        drop(sig_of);
        let empty = self.is_empty();
        let mut received = self.receive_judged(batch, budget, empty.then_some(loaded))?;
        if received.loaded == 0 {
            received.duplicates += total.saturating_sub(received.new.len() + received.dropped);
        }
        Ok(received)
    }
}
