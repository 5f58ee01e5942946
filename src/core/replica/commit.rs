//! Local commits: a transaction run as this device's writer, committed with its summary and
//! signed right after Automerge makes it (as of the present, or of an earlier version); changes
//! read back from this device's own store; and the checks of text people write.

use automerge::{
    Automerge, AutomergeError, ChangeHash, ReadDoc,
    transaction::{CommitOptions, Transaction},
};

use super::{EditError, Replica, Writer, tips::Tips};
use crate::core::ids::Entropy;
use crate::core::trust::guard::guarded;
use crate::core::trust::signed::{SignedChange, Verified, Voucher};

impl Replica {
    /// Whether `writer` may commit here now: the replica is sound (not poisoned by a failed
    /// receive) and the writer's device is a member.
    fn may_commit(&self, writer: &Writer<'_>) -> Result<(), EditError> {
        if self.poisoned {
            return Err(EditError::Invalid(
                "the alliance must be loaded again after a failed receive".into(),
            ));
        }
        let device = writer.key.device_id();
        if self.member_of(&device).is_none() {
            return Err(EditError::NotAMember(device.short()));
        }
        Ok(())
    }

    /// Runs `f` in one transaction as `writer`, commits it with `summary` as the change message,
    /// signs it and records the signature. `Ok(None)` when `f` changed nothing.
    pub(crate) fn commit<F>(
        &mut self,
        writer: &Writer<'_>,
        summary: String,
        f: F,
    ) -> Result<Option<SignedChange<Verified>>, EditError>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<(), EditError>,
    {
        self.may_commit(writer)?;
        let change = commit_on(&mut self.doc, writer, summary, f)?;
        if let Some(c) = &change {
            self.keep_signature(c);
            self.note_seqs(std::slice::from_ref(c));
        }
        Ok(change)
    }

    /// Like [`Replica::commit`], but the change is made as of `heads`, an earlier version of
    /// this replica: its dependencies are `heads`, so it is concurrent with every change made
    /// since, exactly as if this device had made it before those arrived (and the merge,
    /// the conflicts it shows and settling them are the same as for any concurrent edit).
    ///
    /// The actor's changes must stay one chain with no sequence number used twice (two
    /// changes with one (actor, seq) are an equivocation every peer punishes). So this
    /// device's actor makes the change only when its own newest change is in the past of
    /// `heads` (then the change takes the next number and has all of the actor's changes in
    /// its past); else a fresh actor of this device, its tag drawn from `entropy`, makes it.
    pub(crate) fn commit_at<F>(
        &mut self,
        writer: &Writer<'_>,
        entropy: &mut dyn Entropy,
        heads: &[ChangeHash],
        summary: String,
        f: F,
    ) -> Result<Option<SignedChange<Verified>>, EditError>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<(), EditError>,
    {
        self.may_commit(writer)?;
        if let Some(h) = heads.iter().find(|h| !self.has(h)) {
            return Err(EditError::Invalid(format!(
                "the version {} is not known here; reload the page",
                &h.to_string()[..8]
            )));
        }
        let own = writer.actor();
        let since = self.doc.get_changes(heads);
        let mut tag = writer.actor_tag;
        if since.iter().any(|c| c.actor_id() == &own) {
            entropy.fill(&mut tag);
        }
        let writer = Writer {
            key: writer.key,
            actor_tag: tag,
            now: writer.now,
        };
        let change = commit_on_at(&mut self.doc, &writer, Some(heads), summary, f);
        // The document's own actor stays this device's usual one.
        self.doc.set_actor(own);
        let change = change?;
        if let Some(c) = &change {
            self.keep_signature(c);
            self.note_seqs(std::slice::from_ref(c));
        }
        Ok(change)
    }

