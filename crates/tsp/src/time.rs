//! Times as the API writes them.

use cards::Date;

/// RFC 3339 UTC text of a Unix time (`2026-11-23T12:00:00Z`); the epoch when out of range.
pub(crate) fn rfc3339(unix: i64) -> String {
    let secs = unix.rem_euclid(86_400);
    match Date::from_unix_seconds(unix) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            d.month(),
            d.day(),
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        ),
        Err(_) => "1970-01-01T00:00:00Z".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(rfc3339(1_795_435_200), "2026-11-23T12:00:00Z");
        assert_eq!(rfc3339(1_795_435_200 + 3_723), "2026-11-23T13:02:03Z");
    }
}
