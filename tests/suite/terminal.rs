//! At home in a terminal: `--version`, shell completions, the man page, colour, and QR tickets.

use crate::kit::Device;

/// The numbers `alliance --version` should print, read from the protocol's constants.
fn schema_and_protocol() -> (String, String) {
    let alpn = std::str::from_utf8(alliance::protocol::ALPN).unwrap();
    let protocol = alpn.strip_prefix("alliance/").unwrap().to_string();
    (alliance::protocol::SCHEMA_VERSION.to_string(), protocol)
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
