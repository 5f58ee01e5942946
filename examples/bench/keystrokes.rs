//! A synthetic keystroke trace (issue 17): someone writing a long essay in the vision, one
//! edit per keystroke, in the automerge-perf shape `(position, deleted, inserted)`.
//!
//! What the writer does, all decided by a seeded SplitMix64 (no other randomness, no clock,
//! no hash map iteration; the same seed gives the same trace on every machine):
//!
//! - types sentences of 4 to 18 words, a character per edit: words from a fixed vocabulary
//!   (common words far more often than rare ones), the first capitalised, a comma now and then,
//!   a full stop, a question mark or an exclamation mark at the end, a space between sentences
//!   and a blank line (`\n\n`) between paragraphs of 2 to 7 sentences;
//! - makes typos (a neighbouring key instead of the right one, about 2% of characters) and
//!   fixes them by backspacing, a character per edit: at once, or after typing on for a
//!   character or three;
//! - deletes the word just typed now and then (one edit, as ctrl+backspace does) and types
//!   another;
//! - jumps back to insert: a word into an earlier sentence, or a whole sentence between two
//!   earlier ones, mostly near the end of the text and sometimes anywhere, then returns to the
//!   end;
//! - selects and deletes: a few words, a sentence (often retyping a new one in its place), now
//!   and then a whole paragraph;
//! - keeps the essay long but bounded: the longer the text, the more it revises by deleting,
//!   so it grows quickly at first and then hovers around [`TARGET_CHARS`] characters (alliance
//!   accepts at most 100,000 characters in the vision, `constants::MAX_TEXT_CHARS`).
//!
//! The text is ASCII, so character positions are byte positions. [`generate`] replays its own
//! edits onto an empty text and checks the result against the text it kept as it went.

/// The seed of the trace the benchmark uses.
pub const SEED: u64 = 17;
/// Edits in the trace the benchmark uses (prefixes of it give the smaller sizes).
pub const EDITS: usize = 260_000;
/// The length the essay hovers around once written (characters).
pub const TARGET_CHARS: usize = 80_000;
/// Never longer than this (alliance's limit is 100,000).
const MAX_CHARS: usize = 95_000;

pub struct Keystrokes {
    /// `(position, deleted, inserted)`, positions and counts in characters.
    pub edits: Vec<(usize, usize, String)>,
    /// The text after every edit.
    pub final_text: String,
}

/// SplitMix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p` (0..=1).
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// Common words first: a word's index is drawn with a bias towards the start of the list.
const VOCABULARY: &str = "\
    the we and to of a our in is that for it with as be on not are this you at by from each \
    other when all can will they more what us about time so if there one do how who family \
    home listen care together children always trust promise speak honest kind help day week \
    evening morning dinner table share work rest play learn grow choose decide agree \
    disagree argue forgive apologise patience respect quiet noise space room house garden \
    kitchen chores dishes laundry money budget holiday weekend school homework friends \
    neighbours grandparents visit call phone screen bedtime sleep walk bike car rain summer \
    winter birthday celebrate remember forget notice thank ask answer question because \
    although whenever sometimes often rarely never again later first last small big hard \
    easy slow gentle loud tired happy sad angry calm safe welcome belong change keep plan \
    try fail mistake repair together alone everyone nobody someone especially really \
    probably important difficult wonderful ordinary responsibility understanding \
    conversation expectation encouragement disappointment independence appreciation \
    commitment boundaries feelings needs voice turn fair";

/// Keys next to each letter on a QWERTY keyboard (the typo for a letter is one of them).
fn neighbour(rng: &mut Rng, c: u8) -> u8 {
    const ROWS: [&[u8]; 3] = [b"qwertyuiop", b"asdfghjkl", b"zxcvbnm"];
    let lower = c.to_ascii_lowercase();
    for (r, row) in ROWS.iter().enumerate() {
        if let Some(i) = row.iter().position(|&k| k == lower) {
            let mut options: Vec<u8> = Vec::new();
            if i > 0 {
                options.push(row[i - 1]);
            }
            if i + 1 < row.len() {
                options.push(row[i + 1]);
            }
            for other in [r.wrapping_sub(1), r + 1] {
                if let Some(o) = ROWS.get(other)
                    && let Some(&k) = o.get(i.min(o.len() - 1))
                {
                    options.push(k);
                }
            }
            return options[rng.below(options.len())];
        }
    }
    b"etaoin"[rng.below(6)]
}