    /// Applies changes read back from this device's own store (written by another process on
    /// this device, which verified them first).
    pub(crate) fn apply_trusted(
        &mut self,
        changes: Vec<SignedChange<Verified>>,
    ) -> Result<(), AutomergeError> {
        self.note_seqs(&changes);
        let mut plain = Vec::with_capacity(changes.len());
        for c in changes {
            self.keep_signature(&c);
            plain.push(c.into_change());
        }
        let result = guarded(|| self.doc.apply_changes(plain)).unwrap_or(Err(AutomergeError::Fail));
        if result.is_err() {
            self.seq_counts = Tips::default();
        }
        result
    }

    /// Applies a change this device made and signed on a fork of this replica.
    pub(crate) fn apply_local(&mut self, change: &SignedChange<Verified>) -> Result<(), EditError> {
        self.doc.apply_changes([change.change().clone()])?;
        self.keep_signature(change);
        self.note_seqs(std::slice::from_ref(change));
        Ok(())
    }

    /// Keeps a change's own signature, or its proof, when it came with one.
    pub(super) fn keep_signature(&mut self, change: &SignedChange<Verified>) {
        if let Some(voucher) = change.voucher() {
            self.keep_voucher(change.hash(), voucher.clone());
        }
    }

    /// Keeps what vouches for change `hash` itself: its signature, or its proof.
    pub(super) fn keep_voucher(&mut self, hash: ChangeHash, voucher: Voucher) {
        self.forget_vouchers();
        match voucher {
            Voucher::Signature(sig) => {
                self.signatures.insert(hash, sig);
            }
            Voucher::Proof(proof) => {
                self.proofs.insert(hash, proof);
            }
        }
    }
}

/// Commits one transaction on `doc` as `writer` and signs the resulting change.
pub(crate) fn commit_on<F>(
    doc: &mut Automerge,
    writer: &Writer<'_>,
    summary: String,
    f: F,
) -> Result<Option<SignedChange<Verified>>, EditError>
where
    F: FnOnce(&mut Transaction<'_>) -> Result<(), EditError>,
{
    commit_on_at(doc, writer, None, summary, f)
}

/// [`commit_on`], the transaction made as of `heads` when given (Automerge's isolated
/// transaction: it reads and writes the document as it was at `heads`, which become the
/// change's dependencies). The caller makes sure `writer`'s actor may write there.
fn commit_on_at<F>(
    doc: &mut Automerge,
    writer: &Writer<'_>,
    heads: Option<&[ChangeHash]>,
    summary: String,
    f: F,
) -> Result<Option<SignedChange<Verified>>, EditError>
where
    F: FnOnce(&mut Transaction<'_>) -> Result<(), EditError>,
{
    doc.set_actor(writer.actor());
    let mut tx = match heads {
        Some(h) => doc
            .transaction_at(automerge::PatchLog::inactive(), h)
            .map_err(|_| EditError::Automerge(AutomergeError::Fail))?,
        None => doc.transaction(),
    };
    if let Err(e) = f(&mut tx) {
        tx.rollback();
        return Err(e);
    }
    let (hash, _) = tx.commit_with(
        CommitOptions::default()
            .with_message(summary)
            .with_time(writer.now.0),
    );
    let Some(hash) = hash else {
        return Ok(None);
    };
    let change = doc
        .get_change_by_hash(&hash)
        .ok_or(EditError::Automerge(AutomergeError::Fail))?;
    Ok(Some(SignedChange::sign_local(change, writer.key)))
}

/// Refuses text people write that holds a bidirectional control
/// ([`crate::core::document::text::check_text`]).
pub(crate) fn written(what: &str, s: &str) -> Result<(), EditError> {
    crate::core::document::text::check_text(&format!("the {what}"), s).map_err(EditError::Invalid)
}

/// Trims `s` and refuses an empty result, or one with a bidirectional control ([`written`]).
pub(crate) fn non_empty(what: &'static str, s: &str) -> Result<String, EditError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(EditError::Empty(what));
    }
    written(what, t)?;
    let len = t.chars().count();
    if len > crate::constants::MAX_TEXT_CHARS {
        return Err(EditError::TooLong {
            what,
            len,
            max: crate::constants::MAX_TEXT_CHARS,
        });
    }
    Ok(t.to_string())
}
