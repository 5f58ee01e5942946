//! Step 3: the shared vision, set whole, restored, typed splice by splice, or edited against
//! an older version of it.

use automerge::{ObjType, ROOT, ReadDoc, transaction::Transactable};

use super::{Edited, Splice, excerpt};
use crate::core::document::model::{self, keys};
use crate::core::ids::Entropy;
use crate::core::replica::{EditError, Replica, Writer, written};

impl Replica {
    /// Step 3: sets the shared vision. The difference from the current text is applied as
    /// character splices, so concurrent edits by others merge instead of being overwritten.
    pub fn set_vision(&mut self, writer: &Writer<'_>, text: &str) -> Result<Edited, EditError> {
        written("vision", text)?;
        let old = self.view_vision();
        let summary = format!(
            "edited the vision: {}",
            crate::core::document::text::edit_in_words(&old, text)
        );
        self.replace_vision(writer, text, summary)
    }

    /// Step 3: brings back the vision as it was at `heads` (an earlier point of the history,
    /// named `label` in the summary) as one new signed change; the history keeps every
    /// version, the restored one and the one it replaces.
    pub fn restore_vision(
        &mut self,
        writer: &Writer<'_>,
        heads: &[automerge::ChangeHash],
        label: &str,
    ) -> Result<Edited, EditError> {
        let text = crate::core::document::text::root_text_at(self.doc(), keys::VISION, heads);
        let summary = format!(
            "restored the vision as of {label}: {}",
            crate::core::document::text::edit_in_words(&self.view_vision(), &text)
        );
        self.replace_vision(writer, &text, summary)
    }

    /// The vision as this replica has it now.
    fn view_vision(&self) -> String {
        crate::core::document::text::root_text_at(self.doc(), keys::VISION, &self.heads())
    }

    /// Replaces the vision with `text`, applied as character edits (so concurrent edits of
    /// other parts still merge).
    fn replace_vision(
        &mut self,
        writer: &Writer<'_>,
        text: &str,
        summary: String,
    ) -> Result<Edited, EditError> {
        self.me(writer)?;
        let len = text.chars().count();
        if len > crate::constants::MAX_TEXT_CHARS {
            return Err(EditError::TooLong {
                what: "vision",
                len,
                max: crate::constants::MAX_TEXT_CHARS,
            });
        }
        let existing = model::text_obj_at(self.doc(), &ROOT, keys::VISION);
        let text = text.to_string();
        self.edited(writer, None, summary, move |tx| {
            let t = match existing {
                Some(t) => t,
                None => tx.put_object(ROOT, keys::VISION, ObjType::Text)?,
            };
            tx.update_text(&t, &text)?;
            Ok(())
        })
    }

    /// Step 3: one keystroke-sized edit of the vision, as an editor sends it: delete `delete`
    /// characters at `pos` and insert `insert` there, as one signed change. Positions count
    /// Unicode code points of the vision as this replica has it now.
    pub fn splice_vision(
        &mut self,
        writer: &Writer<'_>,
        pos: usize,
        delete: usize,
        insert: &str,
    ) -> Result<Edited, EditError> {
        self.me(writer)?;
        written("vision", insert)?;
        let existing = model::text_obj_at(self.doc(), &ROOT, keys::VISION);
        let len = existing.as_ref().map_or(0, |t| self.doc().length(t));
        if pos > len || delete > len - pos {
            return Err(EditError::Invalid(format!(
                "the vision has {len} characters: cannot delete {delete} at {pos}"
            )));
        }
        if len - delete + insert.chars().count() > crate::constants::MAX_TEXT_CHARS {
            return Err(EditError::TooLong {
                what: "vision",
                len: len - delete + insert.chars().count(),
                max: crate::constants::MAX_TEXT_CHARS,
            });
        }
        let summary = format!("edited the vision at {pos}: {}", excerpt(insert));
        let insert = insert.to_string();
        self.edited(writer, None, summary, move |tx| {
            let t = match existing {
                Some(t) => t,
                None => tx.put_object(ROOT, keys::VISION, ObjType::Text)?,
            };
            tx.splice_text(&t, pos, delete as isize, &insert)?;
            Ok(())
        })
    }

