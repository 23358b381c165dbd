//! Quota arithmetic. Quota is an integer everywhere: 500 000 quota = 1 USD.

/// Quota units per US dollar.
pub const QUOTA_PER_USD: i64 = 500_000;

/// The largest amount of quota anything holds or moves (2 000 000 000 USD): every amount the
/// API accepts is at most this, so sums of a few of them stay far inside `i64`.
pub const MAX_QUOTA: i64 = 1_000_000_000_000_000;

/// Converts quota to dollars for display only (never stored). One division, so the result
/// is the double nearest the exact amount and prints without binary noise.
pub fn quota_to_usd(quota: i64) -> f64 {
    quota as f64 / QUOTA_PER_USD as f64
}

/// Converts quota to US cents for display only, like [`quota_to_usd`].
pub fn quota_to_cents(quota: i64) -> f64 {
    quota as f64 / (QUOTA_PER_USD / 100) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars() {
        assert_eq!(quota_to_usd(500_000), 1.0);
        assert_eq!(quota_to_usd(250_000), 0.5);
        assert_eq!(quota_to_cents(76).to_string(), "0.0152", "no binary noise");
        assert_eq!(quota_to_cents(500_000), 100.0);
    }
}