/// The writer: the text so far, where the cursor is, the edits made, and when to stop.
struct Writer {
    rng: Rng,
    vocabulary: Vec<&'static str>,
    text: Vec<u8>,
    cursor: usize,
    edits: Vec<(usize, usize, String)>,
    limit: usize,
}

impl Writer {
    fn done(&self) -> bool {
        self.edits.len() >= self.limit
    }

    fn splice(&mut self, pos: usize, deleted: usize, inserted: &[u8]) {
        if self.done() {
            return;
        }
        self.text
            .splice(pos..pos + deleted, inserted.iter().copied());
        self.edits.push((
            pos,
            deleted,
            String::from_utf8(inserted.to_vec()).expect("ASCII"),
        ));
        if self.cursor >= pos + deleted {
            self.cursor = self.cursor - deleted + inserted.len();
        } else if self.cursor > pos {
            self.cursor = pos + inserted.len();
        }
    }

    /// One key: the character goes in at the cursor.
    fn key(&mut self, c: u8) {
        self.splice(self.cursor, 0, &[c]);
    }

    fn backspace(&mut self) {
        if self.cursor > 0 {
            self.splice(self.cursor - 1, 1, b"");
        }
    }

    /// Types `s` a key at a time, with typos fixed by backspacing.
    fn type_str(&mut self, s: &[u8]) {
        let mut i = 0;
        while i < s.len() && !self.done() {
            if s[i].is_ascii_alphabetic() && self.rng.chance(0.02) {
                // A wrong key; noticed at once, or after a few more characters.
                let typo = neighbour(&mut self.rng, s[i]);
                self.key(typo);
                let more = if self.rng.chance(0.6) {
                    0
                } else {
                    self.rng.between(1, 3).min(s.len() - i - 1)
                };
                for &c in &s[i + 1..i + 1 + more] {
                    self.key(c);
                }
                for _ in 0..=more {
                    self.backspace();
                }
            }
            self.key(s[i]);
            i += 1;
        }
    }

