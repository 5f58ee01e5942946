//! The seed's questions: what each step asks, as prompts and examples, for the starting point
//! the founder chose (`alliance new TITLE --for family|coaching|team`, or the page's founding
//! form). The choice is written in the document (`ROOT.start`, docs/schema.md) by the genesis
//! change, so every device shows the same prompts. Nothing here is written into the alliance:
//! the prompts are words to start from, and the family writes only what it chooses. No I/O.

use serde::Serialize;

/// Where an alliance starts: who it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// A family at home.
    Family,
    /// A coach and a client.
    Coaching,
    /// A team working apart.
    Team,
}

impl Start {
    pub const ALL: [Start; 3] = [Start::Family, Start::Coaching, Start::Team];

    /// The word written in the document and typed after `--for`.
    pub fn as_str(self) -> &'static str {
        match self {
            Start::Family => "family",
            Start::Coaching => "coaching",
            Start::Team => "team",
        }
    }

    /// The choice in words, as the founding form offers it.
    pub fn label(self) -> &'static str {
        match self {
            Start::Family => "A family at home",
            Start::Coaching => "A coach and a client",
            Start::Team => "A team working apart",
        }
    }

    /// The starting point of an alliance, read from `ROOT.start`: an alliance made before the
    /// choice existed, or with a word this version does not know, starts as a family.
    pub fn of(start: &str) -> Start {
        Start::parse(start).unwrap_or(Start::Family)
    }

    /// The word a person typed (`family`, `coaching`, `team`), or `None`.
    pub fn parse(word: &str) -> Option<Start> {
        let word = word.trim().to_ascii_lowercase();
        Start::ALL.into_iter().find(|s| s.as_str() == word)
    }
}

impl std::fmt::Display for Start {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Start {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Start::parse(s).ok_or_else(|| {
            format!("'{s}' is not a starting point; choose family, coaching or team")
        })
    }
}

/// One step's questions and examples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prompts {
    /// 1 needs, 2 design sessions, 3 vision and expectations, 4 check-ins.
    pub step: u8,
    /// What the step asks, in questions.
    pub questions: &'static [&'static str],
    /// What an answer may look like (a placeholder, never written for the family).
    pub examples: &'static [&'static str],
}

/// The prompts of `step` (1 to 4) for a starting point; `None` for another step number.
pub fn prompts(start: Start, step: u8) -> Option<Prompts> {
    let (questions, examples): (&[&str], &[&str]) = match (start, step) {
        (Start::Family, 1) => (
            &[
                "What do you need from the others at this time in your life?",
                "What helps you feel most like yourself?",
                "How much of something can you handle: noise, visits, screens, chores, time apart?",
            ],
            &[
                "An hour to myself on Sunday mornings",
                "Hearing about plans a day ahead, not on the day",
                "One evening out a week is my limit for now",
            ],
        ),
        (Start::Family, 2) => (
            &[
                "When will you give yourselves time to sit down and build this together?",
                "What would make it feel like time together rather than a meeting?",
            ],
            &[
                "A date night on Friday, phones in the drawer",
                "A call with whoever is away, Sunday after lunch",
                "A first session: an hour at the kitchen table to read each other's needs",
            ],
        ),
        (Start::Family, 3) => (
            &[
                "What is your ideal scenario: how does a good week at home look?",
                "Does the picture look like all of you, not like one of you?",
            ],
            &[
                "Weeknights are calm: dinner together, homework done by eight",
                "Everyone has a say in how the weekend goes",
            ],
        ),
        (Start::Family, 4) => (
            &[
                "What is working, and should stay as it is?",
                "What needs recalibrating, and what will you try instead?",
            ],
            &[
                "Quiet Sunday mornings are working",
                "Chores keep slipping: try a list on the fridge for two weeks",
            ],
        ),
        (Start::Coaching, 1) => (
            &[
                "What do you need from this coaching at this time?",
                "What helps you feel most like yourself when you work on something hard?",
                "How much challenge, and how much work between sessions, can you handle?",
            ],
            &[
                "Honest feedback, said kindly",
                "One small task between sessions, no more",
                "Sessions early in the day, before my work starts",
            ],
        ),
        (Start::Coaching, 2) => (
            &[
                "When will you meet to build this together: how often, how long?",
                "A call, a room, a walk: where do you both think best?",
            ],
            &[
                "A first session: an hour's call to agree on goals and how we work",
                "Every other Tuesday at 8, a video call of 45 minutes",
            ],
        ),
        (Start::Coaching, 3) => (
            &[
                "What is your ideal scenario: what does a good outcome of this work look like?",
                "Does it look like both of you, not only the coach's plan or only the client's?",
            ],
            &[
                "By summer I lead my team's meetings without dreading them",
                "We say when a session is not helping, in the session",
            ],
        ),
        (Start::Coaching, 4) => (
            &[
                "What is working in our sessions?",
                "What should we recalibrate: the pace, the format, the focus?",
            ],
            &[
                "The tasks between sessions are working",
                "Sessions run long: stop at 45 minutes and write down what is left",
            ],
        ),
        (Start::Team, 1) => (
            &[
                "What do you need from the team at this time?",
                "What helps you feel most like yourself at work, and do your best work?",
                "How many meetings, messages and interruptions can you handle in a day?",
            ],
            &[
                "Mornings without meetings",
                "An answer within a day, not within the hour",
                "Knowing who decides what",
            ],
        ),
        (Start::Team, 2) => (
            &[
                "When will the team sit down to build this together, across its time zones?",
                "A call, a shared document, a day in one place: what works for everyone?",
            ],
            &[
                "A first session: a 45-minute call on Monday to read each other's needs",
                "Once a quarter, a day together in one city",
            ],
        ),
        (Start::Team, 3) => (
            &[
                "What is your ideal scenario: how does the team work at its best, working apart?",
                "Does it fit everyone's hours and homes, not only one person's?",
            ],
            &[
                "Decisions are written down where everyone can find them",
                "Nobody is expected to answer outside their own working hours",
            ],
        ),
        (Start::Team, 4) => (
            &[
                "What is working in how we work apart?",
                "What should we recalibrate, and what will we try until the next check-in?",
            ],
            &[
                "The written decisions are working",
                "Too many calls: try two quiet days a week",
            ],
        ),
        _ => return None,
    };
    Some(Prompts {
        step,
        questions,
        examples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_start_has_questions_and_examples_for_each_step() {
        for start in Start::ALL {
            for step in 1..=4 {
                let p = prompts(start, step).unwrap();
                assert!(!p.questions.is_empty() && !p.examples.is_empty());
            }
            assert_eq!(prompts(start, 5), None);
        }
    }

    #[test]
    fn starting_points_read_as_typed_and_old_alliances_start_as_a_family() {
        assert_eq!(Start::parse(" Coaching "), Some(Start::Coaching));
        assert_eq!(Start::parse("club"), None);
        assert_eq!(Start::of(""), Start::Family);
        assert_eq!(Start::of("team"), Start::Team);
        assert!(
            "club"
                .parse::<Start>()
                .unwrap_err()
                .contains("family, coaching or team")
        );
    }
}
