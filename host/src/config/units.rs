//! Sizes and durations as people write them in manifests: `"16 MiB"`,
//! `"500 ms"`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses a size: a whole number of bytes, or a number with a unit
/// (`B`, `KiB`, `MiB`, `GiB`, or the decimal `KB`, `MB`, `GB`).
///
/// # Errors
///
/// A message saying why `text` is not a size.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if text.starts_with('-') {
        return Err(format!("`{text}` is negative; a size is at least 0"));
    }
    let number: f64 =
        number.parse().map_err(|_| format!("`{text}` is not a size like \"16 MiB\""))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!("`{other}` is not a size unit (B, KiB, MiB, GiB, KB, MB, GB)"));
        }
    };
    let bytes = number * scale as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("`{text}` is too large"));
    }
    Ok(bytes.round() as u64)
}

/// Parses a duration: a number with a unit (`ms`, `s`, `min`).
///
/// # Errors
///
/// A message saying why `text` is not a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(format!("`{text}` is negative; a duration is more than 0"));
    }
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 =
        number.parse().map_err(|_| format!("`{text}` is not a duration like \"500 ms\""))?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "s" => number,
        "min" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86_400.0,
        "" => return Err(format!("`{text}` needs a unit: ms, s, min, h or d")),
        other => return Err(format!("`{other}` is not a duration unit (ms, s, min, h, d)")),
    };
    let duration =
        Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is out of range"))?;
    if duration > Duration::from_secs(365 * 24 * 3600) {
        return Err(format!("`{text}` is more than a year"));
    }
    Ok(duration)
}

pub use crate::text::format_size;

/// A size in a manifest: a whole number of bytes or a string with a unit.
pub(crate) fn size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<Number>::deserialize(d)? {
        None => Ok(None),
        Some(Number::Int(n)) if n < 0 => {
            Err(serde::de::Error::custom(format!("`{n}` is negative; a size is at least 0")))
        }
        Some(Number::Int(n)) => Ok(Some(n as u64)),
        Some(Number::Text(text)) => parse_size(&text).map(Some).map_err(serde::de::Error::custom),
    }
}

/// A duration in a manifest: a string with a unit.
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<Number>::deserialize(d)? {
        None => Ok(None),
        Some(Number::Int(n)) => Err(serde::de::Error::custom(format!(
            "`{n}` needs a unit: write \"{n} ms\" or \"{n} s\""
        ))),
        Some(Number::Text(text)) => {
            parse_duration(&text).map(Some).map_err(serde::de::Error::custom)
        }
    }
}

/// A count in a manifest: a whole number, at least 0.
pub(crate) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<Number>::deserialize(d)? {
        None => Ok(None),
        Some(Number::Int(n)) if n < 0 => {
            Err(serde::de::Error::custom(format!("`{n}` is negative; a count is at least 0")))
        }
        Some(Number::Int(n)) => Ok(Some(n as u64)),
        Some(Number::Text(text)) => {
            Err(serde::de::Error::custom(format!("`{text:?}` is not a whole number")))
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Text(String),
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::Text(t) => write!(f, "{t:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(parse_size("16 MiB"), Ok(16 << 20));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1.5 KiB"), Ok(1536));
        assert_eq!(parse_size("2 MB"), Ok(2_000_000));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("-1").unwrap_err().contains("negative"));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").unwrap_err().contains("not a size unit"));
        assert!(parse_size("1e30 GiB").is_err());
    }

    #[test]
    fn durations_need_units() {
        assert_eq!(parse_duration("500 ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2 min"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("-1 s").unwrap_err().contains("negative"));
        assert!(parse_duration("1 fortnight").is_err());
    }

    #[test]
    fn sizes_print_readably() {
        assert_eq!(format_size(64 << 20), "64 MiB");
        assert_eq!(format_size(1 << 30), "1 GiB");
        assert_eq!(format_size(100), "100 B");
        assert_eq!(format_size((100 << 20) + 1), "100.0 MiB");
        assert_eq!(format_size(64704 << 10), "63.2 MiB");
    }
}
