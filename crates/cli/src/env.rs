//! The process's clock and randomness: the only place the binary reads them.

use cards::Date;

/// Today's date in UTC, from the system clock.
#[allow(clippy::disallowed_methods)] // The Clock seam: the one place that reads the wall clock.
pub(crate) fn today() -> anyhow::Result<Date> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| anyhow::anyhow!("system clock is before 1970"))?
        .as_secs();
    let days = i64::try_from(secs / 86_400)?;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Ok(Date::new(
        u16::try_from(year)?,
        u8::try_from(month)?,
        u8::try_from(day)?,
    )?)
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