    /// Step 3: an editor's edit of the vision made against the version it last saw
    /// (`base_heads`), as one signed change: `splices` (sorted, not overlapping) are positions
    /// in the text *at `base_heads`*.
    ///
    /// When others' changes arrived since `base_heads`, the change is made as of
    /// `base_heads` ([`Replica::commit_at`]): it is concurrent with them, as an edit made
    /// offline is, and Automerge merges it with them the usual way (an insertion goes right
    /// after the character that preceded it in the base text; a deletion removes only base
    /// characters). So when someone meanwhile rewrote the words this edit rewrites, that is a
    /// text conflict exactly as for edits made offline (docs/schema.md, "Text conflicts"),
    /// with both wordings kept; typing in other places or at the same place merges with no
    /// conflict. A page typing into the vision costs one small change per pause, like
    /// `splice_vision`.
    pub fn splice_vision_at(
        &mut self,
        writer: &Writer<'_>,
        entropy: &mut dyn Entropy,
        base_heads: &[automerge::ChangeHash],
        splices: &[Splice],
    ) -> Result<Edited, EditError> {
        use automerge::{ReadDoc, Value};
        self.me(writer)?;
        for s in splices {
            written("vision", &s.insert)?;
        }
        if let Some(h) = base_heads.iter().find(|h| !self.has(h)) {
            return Err(EditError::Invalid(format!(
                "the version {} of the vision is not known here; reload the page",
                &h.to_string()[..8]
            )));
        }
        let existing = model::text_obj_at(self.doc(), &ROOT, keys::VISION);
        // Whether the text object there now was already there at the base (else the vision
        // did not exist yet at the base, or someone else made it concurrently: then every
        // splice must be an insertion at 0, into the text there now).
        let at_base = existing.as_ref().is_some_and(|t| {
            matches!(
                self.doc().get_at(ROOT, keys::VISION, base_heads),
                Ok(Some((Value::Object(ObjType::Text), id))) if &id == t
            )
        });
        let base_len = match &existing {
            Some(t) if at_base => self.doc().length_at(t, base_heads),
            _ => 0,
        };
        let mut end = 0;
        let mut inserted = 0;
        let mut deleted = 0;
        for s in splices {
            if s.pos < end || s.delete > base_len.saturating_sub(s.pos) || s.pos > base_len {
                return Err(EditError::Invalid(format!(
                    "the vision had {base_len} characters: cannot delete {} at {}",
                    s.delete, s.pos
                )));
            }
            end = s.pos + s.delete.max(1);
            inserted += s.insert.chars().count();
            deleted += s.delete;
        }
        let len = existing.as_ref().map_or(0, |t| self.doc().length(t));
        let new_len = (len + inserted).saturating_sub(deleted);
        if new_len > crate::constants::MAX_TEXT_CHARS {
            return Err(EditError::TooLong {
                what: "vision",
                len: new_len,
                max: crate::constants::MAX_TEXT_CHARS,
            });
        }
        if splices.iter().all(|s| s.delete == 0 && s.insert.is_empty()) {
            return Ok(Edited {
                id: None,
                change: None,
                summary: "the vision was left as it was".into(),
            });
        }
        let first = splices.first().map_or(0, |s| s.pos);
        let words: String = splices.iter().map(|s| s.insert.as_str()).collect();
        let summary = format!("edited the vision at {first}: {}", excerpt(&words));
        let mut now_heads = self.heads();
        now_heads.sort();
        let mut base_sorted = base_heads.to_vec();
        base_sorted.sort();
        let splices = splices.to_vec();
        if let Some(t) = existing
            .clone()
            .filter(|_| at_base && now_heads != base_sorted)
        {
            // Others' changes arrived since the base: made as of the base, concurrent with them.
            let change =
                self.commit_at(writer, entropy, &base_sorted, summary.clone(), move |tx| {
                    // From the end, so the base positions of the earlier splices stay put.
                    for s in splices.iter().rev() {
                        tx.splice_text(&t, s.pos, s.delete as isize, &s.insert)?;
                    }
                    Ok(())
                })?;
            return Ok(Edited {
                id: None,
                change,
                summary,
            });
        }
        self.edited(writer, None, summary, move |tx| {
            let t = match existing {
                Some(t) => t,
                None => tx.put_object(ROOT, keys::VISION, ObjType::Text)?,
            };
            if at_base {
                for s in splices.iter().rev() {
                    tx.splice_text(&t, s.pos, s.delete as isize, &s.insert)?;
                }
            } else {
                // The base had no text here: each splice is an insertion at 0 (checked above),
                // the later ones first so they end up after the earlier ones.
                for s in splices.iter().rev() {
                    tx.splice_text(&t, 0, 0, &s.insert)?;
                }
            }
            Ok(())
        })
    }

