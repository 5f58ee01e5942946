//! What people read of a text conflict (each side's intended text, what the merge made) and
//! the splices that settle one (`resolve`): the region rewritten to one side's version, keeping
//! that side's characters that are still there, or the whole text made a new value.

use std::collections::HashSet;
use std::ops::Range;

use automerge::{ChangeHash, ObjId};

use super::{Bases, Elem, RawTextConflict, Seq, TextRef, region_in};
use crate::core::document::index::ChangeIndex;
use crate::core::replica::Replica;

/// The sentence(s) around `r` in `chars`: back to the end of the sentence before, on to the end
/// of the last one (`.`, `!`, `?` or a line break), without the spaces around.
fn sentence(chars: &[String], r: Range<usize>) -> Range<usize> {
    let ends = |c: &String| matches!(c.as_str(), "." | "!" | "?" | "\n");
    let mut start = r.start.min(chars.len());
    while start > 0 && !ends(&chars[start - 1]) {
        start -= 1;
    }
    let mut end = r.end.max(start).min(chars.len());
    if !(end > r.start && end > 0 && ends(&chars[end - 1])) {
        while end < chars.len() {
            end += 1;
            if ends(&chars[end - 1]) {
                break;
            }
        }
    }
    while start < end && chars[start].trim().is_empty() {
        start += 1;
    }
    while end > start && chars[end - 1].trim().is_empty() {
        end -= 1;
    }
    start..end
}

/// One side of a text conflict, before attribution.
pub(crate) struct RawSide {
    pub change: ChangeHash,
    /// The intended text (a short text), or that side's version of the region's sentence(s)
    /// (the vision).
    pub text: String,
}

/// A text conflict as people read it, before attribution.
pub(crate) struct ShownTextConflict {
    pub text: TextRef,
    pub sides: Vec<RawSide>,
    /// What the merge produced: the whole text, or (the vision) the region's sentence(s).
    pub merged: String,
    /// The vision: the line the region starts on (1-based).
    pub line: Option<usize>,
}

impl Replica {
    /// The unsettled text conflicts with each side's intended text and what the merge made.
    pub(crate) fn text_conflicts(&self, index: &ChangeIndex) -> Vec<ShownTextConflict> {
        let doc = self.doc();
        self.raw_text_conflicts(index)
            .into_iter()
            .map(|c| {
                let mut bases = Bases::new(doc, c.obj.clone());
                let reference = c.reference(&mut bases);
                let current = Seq::read(doc, &c.obj, None);
                let shown = |seq: &Seq| -> String {
                    match c.text {
                        TextRef::Vision => {
                            let r = region_in(seq, &c.region, &reference);
                            seq.text(sentence(&seq.chars, r))
                        }
                        TextRef::Item { .. } => seq.text(0..seq.chars.len()),
                    }
                };
                let sides = c
                    .sides
                    .iter()
                    .map(|i| {
                        let e = &c.edits[*i];
                        let seq = Seq::read(doc, &c.obj, Some(std::slice::from_ref(&e.hash)));
                        RawSide {
                            change: e.hash,
                            text: shown(&seq),
                        }
                    })
                    .collect();
                let line = matches!(c.text, TextRef::Vision).then(|| {
                    let r = region_in(&current, &c.region, &reference);
                    let start = sentence(&current.chars, r).start;
                    1 + current.chars[..start].iter().filter(|s| *s == "\n").count()
                });
                ShownTextConflict {
                    merged: shown(&current),
                    text: c.text,
                    sides,
                    line,
                }
            })
            .collect()
    }

