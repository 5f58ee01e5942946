//! Texts of the document, read at a point of the history, and how much an edit of one removes.

use automerge::{ChangeHash, ObjType, ROOT, ReadDoc, Value};

/// The text (or string) at `key` of the document's root as of `heads`; empty when `heads` is
/// empty (before the first change) or the key was not set then.
pub fn root_text_at(doc: &automerge::Automerge, key: &str, heads: &[ChangeHash]) -> String {
    if heads.is_empty() {
        return String::new();
    }
    match doc.get_at(ROOT, key, heads) {
        Ok(Some((Value::Object(ObjType::Text), t))) => doc.text_at(&t, heads).unwrap_or_default(),
        Ok(Some((Value::Scalar(s), _))) => s.as_str().unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

/// Characters that can change how the text around them looks on a screen: control characters
/// (escape sequences, carriage returns that redraw a line) other than line breaks and tabs, and
/// the bidirectional controls that can make a line read backwards (U+202A..U+202E,
/// U+2066..U+2069, the direction marks U+200E, U+200F and U+061C).
pub fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

/// The bidirectional controls that reorder the text after them until the paragraph ends:
/// embeddings and overrides (U+202A..U+202E) and isolates (U+2066..U+2069). A right-to-left
/// override makes a stored "Ada evil" read "Ada live"; no text people write may hold one.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Text as it may be written into the alliance (a need, the vision, a reflection, ...): without
/// bidirectional controls ([`is_bidi_control`]), so that every device shows what is stored.
/// `Err` says which character and what to do; `what` names the text ("the need").
pub fn check_text(what: &str, text: &str) -> Result<(), String> {
    match text.chars().find(|&c| is_bidi_control(c)) {
        None => Ok(()),
        Some(c) => Err(format!(
            "{what} contains the invisible character {}, which reverses how the text around it reads; type it without",
            c.escape_unicode()
        )),
    }
}

/// `text` with each bidirectional control ([`is_bidi_control`]) shown as its escape
/// (`\u{202e}`), for a display that must show what is stored (the page, the printable view).
pub fn bidi_escaped(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_bidi_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_bidi_control(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A person's name as it may be written into the alliance: trimmed, 1 to [`MAX_NAME_CHARS`]
/// characters, on one line, and without characters that change how the text around it looks
/// ([`is_unsafe`]): a name is shown beside everything its person did. `Err` says why not.
///
/// [`MAX_NAME_CHARS`]: crate::constants::MAX_NAME_CHARS
pub fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let max = crate::constants::MAX_NAME_CHARS;
    if name.is_empty() || name.chars().count() > max {
        return Err(format!("the name must be 1 to {max} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| is_unsafe(c) || c == '\n' || c == '\t')
    {
        return Err(format!(
            "the name contains the invisible character {}, which could disguise it; type it without",
            c.escape_unicode()
        ));
    }
    Ok(name.to_string())
}

/// How much of `old` an edit to `new` removes: (characters of `old` deleted or replaced,
/// characters of `old`). Compared character by character, as the edit is applied.
pub fn removed(old: &str, new: &str) -> (usize, usize) {
    let total = old.chars().count();
    if old == new || total == 0 {
        return (0, total);
    }
    let diff = similar::TextDiff::configure()
        .timeout(std::time::Duration::from_millis(200))
        .diff_chars(old, new);
    let gone = diff
        .ops()
        .iter()
        .map(|op| match *op {
            similar::DiffOp::Delete { old_len, .. } => old_len,
            similar::DiffOp::Replace { old_len, .. } => old_len,
            _ => 0,
        })
        .sum();
    (gone, total)
}

/// Whether an edit from `old` to `new` empties the text or removes most of it (more than half
/// its characters): the kind of edit a person should confirm before it reaches every device.
pub fn removes_most(old: &str, new: &str) -> bool {
    let (gone, total) = removed(old, new);
    total > 0 && (new.trim().is_empty() || gone * 2 > total)
}

/// The lines an edit changed, in words, one entry each: `line 3: "…keep Sundays for walks" →
/// "…keep Saturdays for walks"`, `added line 4: "…"`, `removed line 2: "…"`. Lines are numbered
/// as in the new text (a removed line by where it stood). A changed line shows only the words
/// that differ, with a little context, so an edit at the end of a long line is visible.
pub fn line_changes(old: &str, new: &str) -> Vec<String> {
    // A last line without its line break is the same line as with one: "line 4" before a line
    // was added after it is not "line 4\n" changed.
    fn ended(t: &str) -> std::borrow::Cow<'_, str> {
        if t.is_empty() || t.ends_with('\n') {
            std::borrow::Cow::Borrowed(t)
        } else {
            std::borrow::Cow::Owned(format!("{t}\n"))
        }
    }
    let (old, new) = (ended(old), ended(new));
    let diff = similar::TextDiff::configure()
        .timeout(std::time::Duration::from_millis(200))
        .diff_lines(old.as_ref(), new.as_ref());
    let mut out = Vec::new();
    for op in diff.ops() {
        let old_lines = || {
            diff.old_slices()[op.old_range()]
                .iter()
                .map(|l| l.trim_end_matches(['\n', '\r']))
        };
        let new_lines = || {
            diff.new_slices()[op.new_range()]
                .iter()
                .map(|l| l.trim_end_matches(['\n', '\r']))
        };
        match *op {
            similar::DiffOp::Equal { .. } => {}
            similar::DiffOp::Insert { new_index, .. } => {
                for (i, l) in new_lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                {
                    out.push(format!("added line {}: {}", new_index + i + 1, quote(l)));
                }
            }
            similar::DiffOp::Delete { new_index, .. } => {
                for l in old_lines().filter(|l| !l.trim().is_empty()) {
                    out.push(format!("removed line {}: {}", new_index + 1, quote(l)));
                }
            }
            similar::DiffOp::Replace {
                new_index,
                old_len,
                new_len,
                ..
            } => {
                let (olds, news): (Vec<&str>, Vec<&str>) =
                    (old_lines().collect(), new_lines().collect());
                for i in 0..old_len.max(new_len) {
                    let n = new_index + i.min(new_len.saturating_sub(1)) + 1;
                    match (olds.get(i), news.get(i)) {
                        (Some(o), Some(v)) => {
                            let (o, v) = changed_words(o, v);
                            out.push(format!("line {n}: {o} → {v}"));
                        }
                        (None, Some(v)) if !v.trim().is_empty() => {
                            out.push(format!("added line {}: {}", new_index + i + 1, quote(v)))
                        }
                        (Some(o), None) if !o.trim().is_empty() => {
                            out.push(format!("removed line {n}: {}", quote(o)))
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    out
}

/// A text edit summed up in one line: the first changed line, and how many more changed.
pub fn edit_in_words(old: &str, new: &str) -> String {
    let changes = line_changes(old, new);
    match changes.as_slice() {
        [] => "no visible change".into(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (and {} more line(s))", rest.len()),
    }
}

/// Words kept around a change on either side.
const CONTEXT_WORDS: usize = 3;
/// Characters shown of one side of a change.
const SHOWN_CHARS: usize = 80;

fn quote(s: &str) -> String {
    let mut short: String = s.chars().take(SHOWN_CHARS).collect();
    if s.chars().count() > SHOWN_CHARS {
        short.push('…');
    }
    format!("\"{short}\"")
}

/// The two versions of a line, cut to the words that differ and a little context around them.
fn changed_words(old: &str, new: &str) -> (String, String) {
    let (o, n): (Vec<&str>, Vec<&str>) = (
        old.split_inclusive(' ').collect(),
        new.split_inclusive(' ').collect(),
    );
    let prefix = o.iter().zip(&n).take_while(|(a, b)| a == b).count();
    let suffix = o[prefix..]
        .iter()
        .rev()
        .zip(n[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let start = prefix.saturating_sub(CONTEXT_WORDS);
    let cut = |words: &[&str]| {
        let end = (words.len() - suffix + CONTEXT_WORDS).min(words.len());
        let mut s = String::new();
        if start > 0 {
            s.push('…');
        }
        s.push_str(words[start..end].concat().trim_end());
        let mut q: String = s.chars().take(SHOWN_CHARS).collect();
        if end < words.len() || s.chars().count() > SHOWN_CHARS {
            q.push('…');
        }
        format!("\"{q}\"")
    };
    (cut(&o), cut(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_on_line_three_is_shown_as_line_three_with_the_words_that_differ() {
        let old = "We listen first.\nWe say sorry.\nWe keep Sundays for long walks together, rain or shine, phones at home.\n";
        let new = "We listen first.\nWe say sorry.\nWe keep Saturdays for long walks together, rain or shine, phones at home.\n";
        assert_eq!(
            line_changes(old, new),
            ["line 3: \"We keep Sundays for long walks…\" → \"We keep Saturdays for long walks…\""]
        );
        let added = format!("{new}We laugh.\n");
        assert_eq!(line_changes(new, &added), ["added line 4: \"We laugh.\""]);
        assert_eq!(
            line_changes(&added, "We listen first.\nWe laugh.\n"),
            [
                "removed line 2: \"We say sorry.\"",
                "removed line 2: \"We keep Saturdays for long walks together, rain or shine, phones at home.\""
            ]
        );
        assert_eq!(
            edit_in_words("a\nb\nc", "a\nB\nC"),
            "line 2: \"b\" → \"B\" (and 1 more line(s))"
        );
        assert_eq!(edit_in_words("same", "same"), "no visible change");
    }

    #[test]
    fn a_line_appended_after_a_last_line_without_a_break_changes_only_the_new_line() {
        let old = "one\ntwo\nthree\nfour";
        assert_eq!(
            line_changes(old, "one\ntwo\nthree\nfour\nfive"),
            ["added line 5: \"five\""]
        );
        assert_eq!(
            line_changes(old, "one\ntwo\nthree\nfour\nfive\n"),
            ["added line 5: \"five\""]
        );
        assert!(line_changes(old, "one\ntwo\nthree\nfour\n").is_empty());
    }

    #[test]
    fn names_with_control_or_bidi_characters_are_refused() {
        assert_eq!(check_name("  Ada "), Ok("Ada".into()));
        assert_eq!(check_name("Zoë 🌻"), Ok("Zoë 🌻".into()));
        for bad in ["Ad\u{1b}[31ma", "Ada\u{202e}evil", "A\nB", "\u{2066}x", ""] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"x".repeat(crate::constants::MAX_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn texts_with_bidi_controls_are_refused_and_other_odd_characters_are_not() {
        assert!(check_text("the need", "Zoë 🌻 שלום مرحبا\u{200f} \t\n").is_ok());
        for c in ['\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}'] {
            assert!(
                check_text("the need", &format!("Ada {c}live")).is_err(),
                "{c:?}"
            );
        }
        for c in ['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'] {
            assert!(check_text("the need", &format!("x{c}")).is_err(), "{c:?}");
        }
        let e = check_text("the need", "Ada \u{202e}live").unwrap_err();
        assert!(e.contains("\\u{202e}") && e.starts_with("the need"), "{e}");
    }

    #[test]
    fn emptying_or_rewriting_most_of_a_text_is_flagged_and_a_small_edit_is_not() {
        let vision = "We listen first. We say sorry. We keep Sundays for walks.";
        assert!(removes_most(vision, ""));
        assert!(removes_most(vision, "   \n"));
        assert!(removes_most(vision, "Something else entirely."));
        assert!(!removes_most(vision, &format!("{vision} And we laugh.")));
        assert!(!removes_most(
            vision,
            "We listen first. We say sorry. We keep Saturdays for walks."
        ));
        assert!(!removes_most("", "a brand new vision"));
        assert_eq!(removed("abc", "abc"), (0, 3));
        assert_eq!(removed("abcd", "ab"), (2, 4));
    }
}