    /// Step 3: applies an edit of the vision that was made against an older version of it
    /// (`base_heads`), such as a session in `$EDITOR` during which other edits arrived. The
    /// difference between the text at `base_heads` and `edited` is applied as splices *at
    /// `base_heads`*, so edits made meanwhile by anyone are kept, as with any concurrent edit.
    ///
    /// When nothing changed meanwhile this is [`Replica::set_vision`]. Otherwise the edit is
    /// made on a fork of the document at `base_heads` under a fresh actor of this device (a new
    /// actor tag drawn from `entropy`, so no (actor, seq) pair is ever reused), then merged.
    pub fn edit_vision_since(
        &mut self,
        writer: &Writer<'_>,
        entropy: &mut dyn Entropy,
        base_heads: &[automerge::ChangeHash],
        edited: &str,
    ) -> Result<Edited, EditError> {
        if self.heads() == base_heads {
            return self.set_vision(writer, edited);
        }
        self.me(writer)?;
        written("vision", edited)?;
        let mut fork = self.doc().fork_at(base_heads)?;
        let mut tag = [0u8; crate::constants::ACTOR_TAG_LEN];
        entropy.fill(&mut tag);
        let forked_writer = Writer {
            key: writer.key,
            actor_tag: tag,
            now: writer.now,
        };
        let existing = model::text_obj_at(&fork, &ROOT, keys::VISION);
        let base = crate::core::document::text::root_text_at(self.doc(), keys::VISION, base_heads);
        let summary = format!(
            "edited the vision: {}",
            crate::core::document::text::edit_in_words(&base, edited)
        );
        let text = edited.to_string();
        let change = crate::core::replica::commit_on(
            &mut fork,
            &forked_writer,
            summary.clone(),
            move |tx| {
                let t = match existing {
                    Some(t) => t,
                    None => tx.put_object(ROOT, keys::VISION, ObjType::Text)?,
                };
                tx.update_text(&t, &text)?;
                Ok(())
            },
        )?;
        if let Some(c) = &change {
            self.apply_local(c)?;
        }
        Ok(Edited {
            id: None,
            change,
            summary,
        })
    }
}

#[cfg(test)]
mod splice_tests {
    use super::Splice;
    use crate::core::{DeviceKey, Replica, SeededEntropy, Timestamp, Writer};

    fn splice(pos: usize, delete: usize, insert: &str) -> Splice {
        Splice {
            pos,
            delete,
            insert: insert.into(),
        }
    }

    /// Ada's replica with Ben as a member, and Ben's writer.
    fn two() -> (Replica, DeviceKey, DeviceKey) {
        let (a, b) = (DeviceKey::from_seed([1; 32]), DeviceKey::from_seed([2; 32]));
        let ada = Writer {
            key: &a,
            actor_tag: [1; 8],
            now: Timestamp(1_795_514_400),
        };
        let mut rng = SeededEntropy::new(3);
        let (mut r, _, _) = Replica::create(&ada, &mut rng, "T", "Ada", "parent").unwrap();
        r.add_member(&ada, &mut rng, "Ben", "teen", Some(b.device_id()))
            .unwrap();
        (r, a, b)
    }

