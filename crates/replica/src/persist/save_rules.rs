//! `save <seconds> <changes>` rules: when does the cron start a BGSAVE?
//!
//! A rule fires when at least `changes` writes happened since the last successful save and
//! `seconds` have passed since it. After a failed BGSAVE, Redis waits
//! [`RETRY_DELAY_SECS`] before trying again, so a full disk does not fork every 100 ms.

/// Redis's `CONFIG_BGSAVE_RETRY_DELAY`.
pub const RETRY_DELAY_SECS: i64 = 5;

/// Returns the rule that fires, if any.
///
/// `dirty`: changes since the last save; `since_save_secs`: seconds since the last
/// successful save; `since_try_secs`: seconds since the last attempt; `last_ok`: whether the
/// last attempt succeeded.
pub fn due(
    rules: &[(u64, u64)],
    dirty: u64,
    since_save_secs: i64,
    since_try_secs: i64,
    last_ok: bool,
) -> Option<(u64, u64)> {
    if !last_ok && since_try_secs <= RETRY_DELAY_SECS {
        return None;
    }
    rules
        .iter()
        .copied()
        .find(|&(secs, changes)| dirty >= changes && since_save_secs >= secs as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &[(u64, u64)] = &[(3600, 1), (300, 100), (60, 10000)];

    #[test]
    fn redis_defaults() {
        assert_eq!(due(DEFAULT, 0, 10_000, 10_000, true), None);
        assert_eq!(due(DEFAULT, 1, 3599, 3599, true), None);
        assert_eq!(due(DEFAULT, 1, 3600, 3600, true), Some((3600, 1)));
        assert_eq!(due(DEFAULT, 100, 300, 300, true), Some((300, 100)));
        assert_eq!(due(DEFAULT, 10_000, 60, 60, true), Some((60, 10000)));
        assert_eq!(due(DEFAULT, 9_999, 299, 299, true), None);
        assert_eq!(due(&[], 1_000_000, 1_000_000, 1_000_000, true), None);
    }

    #[test]
    fn waits_after_a_failure() {
        assert_eq!(due(DEFAULT, 10_000, 60, 3, false), None);
        assert_eq!(due(DEFAULT, 10_000, 60, 6, false), Some((60, 10000)));
    }
}