    fn word(&mut self) -> &'static str {
        // The square of a uniform number: the common words at the start come up far more.
        let u = self.rng.below(1 << 16) as f64 / (1 << 16) as f64;
        self.vocabulary[((u * u) * self.vocabulary.len() as f64) as usize]
    }

    /// A sentence of 4 to 18 words, as typed (capital, commas, closing mark, no trailing space).
    fn sentence(&mut self) -> Vec<u8> {
        let words = self.rng.between(4, 18);
        let mut s = Vec::new();
        for w in 0..words {
            let mut word = self.word().as_bytes().to_vec();
            if w == 0 {
                word[0] = word[0].to_ascii_uppercase();
            } else {
                s.push(b' ');
            }
            s.extend_from_slice(&word);
            if w + 1 < words && w > 1 && self.rng.chance(0.07) {
                s.push(b',');
            }
        }
        s.push(match self.rng.below(20) {
            0 | 1 => b'?',
            2 => b'!',
            _ => b'.',
        });
        s
    }

    /// Types a sentence at the cursor a word at a time; sometimes deletes the word just typed
    /// (one edit) and types another in its place.
    fn type_sentence(&mut self) {
        let sentence = self.sentence();
        for (i, piece) in sentence.split_inclusive(|&c| c == b' ').enumerate() {
            self.type_str(piece);
            if self.done() {
                return;
            }
            if i > 0 && piece.len() > 2 && self.rng.chance(0.01) {
                // Ctrl+backspace over the word (and its space), then a different word.
                let n = piece.len();
                self.splice(self.cursor - n, n, b"");
                let other = format!("{} ", self.word());
                self.type_str(other.as_bytes());
            }
        }
    }

    /// Positions where a sentence starts (after ". ", "? ", "! " or a blank line), in `lo..hi`.
    fn sentence_starts(&self, lo: usize, hi: usize) -> Vec<usize> {
        (lo.max(2)..hi.min(self.text.len()))
            .filter(|&i| {
                let (a, b) = (self.text[i - 2], self.text[i - 1]);
                (matches!(a, b'.' | b'?' | b'!') && b == b' ') || (a == b'\n' && b == b'\n')
            })
            .collect()
    }

    /// Somewhere earlier in the text: mostly in the last few thousand characters, now and then
    /// anywhere. Returns the range to look in.
    fn earlier(&mut self, span: usize) -> (usize, usize) {
        let len = self.text.len();
        if self.rng.chance(0.75) {
            let back = self.rng.between(200, 4_000).min(len);
            let lo = len - back;
            (lo, (lo + span).min(len))
        } else {
            let lo = self.rng.below(len.saturating_sub(span).max(1));
            (lo, (lo + span).min(len))
        }
    }

    /// Jumps to an earlier space and types a word there (` word`), then returns to the end.
    fn insert_word_earlier(&mut self) {
        let (lo, hi) = self.earlier(300);
        let spaces: Vec<usize> = (lo..hi)
            .filter(|&i| self.text[i] == b' ' && i > 0 && self.text[i - 1].is_ascii_alphabetic())
            .collect();
        if spaces.is_empty() {
            return;
        }
        self.cursor = spaces[self.rng.below(spaces.len())];
        let w = format!(" {}", self.word());
        self.type_str(w.as_bytes());
        self.cursor = self.text.len();
    }

    /// Jumps to the start of an earlier sentence and types a new sentence before it.
    fn insert_sentence_earlier(&mut self) {
        let (lo, hi) = self.earlier(600);
        let starts = self.sentence_starts(lo, hi);
        if starts.is_empty() {
            return;
        }
        self.cursor = starts[self.rng.below(starts.len())];
        self.type_sentence();
        self.type_str(b" ");
        self.cursor = self.text.len();
    }

    /// Selects an earlier sentence and deletes it (one edit); often types a new one instead.
    fn rewrite_sentence(&mut self) {
        let (lo, hi) = self.earlier(1_500);
        let starts = self.sentence_starts(lo, hi);
        if starts.len() < 2 {
            return;
        }
        let k = self.rng.below(starts.len() - 1);
        let (from, to) = (starts[k], starts[k + 1]);
        if self.text[from..to].contains(&b'\n') {
            return;
        }
        self.splice(from, to - from, b"");
        if self.rng.chance(0.5) {
            self.cursor = from;
            self.type_sentence();
            self.type_str(b" ");
        }
        self.cursor = self.text.len();
    }

    /// Selects a few words of an earlier sentence and deletes them (one edit).
    fn delete_words(&mut self) {
        let (lo, hi) = self.earlier(400);
        let starts: Vec<usize> = (lo.max(1)..hi)
            .filter(|&i| self.text[i - 1] == b' ' && self.text[i].is_ascii_lowercase())
            .collect();
        if starts.len() < 2 {
            return;
        }
        let k = self.rng.below(starts.len() - 1);
        let n = self.rng.between(1, 5).min(starts.len() - 1 - k);
        let (from, to) = (starts[k], starts[k + n]);
        if self.text[from..to]
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c == b' ')
        {
            self.splice(from, to - from, b"");
        }
        self.cursor = self.text.len();
    }

    /// Selects a whole earlier paragraph (with the blank line after it) and deletes it.
    fn delete_paragraph(&mut self) {
        let (lo, _) = self.earlier(0);
        let breaks: Vec<usize> = (lo.max(2)..self.text.len())
            .filter(|&i| self.text[i - 2] == b'\n' && self.text[i - 1] == b'\n')
            .take(3)
            .collect();
        if breaks.len() >= 2 {
            let (from, to) = (breaks[0], breaks[1]);
            self.splice(from, to - from, b"");
        }
        self.cursor = self.text.len();
    }

    /// One paragraph at the end, with the revisions made while writing it.
    fn paragraph(&mut self) {
        let sentences = self.rng.between(2, 7);
        for s in 0..sentences {
            if self.done() {
                return;
            }
            self.cursor = self.text.len();
            self.type_sentence();
            self.type_str(if s + 1 == sentences { b"\n\n" } else { b" " });
            // Revisions, more of them the longer the essay (so its length levels off).
            let fill = self.text.len() as f64 / TARGET_CHARS as f64;
            if self.rng.chance(0.05) {
                self.insert_word_earlier();
            }
            if self.rng.chance(0.04) {
                self.insert_sentence_earlier();
            }
            if self.rng.chance(0.03 + 0.2 * fill * fill) {
                self.rewrite_sentence();
            }
            if self.rng.chance(0.03 + 0.1 * fill * fill) {
                self.delete_words();
            }
        }
        let fill = self.text.len() as f64 / TARGET_CHARS as f64;
        if self.text.len() > MAX_CHARS - 2_000 || self.rng.chance(0.02 + 0.9 * fill.powi(8)) {
            self.delete_paragraph();
        }
        while self.text.len() > MAX_CHARS - 2_000 && !self.done() {
            // Cut the first paragraph (one edit) until there is room again.
            let end = self
                .sentence_starts(2, self.text.len())
                .into_iter()
                .find(|&i| self.text[i - 1] == b'\n')
                .unwrap_or(self.text.len() / 2);
            self.splice(0, end, b"");
            self.cursor = self.text.len();
        }
    }
}

