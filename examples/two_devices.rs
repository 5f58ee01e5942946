//! Two devices of one alliance, in memory: signed edits, verified exchange, merged text.
//!
//! ## Usage
//! ```sh
//! cargo run --example two_devices
//! ```

use alliance::core::{DeviceKey, Replica, SeededEntropy, SignedChange, Timestamp, Writer};

/// What crosses the wire: change bytes, and the signatures of each author's newest changes
/// (which vouch for the rest), untrusted until verified.
fn wire(r: &Replica) -> Vec<SignedChange> {
    r.for_sending(r.changes_since(&[]))
        .iter()
        .map(|c| c.to_unverified())
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (coach_key, client_key) = (DeviceKey::from_seed([1; 32]), DeviceKey::from_seed([2; 32]));
    let coach = Writer {
        key: &coach_key,
        actor_tag: [1; 8],
        now: Timestamp(1_795_514_400),
    };
    let client = Writer {
        key: &client_key,
        actor_tag: [2; 8],
        now: Timestamp(1_795_514_500),
    };
    let mut rng = SeededEntropy::new(42);

    let (mut a, _, _) = Replica::create(&coach, &mut rng, "Coaching: Sam & Alex", "Sam", "coach")?;
    a.add_member(
        &coach,
        &mut rng,
        "Alex",
        "client",
        Some(client_key.device_id()),
    )?;
    a.set_vision(&coach, "Honest feedback, every week.")?;

    let mut b = Replica::empty(a.id());
    let got = b.receive(wire(&a))?;
    println!("client received {} verified changes", got.new.len());

    a.set_vision(&coach, "Honest, kind feedback, every week.")?;
    b.set_vision(&client, "Honest feedback, every week, in person.")?;
    let e = b.add_expectation(
        &client,
        &mut rng,
        "reply to messages within a day",
        None,
        &[],
    )?;
    println!("client proposed {}", e.id.expect("new id"));

    a.receive(wire(&b))?;
    b.receive(wire(&a))?;
    assert_eq!(a.view(), b.view());
    println!("merged vision: {}", a.view().vision);
    for entry in a.log() {
        println!(
            "{}  {:<5} {}  {}",
            &entry.hash[..8],
            entry.author,
            if entry.verified { "verified" } else { "FAILED" },
            entry.summary
        );
    }
    Ok(())
}
