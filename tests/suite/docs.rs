//! The docs cite tests by name and give `cargo test` commands to run them: every name they cite
//! must exist, and every command must select tests that exist. Read from the files themselves
//! (README.md, docs/*.md, and the suite's own module docs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Names the docs cite that are Automerge's functions, not this repository's.
const OUTSIDE: &[&str] = &["get_change_by_hash", "generate_sync_message"];

/// README.md and every page under docs/, as (path, text).
fn docs() -> Vec<(String, String)> {
    let mut paths = vec![Path::new(ROOT).join("README.md")];
    for e in std::fs::read_dir(Path::new(ROOT).join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            paths.push(p);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(ROOT).unwrap().display().to_string();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "target") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The identifier that starts `s`.
fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The name of every function (tests included) in the repository's Rust code.
fn functions() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for dir in ["src", "tests", "examples", "fuzz"] {
        for file in rust_files(&Path::new(ROOT).join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (i, _) in text.match_indices("fn ") {
                let before = text[..i].chars().next_back();
                if before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_')) {
                    let name = ident(&text[i + 3..]);
                    if !name.is_empty() {
                        names.insert(name.to_string());
                    }
                }
            }
        }
    }
    names
}

/// Every test of the `suite` binary, as cargo names it (`module::name`).
fn suite_tests() -> Vec<String> {
    let mut tests = Vec::new();
    for file in rust_files(&Path::new(ROOT).join("tests/suite")) {
        let module = file.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let mut marked = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with("#[test]") || line.starts_with("#[tokio::test") {
                marked = true;
            } else if marked {
                let rest = line.strip_prefix("async ").unwrap_or(line);
                if let Some(rest) = rest.strip_prefix("fn ") {
                    tests.push(format!("{module}::{}", ident(rest)));
                    marked = false;
                }
            }
        }
    }
    tests
}

/// Snake-case names in backticks with at least two underscores: how the docs cite a test or a
/// function (`a_full_disk_fails_edits_clearly_and_loses_nothing`, `splice_vision_at`).
fn cited_names(text: &str) -> Vec<&str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.matches('_').count() >= 2
                && s.starts_with(|c: char| c.is_ascii_lowercase())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect()
}

#[test]
fn every_test_and_function_the_docs_cite_exists() {
    let functions = functions();
    let mut missing = Vec::new();
    let mut cited = 0;
    for (path, text) in docs() {
        for name in cited_names(&text) {
            cited += 1;
            if !functions.contains(name) && !OUTSIDE.contains(&name) {
                missing.push(format!("{path}: `{name}`"));
            }
        }
    }
    assert!(
        cited > 50,
        "the docs cite {cited} names: is the parser broken?"
    );
    assert!(
        missing.is_empty(),
        "the docs cite names that are no test or function here:\n{}",
        missing.join("\n")
    );
}

/// The `cargo test` commands in `text`: the words after `cargo test` up to the end of the line
/// or of the inline code (a `#` comment ends them too).
fn cargo_test_commands(text: &str) -> Vec<Vec<&str>> {
    let mut out = Vec::new();
    for line in text.lines() {
        for (i, _) in line.match_indices("cargo test") {
            let rest = &line[i + "cargo test".len()..];
            let end = rest.find(['`', '#', '"', ')']).unwrap_or(rest.len());
            out.push(rest[..end].split_whitespace().collect());
        }
    }
    out
}

#[test]
fn every_cargo_test_command_in_the_docs_selects_tests_that_exist() {
    let tests = suite_tests();
    assert!(
        tests.len() > 100,
        "{} tests found in the suite",
        tests.len()
    );
    let mut texts = docs();
    for file in rust_files(&Path::new(ROOT).join("tests/suite")) {
        let name = file.strip_prefix(ROOT).unwrap().display().to_string();
        if name != "tests/suite/docs.rs" {
            texts.push((name, std::fs::read_to_string(&file).unwrap()));
        }
    }
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (path, text) in &texts {
        for words in cargo_test_commands(text) {
            let Some(at) = words.iter().position(|w| *w == "--test") else {
                continue;
            };
            let target = words.get(at + 1).copied().unwrap_or("");
            if target != "suite" {
                wrong.push(format!(
                    "{path}: `cargo test --test {target}`: the only test binary is `suite`"
                ));
                continue;
            }
            // Filters: the words that are not options (or option values) of cargo or libtest.
            let filters: Vec<&str> = words[at + 2..]
                .iter()
                .copied()
                .filter(|w| !w.starts_with('-') && !w.contains('='))
                .collect();
            for f in filters {
                checked += 1;
                if !tests.iter().any(|t| t.contains(f)) {
                    wrong.push(format!(
                        "{path}: `cargo test --test suite {f}` selects no test"
                    ));
                }
            }
        }
    }
    assert!(
        checked > 5,
        "{checked} filters checked: is the parser broken?"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
