//! At home in a terminal: `--version`, shell completions, the man page, colour, and QR tickets.

use crate::kit::Device;

/// The numbers `alliance --version` should print, read from the protocol's constants.
fn schema_and_protocol() -> (String, String) {
    let alpn = std::str::from_utf8(alliance::constants::ALPN).unwrap();
    let protocol = alpn.strip_prefix("alliance/").unwrap().to_string();
    (alliance::constants::SCHEMA_VERSION.to_string(), protocol)
}

#[test]
fn version_names_schema_and_protocol() {
    let d = Device::new(1);
    let (schema, protocol) = schema_and_protocol();
    let crate_version = env!("CARGO_PKG_VERSION");
    let short = d.ok(&["-V"]);
    assert_eq!(
        short.trim(),
        format!("alliance {crate_version} (schema {schema}, protocol {protocol})")
    );
    let long = d.ok(&["--version"]);
    let lines: Vec<&str> = long.lines().collect();
    assert_eq!(lines[0], format!("alliance {crate_version}"), "{long}");
    assert!(lines[1].starts_with(&format!("schema {schema} ")), "{long}");
    assert!(
        lines[2].starts_with(&format!("protocol {protocol} (alliance/{protocol},")),
        "{long}"
    );
    // A subcommand's --version says the same (propagate_version).
    assert_eq!(
        d.ok(&["status", "-V"]),
        short.replace("alliance ", "alliance-status ")
    );
}

/// Whether a tool the test needs is on PATH. Missing on a developer's machine: the test says so
/// ([`crate::kit::skip`]) and skips. Under CI (as `.ci/run` sets, after installing it) a missing
/// tool fails.
fn have(tool: &str, why: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        crate::kit::skip(&format!(
            "`{tool}` is not installed, so {why} is not tested here (.ci/run installs it)"
        ));
    }
    found
}

