//! `docs/cli.md` is generated from the clap definitions; this test keeps it from drifting.
//! Regenerate with `UPDATE_CLI_DOCS=1 cargo test --test suite cli_reference`.

#[test]
fn docs_cli_md_matches_the_commands() {
    let generated = alliance::cli::reference::markdown();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md");
    if std::env::var("UPDATE_CLI_DOCS").is_ok() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/cli.md is out of date; run UPDATE_CLI_DOCS=1 cargo test --test suite cli_reference"
    );
    for cmd in [
        "init",
        "need add",
        "vision edit",
        "expect agree",
        "invite",
        "join",
        "serve",
        "sync",
    ] {
        assert!(
            generated.contains(&format!("## `alliance {cmd}`")),
            "{cmd} missing"
        );
    }
}
