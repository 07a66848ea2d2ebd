//! The clock every time-dependent command uses: `--now` or the system time.

use anyhow::{Context, Result};
use jiff::Timestamp;

/// Returns the instant commands should treat as "now".
///
/// Accepts RFC 3339 (`2026-11-27T12:00:00Z`) or a plain date
/// (`2026-11-27`, meaning midnight UTC).
pub fn now(global: &super::GlobalArgs) -> Result<Timestamp> {
    match &global.now {
        None => Ok(Timestamp::now()),
        Some(text) => parse_time(text).with_context(|| {
            format!(
                "--now {text:?}: expected RFC 3339 (2026-11-27T12:00:00Z) or a date (2026-11-27)"
            )
        }),
    }
}

/// Parses RFC 3339 or a plain `YYYY-MM-DD` date (UTC midnight).
pub fn parse_time(text: &str) -> Result<Timestamp> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    let date: jiff::civil::Date = text.parse()?;
    Ok(jiff::tz::TimeZone::UTC.to_timestamp(date.at(0, 0, 0, 0))?)
}
