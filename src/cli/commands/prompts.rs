use clap::Args;
use serde::Serialize;

use crate::cli::context::Context;
use crate::core::seed::{Prompts, Start, prompts};
use crate::device::{DeviceError, Result};

/// Show the questions each step asks, with examples, for this alliance's starting point.
#[derive(Debug, Args)]
pub struct PromptsArgs {
    /// Only this step: 1 needs, 2 design sessions, 3 vision and expectations, 4 check-ins.
    pub step: Option<u8>,
}

#[derive(Serialize)]
struct Out {
    start: Start,
    steps: Vec<Prompts>,
}

/// The steps' names, as the page's headings say them.
fn step_name(step: u8) -> &'static str {
    match step {
        1 => "Step 1: what each of us needs",
        2 => "Step 2: our plan to sit down together",
        3 => "Step 3: our shared vision, and what we expect of each other",
        _ => "Step 4: check-ins",
    }
}

/// One step's questions and examples, as lines.
pub fn render(p: &Prompts) -> String {
    let mut out = String::new();
    for q in p.questions {
        out.push_str(&format!("  - {q}\n"));
    }
    out.push_str("  For example:\n");
    for e in p.examples {
        out.push_str(&format!("    \"{e}\"\n"));
    }
    out
}

pub fn run(ctx: &mut Context, args: PromptsArgs) -> Result<()> {
    let open = ctx.read()?;
    let start = Start::of(&open.replica().roster().start);
    let steps: Vec<Prompts> = match args.step {
        Some(n) => vec![prompts(start, n).ok_or_else(|| {
            DeviceError::user(format!("there is no step {n}; the steps are 1 to 4"))
        })?],
        None => (1..=4).filter_map(|n| prompts(start, n)).collect(),
    };
    let out = Out { start, steps };
    ctx.out.emit(&out, || {
        let mut s = format!(
            "Questions to start from ({}):\n",
            start.label().to_lowercase()
        );
        for p in &out.steps {
            s.push_str(&format!("\n{}\n{}", step_name(p.step), render(p)));
        }
        s.trim_end().to_string()
    });
    Ok(())
}