#[test]
fn bash_completion_loads_and_completes_a_subcommand() {
    if !have("bash", "the bash completion script") {
        return;
    }
    let d = Device::new(2);
    let script = d.home().join("alliance.bash");
    std::fs::write(&script, d.ok(&["completions", "bash"])).unwrap();
    // Load the script, then ask its function what `alliance sta<TAB>` and
    // `alliance need <TAB>` complete to, as bash's programmable completion would.
    let out = std::process::Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(
            r#"source "$1" || exit 10
complete -p alliance || exit 11
COMP_WORDS=(alliance sta); COMP_CWORD=1; COMP_LINE="alliance sta"; COMP_POINT=${#COMP_LINE}
_alliance alliance sta alliance
echo "top: ${COMPREPLY[*]}"
COMP_WORDS=(alliance need ""); COMP_CWORD=2; COMP_LINE="alliance need "; COMP_POINT=${#COMP_LINE}
_alliance alliance "" need
echo "need: ${COMPREPLY[*]}""#,
        )
        .arg("bash")
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bash failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let registered = stdout.lines().next().unwrap_or_default();
    assert!(
        registered.starts_with("complete ") && registered.ends_with("-F _alliance alliance"),
        "{stdout}"
    );
    let top = stdout.lines().find(|l| l.starts_with("top: ")).unwrap();
    let words: Vec<&str> = top["top: ".len()..].split_whitespace().collect();
    assert!(words.contains(&"status"), "{top}");
    assert!(!words.contains(&"need"), "{top}");
    let need = stdout.lines().find(|l| l.starts_with("need: ")).unwrap();
    assert!(need.split_whitespace().any(|w| w == "add"), "{need}");
}

#[test]
fn completions_for_every_shell() {
    let d = Device::new(3);
    for (shell, mark) in [
        ("bash", "_alliance()"),
        ("zsh", "#compdef alliance"),
        ("fish", "complete -c alliance"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let script = d.ok(&["completions", shell]);
        assert!(script.contains(mark), "{shell}: {script}");
        assert!(script.contains("status"), "{shell}");
    }
    d.fails(&["completions", "tcsh"], 2);
}

#[test]
fn man_page_renders_with_man() {
    let d = Device::new(4);
    let page = d.ok(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH alliance"),
        "{page}"
    );
    if !have("man", "rendering the manual page with `man -l`")
        || !have("groff", "rendering the manual page with `man -l`")
    {
        return;
    }
    let file = d.home().join("alliance.1");
    std::fs::write(&file, &page).unwrap();
    let out = std::process::Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "man -l failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Rendered: roff requests are gone, the sections and commands are there.
    assert!(!text.contains(".TH"), "{text}");
    for want in ["NAME", "SYNOPSIS", "alliance", "status", "--json"] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
}

/// Runs `alliance ARGS` on `d` with `env` set, asserts success, returns stdout.
fn with_env(d: &Device, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut c = d.cmd();
    c.env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "alliance {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn colour_only_on_a_terminal_or_when_forced_and_never_with_no_color_or_json() {
    let d = Device::new(5);
    d.ok(&["init", "--name", "Ada"]);
    d.ok(&["new", "The Okafors"]);
    // Text from the document that tries to look like a verdict stays escaped, colour or not.
    d.ok(&["need", "add", "walks \u{1b}[32mverified\u{1b}[0m"]);
    let green = "\u{1b}[32m";

    // In a pipe (what tests see): no escape codes at all.
    for args in [&["log"][..], &["status"]] {
        let plain = with_env(&d, &[], args);
        assert!(!plain.contains('\u{1b}'), "{plain}");
    }
    let plain_log = with_env(&d, &[], &["log"]);

    // Forced on: the verdicts and headings are coloured, and nothing else changes.
    let log = with_env(&d, &[("CLICOLOR_FORCE", "1")], &["log"]);
    assert!(log.contains(&format!("{green}ok\u{1b}[0m")), "{log}");
    assert!(log.contains("walks \\u{1b}[32mverified\\u{1b}[0m"), "{log}");
    let stripped = log.replace(green, "").replace("\u{1b}[0m", "");
    assert_eq!(stripped, plain_log, "colour moved the columns");
    let status = with_env(&d, &[("CLICOLOR_FORCE", "1")], &["status"]);
    assert!(
        status.contains(&format!("{green}Nothing needs your attention.\u{1b}[0m")),
        "{status}"
    );

    // NO_COLOR wins over forcing; --json never has colour.
    for args in [&["log"][..], &["status"]] {
        let out = with_env(&d, &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], args);
        assert!(!out.contains('\u{1b}'), "{out}");
        let mut json = vec!["--json"];
        json.extend_from_slice(args);
        let out = with_env(&d, &[("CLICOLOR_FORCE", "1")], &json);
        assert!(!out.contains('\u{1b}'), "{out}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap();
    }
}

/// Reads a QR code drawn in half-block characters back into modules (`true` = dark): each
/// character is two modules stacked, ink for light ones (drawn for a dark terminal), inside a
/// quiet zone of 4 light modules.
fn read_qr(lines: &[&str]) -> Vec<Vec<bool>> {
    let mut rows: Vec<Vec<bool>> = Vec::new();
    for line in lines {
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for c in line.chars() {
            let (t, b) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("{other:?} in a QR line"),
            };
            // Ink is light; a module is dark where there is no ink.
            top.push(!t);
            bottom.push(!b);
        }
        rows.push(top);
        rows.push(bottom);
    }
    rows
}

/// Checks that `out` is a ticket line, a blank line, the ticket's QR code (the same modules the
/// qrcode crate encodes, inside the quiet zone) and a blank line; returns the ticket.
fn assert_ticket_then_its_qr(out: &str) -> String {
    let lines: Vec<&str> = out.lines().collect();
    let ticket = lines[0];
    assert!(ticket.len() > 40, "{out}");
    // The ticket line, a blank line, the QR code, a blank line, the words.
    assert_eq!(lines[1], "");
    let qr: Vec<&str> = lines[2..]
        .iter()
        .copied()
        .take_while(|l| !l.is_empty())
        .collect();
    let code =
        qrcode::QrCode::with_error_correction_level(ticket.as_bytes(), qrcode::EcLevel::L).unwrap();
    let n = code.width();
    let side = n + 8;
    assert_eq!(qr.len(), side.div_ceil(2), "{out}");
    for line in &qr {
        assert_eq!(line.chars().count(), side, "{line:?}");
    }
    let modules = read_qr(&qr);
    let colors = code.to_colors();
    for y in 0..side {
        for x in 0..side {
            let inside = (4..n + 4).contains(&x) && (4..n + 4).contains(&y);
            let dark = inside && colors[(y - 4) * n + (x - 4)] == qrcode::Color::Dark;
            // The half row below an odd-sized code is blank ink-free padding.
            if y < modules.len() {
                assert_eq!(modules[y][x], dark, "module ({x}, {y})");
            }
        }
    }
    if side % 2 == 1 {
        assert!(qr.last().unwrap().chars().all(|c| c == '▀'), "{out}");
    }
    ticket.to_string()
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn invite_qr_draws_the_ticket_and_json_is_unchanged() {
    let ada = Device::founder(6, "Ada", "The Okafors", "parent");
    let _serve = ada.serve();
    let out = ada.ok(&["invite", "--qr"]);
    assert_ticket_then_its_qr(&out);
    assert!(
        out.contains("alliance join TICKET --name THEIR_NAME"),
        "{out}"
    );

    // Without --qr: no QR. With --json: the same fields as without --qr, and no QR.
    let plain = ada.ok(&["invite"]);
    assert!(!plain.contains('▀') && !plain.contains('█'), "{plain}");
    let with_qr = ada.json(&["invite", "--qr"]);
    let without = ada.json(&["invite"]);
    assert_eq!(keys(&with_qr), keys(&without));
    assert!(!with_qr.to_string().contains('█'));
    assert_eq!(with_qr["role"], without["role"]);
}

#[test]
fn device_link_qr_draws_the_ticket_like_invite_and_json_is_unchanged() {
    let ada = Device::founder(7, "Ada", "The Okafors", "parent");
    let _serve = ada.serve();
    let out = ada.ok(&["device", "link", "--qr"]);
    assert_ticket_then_its_qr(&out);
    assert!(out.contains("alliance join TICKET\n"), "{out}");
    let plain = ada.ok(&["device", "link"]);
    assert!(!plain.contains('▀') && !plain.contains('█'), "{plain}");
    let with_qr = ada.json(&["device", "link", "--qr"]);
    let without = ada.json(&["device", "link"]);
    assert_eq!(keys(&with_qr), keys(&without));
    assert!(!with_qr.to_string().contains('█'));
}
