//! In-memory token buckets, keyed by anything (an email, a client address, a device).
//!
//! Each key has a bucket of `burst` tokens that refills by one every `refill_every_secs`; a
//! request takes one token or is refused with the seconds until the next one. Time comes from
//! the app's clock seam (Unix seconds), so tests drive it. Buckets that have refilled
//! completely are forgotten when the table grows, which keeps memory bounded by the keys seen
//! within one refill period.
//!
//! Limits are per process: several replicas each enforce their own. That is enough to make
//! password guessing (Argon2id already costs ~23 ms a try) and OTP guessing impractical; a
//! shared store can back [`RateLimiter`] later without changing its callers.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// A bucket's size and refill rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed at once (the bucket's size), at least 1.
    pub burst: u32,
    /// Seconds to earn one more request back, at least 1.
    pub refill_every_secs: u32,
}

/// Refused: retry after this many seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

/// Tokens are counted in thousandths, so refill is exact for any whole-second elapsed time.
const MILLI: u64 = 1000;

/// The table is swept of full buckets when it reaches this many keys (and then at twice the
/// size left after a sweep).
const SWEEP_AT: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    milli_tokens: u64,
    updated_unix: i64,
}

struct Table {
    buckets: HashMap<String, Bucket>,
    sweep_at: usize,
}

/// A token-bucket limiter over many keys.
pub struct RateLimiter {
    limit: RateLimit,
    table: Mutex<Table>,
}

impl core::fmt::Debug for RateLimiter {
    /// Shows the limit and the number of keys, never the keys (emails, addresses).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limit", &self.limit)
            .field("tracked_keys", &self.tracked_keys())
            .finish()
    }
}

impl RateLimiter {
    /// A limiter whose every key gets `limit` (zeros are raised to 1).
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit: RateLimit {
                burst: limit.burst.max(1),
                refill_every_secs: limit.refill_every_secs.max(1),
            },
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                sweep_at: SWEEP_AT,
            }),
        }
    }

    /// The limit every key gets.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    fn capacity(&self) -> u64 {
        u64::from(self.limit.burst) * MILLI
    }

    /// The bucket's level at `now_unix`, refilled since it was last touched.
    fn refilled(&self, bucket: Bucket, now_unix: i64) -> u64 {
        let elapsed = u64::try_from(now_unix.saturating_sub(bucket.updated_unix)).unwrap_or(0);
        let earned = elapsed.saturating_mul(MILLI) / u64::from(self.limit.refill_every_secs);
        bucket
            .milli_tokens
            .saturating_add(earned)
            .min(self.capacity())
    }

    /// Takes one request's token for `key` at `now_unix`, or says when to retry.
    pub fn check(&self, key: &str, now_unix: i64) -> Result<(), RetryAfter> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if table.buckets.len() >= table.sweep_at {
            let capacity = self.capacity();
            table
                .buckets
                .retain(|_, b| self.refilled(*b, now_unix) < capacity);
            table.sweep_at = SWEEP_AT.max(table.buckets.len().saturating_mul(2));
        }
        let capacity = self.capacity();
        let bucket = table.buckets.entry(key.to_owned()).or_insert(Bucket {
            milli_tokens: capacity,
            updated_unix: now_unix,
        });
        let level = self.refilled(*bucket, now_unix);
        if level >= MILLI {
            *bucket = Bucket {
                milli_tokens: level - MILLI,
                updated_unix: now_unix,
            };
            Ok(())
        } else {
            // Keep the partial token earned so far; time is whole seconds.
            *bucket = Bucket {
                milli_tokens: level,
                updated_unix: now_unix,
            };
            let missing = MILLI - level;
            let per_milli = u64::from(self.limit.refill_every_secs);
            Err(RetryAfter((missing * per_milli).div_ceil(MILLI).max(1)))
        }
    }

    /// Keys currently tracked (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .buckets
            .len()
    }
}

/// The limits the API enforces.
#[derive(Debug)]
pub struct RateLimits {
    /// `POST /v1/sessions`, per email (normalized): slows guessing one account's password.
    pub login_per_email: RateLimiter,
    /// `POST /v1/sessions`, per client address: slows one client trying many accounts.
    pub login_per_client: RateLimiter,
    /// `POST /v1/users`, per client address: each sign-up costs an Argon2id hash.
    pub signup_per_client: RateLimiter,
    /// `POST /v1/cards/provision`, per user: each attempt is an issuer ID&V decision (the
    /// issuer also caps attempts per card).
    pub provision_per_user: RateLimiter,
    /// `POST /v1/cards/{id}/verify` and `/otp`, per user: codes are 6 digits, and every code
    /// sent is an SMS or e-mail (the token service also locks a card after 5 wrong codes).
    pub otp_per_user: RateLimiter,
}

/// Default limits: 5 logins per email at once, then one a minute; 20 per client address, then
/// one every 3 s; 10 sign-ups per address, then one every 30 s; 10 card provisionings per
/// user, then one a minute; 10 one-time password checks or sends per user, then one every
/// 30 s.
impl Default for RateLimits {
    fn default() -> Self {
        Self {
            login_per_email: RateLimiter::new(RateLimit {
                burst: 5,
                refill_every_secs: 60,
            }),
            login_per_client: RateLimiter::new(RateLimit {
                burst: 20,
                refill_every_secs: 3,
            }),
            signup_per_client: RateLimiter::new(RateLimit {
                burst: 10,
                refill_every_secs: 30,
            }),
            provision_per_user: RateLimiter::new(RateLimit {
                burst: 10,
                refill_every_secs: 60,
            }),
            otp_per_user: RateLimiter::new(RateLimit {
                burst: 10,
                refill_every_secs: 30,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let l = RateLimiter::new(RateLimit {
            burst: 3,
            refill_every_secs: 10,
        });
        for _ in 0..3 {
            assert_eq!(l.check("a", 100), Ok(()));
        }
        assert_eq!(l.check("a", 100), Err(RetryAfter(10)));
        assert_eq!(l.check("a", 104), Err(RetryAfter(6)));
        assert_eq!(l.check("b", 104), Ok(()), "keys are independent");
        assert_eq!(l.check("a", 110), Ok(()));
        assert_eq!(l.check("a", 110), Err(RetryAfter(10)));
        // A long pause refills to the burst, never beyond.
        for _ in 0..3 {
            assert_eq!(l.check("a", 10_000), Ok(()));
        }
        assert!(l.check("a", 10_000).is_err());
    }

    #[test]
    fn clock_going_back_earns_nothing() {
        let l = RateLimiter::new(RateLimit {
            burst: 1,
            refill_every_secs: 5,
        });
        assert_eq!(l.check("a", 100), Ok(()));
        assert!(l.check("a", 50).is_err());
        assert!(l.check("a", 54).is_err());
    }

    #[test]
    fn full_buckets_are_swept() {
        let l = RateLimiter::new(RateLimit {
            burst: 1,
            refill_every_secs: 1,
        });
        for i in 0..SWEEP_AT {
            l.check(&i.to_string(), 0).unwrap();
        }
        assert_eq!(l.tracked_keys(), SWEEP_AT);
        l.check("late", 10).unwrap();
        assert_eq!(l.tracked_keys(), 1);
        assert!(!format!("{l:?}").contains("late"), "keys stay out of Debug");
    }
}
