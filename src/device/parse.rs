//! One way to write a length of time, for every option that takes one (`invite --expires`,
//! `checkin --next`): a whole number and a unit, the unit required: `30min`, `24h`, `7d`,
//! `2w`, `1mo` (30 days). `m` alone is refused: it reads as minutes to some and months to others.

use crate::device::{DeviceError, Result};

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// Seconds in `s`, for `option` (named in errors). At most `max` seconds.
pub fn parse(option: &str, s: &str, max: i64) -> Result<i64> {
    let s = s.trim().to_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    let bad = |why: &str| {
        DeviceError::user(format!(
            "{option} '{s}': {why}; write a number and a unit: 30min, 24h, 7d, 2w or 1mo"
        ))
    };
    let n: i64 = num
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| bad("not a length of time"))?;
    let per = match unit {
        "" => return Err(bad("the unit is missing")),
        "m" => return Err(bad("'m' could mean minutes or months")),
        "min" | "mins" | "minute" | "minutes" => MINUTE,
        "h" | "hour" | "hours" => HOUR,
        "d" | "day" | "days" => DAY,
        "w" | "week" | "weeks" => 7 * DAY,
        "mo" | "month" | "months" => 30 * DAY,
        _ => return Err(bad("unknown unit")),
    };
    n.checked_mul(per)
        .filter(|secs| *secs <= max)
        .ok_or_else(|| bad(&format!("longer than {}", words(max))))
}

/// A length of time in whole days, for options counted in days (`checkin --next`).
pub fn parse_days(option: &str, s: &str, max_days: i64) -> Result<u32> {
    let secs = parse(option, s, max_days * DAY)?;
    if secs % DAY != 0 {
        return Err(DeviceError::user(format!(
            "{option} '{s}' is counted in whole days: write e.g. 10d, 2w or 1mo"
        )));
    }
    Ok((secs / DAY) as u32)
}

fn words(secs: i64) -> String {
    match secs {
        s if s % (365 * DAY) == 0 => format!("{} year(s)", s / (365 * DAY)),
        s if s % DAY == 0 => format!("{} day(s)", s / DAY),
        s => format!("{s} seconds"),
    }
}

/// A check-in cadence in days (10d, 2w, 1mo), at most 10 years. Counted in days, a cadence
/// cannot mean minutes: `1m` here is a month.
pub fn cadence(s: &str) -> Result<u32> {
    let t = s.trim().to_lowercase();
    match t.strip_suffix('m') {
        Some(n) if !n.is_empty() && n.trim().chars().all(|c| c.is_ascii_digit()) => {
            parse_days("--next", &format!("{}mo", n.trim()), 3660)
        }
        _ => parse_days("--next", s, 3660),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_syntax_with_units_required() {
        let year = 365 * DAY;
        assert_eq!(parse("--expires", "30min", year).unwrap(), 1_800);
        assert_eq!(parse("--expires", "24h", year).unwrap(), 86_400);
        assert_eq!(parse("--expires", "7d", year).unwrap(), 604_800);
        assert_eq!(parse("--expires", "2w", year).unwrap(), 14 * DAY);
        assert_eq!(parse("--expires", "1mo", year).unwrap(), 30 * DAY);
        for bad in ["30", "0h", "forever", "1m", "9999d", "-3d", ""] {
            assert!(parse("--expires", bad, year).is_err(), "{bad}");
        }
        assert_eq!(parse_days("--next", "2w", 3660).unwrap(), 14);
        assert!(parse_days("--next", "36h", 3660).is_err());
        assert!(parse_days("--next", "10", 3660).is_err());
    }

    #[test]
    fn a_cadence_of_1m_is_a_month_because_a_cadence_is_counted_in_days() {
        assert_eq!(cadence("1m").unwrap(), 30);
        assert_eq!(cadence(" 2M ").unwrap(), 60);
        assert_eq!(cadence("2w").unwrap(), 14);
        assert!(cadence("m").is_err());
        assert!(cadence("30min").is_err());
    }
}