    /// The splices that settle the first unsettled conflict of `text` (made in order): the
    /// region rewritten to the `pick`-th side's version of it (1-based, as listed), or the
    /// whole text made `value` (short texts only). `None` when the text has no conflict. The
    /// splices always rewrite the region, so the conflict counts as settled on every device.
    /// Keeping a side keeps its characters that are still there, so `blame` still names
    /// whoever typed them (the settling change only deletes the other wordings, and types
    /// again only what is gone).
    pub(crate) fn settling_splice(
        &self,
        index: &ChangeIndex,
        text: &TextRef,
        pick: Option<usize>,
        value: Option<&str>,
    ) -> Result<Option<(ObjId, Vec<Splice3>, String)>, String> {
        let doc = self.doc();
        let Some(c) = self
            .raw_text_conflicts(index)
            .into_iter()
            .find(|c| &c.text == text)
        else {
            return Ok(None);
        };
        let mut bases = Bases::new(doc, c.obj.clone());
        let reference = c.reference(&mut bases);
        let current = Seq::read(doc, &c.obj, None);
        let region = region_in(&current, &c.region, &reference);
        let mut kept = String::new();
        let target: Vec<String> = match (pick, value) {
            (Some(n), _) => {
                let Some(side) = n.checked_sub(1).and_then(|i| c.sides.get(i)) else {
                    return Err(format!(
                        "--pick {n}: the conflict has versions 1 to {}",
                        c.sides.len()
                    ));
                };
                let e = &c.edits[*side];
                let seq = Seq::read(doc, &c.obj, Some(std::slice::from_ref(&e.hash)));
                let theirs = region_in(&seq, &c.region, &reference);
                kept = seq.text(sentence(&seq.chars, theirs.clone()));
                let version = side_version(&c, &seq, theirs, &current, region.clone());
                // The kept wording's characters that are still there stay (with their
                // authors); only the others go, and only what is gone is typed again. That
                // settles the conflict when it deletes a character of the region.
                let pieces = keeping(&current, region.clone(), &version);
                let settles = pieces.iter().any(|p| {
                    current.elems[p.at..p.at + p.delete]
                        .iter()
                        .any(|e| c.region.contains(e))
                });
                if settles {
                    return Ok(Some((c.obj, pieces, kept)));
                }
                let mut target: Vec<String> = current.chars[..region.start].to_vec();
                target.extend(version.into_iter().map(|(_, ch)| ch));
                target.extend_from_slice(&current.chars[region.end..]);
                target
            }
            (None, Some(v)) => v.chars().map(String::from).collect(),
            (None, None) => return Err("say --pick N or --value TEXT".into()),
        };
        let cur = &current.chars;
        let cp = cur.iter().zip(&target).take_while(|(a, b)| a == b).count();
        let cs = cur[cp..]
            .iter()
            .rev()
            .zip(target[cp..].iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        let mut start = cp.min(region.start);
        if region.is_empty() && region.start > 0 {
            // Nothing of it left: rewrite the character before where it stood as well, so
            // every device sees the conflict settled.
            start = start.min(region.start - 1);
        }
        let cur_end = (cur.len() - cs).max(region.end).max(start);
        let tail = cur.len() - cur_end;
        let mut splice = Splice3 {
            at: start,
            delete: cur_end - start,
            insert: target[start..target.len() - tail].concat(),
            mark: false,
        };
        if splice.delete == 0 && splice.insert.is_empty() {
            // Already reads as wanted, with nothing of the region left: type a character where
            // it stood and take it back in the same change, so every device sees the conflict
            // settled while the text stays as it is.
            splice = Splice3 {
                at: region.start,
                delete: 0,
                insert: String::new(),
                mark: true,
            };
        }
        Ok(Some((c.obj, vec![splice], kept)))
    }
}

/// The splices (from the end, so each one's position holds when it is made) that make the
/// region `region` of `current` read `version`, keeping every character of `version` that is
/// still there in the region (in order): the rest of the region is deleted, and what
/// `version` has that is gone is typed again where it goes.
fn keeping(
    current: &Seq,
    region: Range<usize>,
    version: &[(Option<Elem>, String)],
) -> Vec<Splice3> {
    let mut pieces = Vec::new();
    let mut at = region.start;
    let mut typed = String::new();
    for (e, ch) in version {
        let here = e
            .as_ref()
            .and_then(|e| current.pos(e))
            .filter(|i| region.contains(i) && *i >= at);
        match here {
            Some(i) => {
                if i > at || !typed.is_empty() {
                    pieces.push(Splice3 {
                        at,
                        delete: i - at,
                        insert: std::mem::take(&mut typed),
                        mark: false,
                    });
                }
                at = i + 1;
            }
            None => typed.push_str(ch),
        }
    }
    if region.end > at || !typed.is_empty() {
        pieces.push(Splice3 {
            at,
            delete: region.end.saturating_sub(at),
            insert: typed,
            mark: false,
        });
    }
    pieces.reverse();
    pieces
}

/// The region as side `seq` wrote it, with what others did meanwhile inside it kept: the side's
/// characters that are still there or that only the conflict's edits deleted, and, after the
/// character they followed, characters typed by people outside the conflict.
fn side_version(
    c: &RawTextConflict,
    seq: &Seq,
    theirs: Range<usize>,
    current: &Seq,
    region: Range<usize>,
) -> Vec<(Option<Elem>, String)> {
    let deleted_in_conflict: HashSet<&Elem> =
        c.edits.iter().flat_map(|e| e.deleted.iter()).collect();
    let mut out: Vec<(Option<Elem>, String)> = theirs
        .filter(|i| {
            let e = &seq.elems[*i];
            current.pos(e).is_some() || deleted_in_conflict.contains(e)
        })
        .map(|i| (Some(seq.elems[i].clone()), seq.chars[i].clone()))
        .collect();
    // Characters typed inside the region by others, each after the nearest character before it
    // that the side's version holds (or at its start).
    let mut after: Option<usize> = None;
    for i in region {
        let e = &current.elems[i];
        if let Some(at) = out.iter().position(|(x, _)| x.as_ref() == Some(e)) {
            after = Some(at);
            continue;
        }
        if c.region.contains(e) || seq.pos(e).is_some() {
            continue;
        }
        let at = after.map_or(0, |a| a + 1);
        out.insert(at, (Some(e.clone()), current.chars[i].clone()));
        after = Some(at);
    }
    out
}

/// One splice of a text: at a character position, delete some, insert a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Splice3 {
    pub at: usize,
    pub delete: usize,
    pub insert: String,
    /// Also type one character at `at` and delete it again (a mark that settles a conflict
    /// without changing the text).
    pub mark: bool,
}