    fn writer(key: &DeviceKey, tag: u8) -> Writer<'_> {
        Writer {
            key,
            actor_tag: [tag; 8],
            now: Timestamp(1_795_514_460),
        }
    }

    #[test]
    fn splices_at_the_base_merge_with_edits_made_since() {
        let (mut r, a, b) = two();
        r.set_vision(&writer(&a, 1), "Hello world").unwrap();
        let base = r.heads();
        // Ben (through the same replica, as a received change would) inserts in the middle
        // and deletes part of what Ada is about to delete.
        r.splice_vision(&writer(&b, 2), 6, 0, "big ").unwrap();
        r.splice_vision(&writer(&b, 2), 0, 1, "J").unwrap();
        assert_eq!(r.view().vision, "Jello big world");
        // Ada saw "Hello world": she appends "!" and replaces "Hello" with "Hi".
        let e = r
            .splice_vision_at(
                &writer(&a, 1),
                &mut SeededEntropy::new(9),
                &base,
                &[splice(0, 5, "Hi"), splice(11, 0, "!")],
            )
            .unwrap();
        assert!(e.change.is_some());
        // Ben's "J" replaced the "H" Ada deleted too: both insertions at the start survive (the
        // newer first, as Automerge orders concurrent insertions at one place), and so does
        // his "big ".
        assert_eq!(r.view().vision, "HiJ big world!");
    }

    #[test]
    fn splices_at_the_current_heads_are_plain_splices() {
        let (mut r, a, _) = two();
        r.set_vision(&writer(&a, 1), "abc").unwrap();
        let base = r.heads();
        r.splice_vision_at(
            &writer(&a, 1),
            &mut SeededEntropy::new(9),
            &base,
            &[splice(1, 1, "XY"), splice(3, 0, "!")],
        )
        .unwrap();
        assert_eq!(r.view().vision, "aXYc!");
        let base = r.heads();
        r.splice_vision_at(
            &writer(&a, 1),
            &mut SeededEntropy::new(9),
            &base,
            &[splice(0, 5, "")],
        )
        .unwrap();
        assert_eq!(r.view().vision, "");
    }

    #[test]
    fn insertion_after_a_character_deleted_meanwhile_lands_where_it_was() {
        let (mut r, a, b) = two();
        r.set_vision(&writer(&a, 1), "one two three").unwrap();
        let base = r.heads();
        r.splice_vision(&writer(&b, 2), 3, 4, "").unwrap(); // "one three"
        r.splice_vision_at(
            &writer(&a, 1),
            &mut SeededEntropy::new(9),
            &base,
            &[splice(7, 0, "!")],
        )
        .unwrap();
        assert_eq!(r.view().vision, "one! three");
    }

    #[test]
    fn bad_splices_and_unknown_bases_change_nothing() {
        let (mut r, a, _) = two();
        r.set_vision(&writer(&a, 1), "abc").unwrap();
        let base = r.heads();
        let before = r.heads();
        for bad in [
            vec![splice(4, 0, "x")],
            vec![splice(2, 2, "")],
            vec![splice(2, 0, "x"), splice(1, 0, "y")],
        ] {
            assert!(
                r.splice_vision_at(&writer(&a, 1), &mut SeededEntropy::new(9), &base, &bad)
                    .is_err()
            );
        }
        let unknown = [automerge::ChangeHash([7; 32])];
        assert!(
            r.splice_vision_at(
                &writer(&a, 1),
                &mut SeededEntropy::new(9),
                &unknown,
                &[splice(0, 0, "x")]
            )
            .is_err()
        );
        let huge = "x".repeat(crate::constants::MAX_TEXT_CHARS);
        assert!(
            r.splice_vision_at(
                &writer(&a, 1),
                &mut SeededEntropy::new(9),
                &base,
                &[splice(0, 0, &huge)]
            )
            .is_err()
        );
        assert_eq!(r.heads(), before);
    }

    #[test]
    fn the_first_words_of_a_vision() {
        let (mut r, a, _) = two();
        let base = r.heads();
        r.splice_vision_at(
            &writer(&a, 1),
            &mut SeededEntropy::new(9),
            &base,
            &[splice(0, 0, "We")],
        )
        .unwrap();
        assert_eq!(r.view().vision, "We");
    }
}
