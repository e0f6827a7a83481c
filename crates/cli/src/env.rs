//! The process's clock and randomness: the only place the binary reads them.

use cards::Date;

/// Seconds since the Unix epoch, from the system clock.
#[allow(clippy::disallowed_methods)] // The Clock seam: the one place that reads the wall clock.
pub(crate) fn now_unix() -> anyhow::Result<i64> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| anyhow::anyhow!("system clock is before 1970"))?
        .as_secs();
    Ok(i64::try_from(secs)?)
}

/// Today's date in UTC, from the system clock.
pub(crate) fn today() -> anyhow::Result<Date> {
    Ok(Date::from_unix_seconds(now_unix()?)?)
}

/// Unpredictable numbers from the operating system's CSPRNG.
pub(crate) struct OsRng;

impl emv_kernel::Rng for OsRng {
    fn fill(&mut self, dest: &mut [u8]) {
        // The OS CSPRNG does not fail on supported platforms; if it ever does, refuse to run
        // with a predictable number.
        if getrandom::fill(dest).is_err() {
            std::process::abort();
        }
    }
}

/// A fixed unpredictable number (for `--unpredictable-number`, reproducible traces).
pub(crate) struct FixedRng(pub(crate) Vec<u8>);

impl emv_kernel::Rng for FixedRng {
    fn fill(&mut self, dest: &mut [u8]) {
        for (d, s) in dest.iter_mut().zip(self.0.iter().cycle()) {
            *d = *s;
        }
    }
}
