//! A family's first evening (issue 18), through the real binary in temporary homes: what broke
//! when a family of three and a coach followed the README, each item as the person met it.

mod common;

use common::Device;

#[test]
fn a_mistyped_ticket_says_to_copy_the_whole_line_again() {
    let ada = Device::founder(1, "Ada", "The Okafor family", "parent");
    let ticket = ada.invite_ticket();
    let ben = Device::new(2);
    // One character changed, one dropped, the line cut short: each is recognised as mistyped
    // before anything is dialled, and nothing is written on Ben's device.
    let i = ticket.len() / 2;
    let changed = {
        let c = if &ticket[i..i + 1] == "a" { "b" } else { "a" };
        format!("{}{c}{}", &ticket[..i], &ticket[i + 1..])
    };
    let dropped = format!("{}{}", &ticket[..i], &ticket[i + 1..]);
    let cut = ticket[..ticket.len() - 3].to_string();
    for bad in [changed, dropped, cut] {
        let err = ben.fails(&["join", &bad, "--name", "Ben"], 1);
        assert!(err.contains("mistyped"), "{err}");
        assert!(err.contains("copy the whole line"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    let err = ben.fails(&["join", "https://example.com/x", "--name", "Ben"], 1);
    assert!(err.contains("not an alliance invite ticket"), "{err}");
    assert!(
        !ben.home().join("alliances").exists()
            || std::fs::read_dir(ben.home().join("alliances"))
                .unwrap()
                .next()
                .is_none(),
        "a bad ticket writes no alliance"
    );
}