/// The first `edits` edits of the essay written from `seed`, and the text they leave.
pub fn generate(edits: usize, seed: u64) -> Keystrokes {
    let mut w = Writer {
        rng: Rng(seed),
        vocabulary: VOCABULARY.split_whitespace().collect(),
        text: Vec::new(),
        cursor: 0,
        edits: Vec::with_capacity(edits),
        limit: edits,
    };
    while !w.done() {
        w.paragraph();
    }
    let final_text = String::from_utf8(w.text).expect("ASCII");
    assert_eq!(
        apply(&w.edits),
        final_text,
        "the edits replay to the text the writer kept"
    );
    Keystrokes {
        edits: w.edits,
        final_text,
    }
}

/// The text `edits` leave when applied to an empty text (positions in characters).
pub fn apply(edits: &[(usize, usize, String)]) -> String {
    let mut text: Vec<char> = Vec::new();
    for (pos, deleted, inserted) in edits {
        text.splice(*pos..*pos + *deleted, inserted.chars());
    }
    text.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_self_consistent() {
        let a = generate(10_000, SEED);
        let b = generate(10_000, SEED);
        assert_eq!(a.edits.len(), 10_000);
        assert_eq!(a.edits, b.edits, "the same seed gives the same trace");
        assert_eq!(apply(&a.edits), a.final_text);
        // A prefix of a longer trace is the shorter trace.
        let c = generate(12_000, SEED);
        assert_eq!(&c.edits[..10_000], &a.edits[..]);
        assert_ne!(generate(1_000, SEED + 1).edits, c.edits[..1_000]);
        // Typing: mostly single characters, some backspaces, some larger deletions.
        let single = a
            .edits
            .iter()
            .filter(|(_, d, i)| *d == 0 && i.len() == 1)
            .count();
        let backspaces = a
            .edits
            .iter()
            .filter(|(_, d, i)| *d == 1 && i.is_empty())
            .count();
        let cuts = a.edits.iter().filter(|(_, d, _)| *d > 1).count();
        assert!(single > 9_000, "{single} single keys");
        assert!(backspaces > 50, "{backspaces} backspaces");
        assert!(cuts > 2, "{cuts} selections deleted");
    }
}
