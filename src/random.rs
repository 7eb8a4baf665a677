//! Random numbers from std alone (no `rand` dependency): the ICMP echo
//! identifiers and payload tokens, and DNS query ids.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::SystemTime;

/// 16 random bits (a DNS query id).
pub fn random_u16() -> u16 {
    random_u64() as u16
}

/// 64 random-enough bits from std alone: `RandomState` is seeded from the
/// OS per thread and perturbed per instance; the clock adds the rest.
pub fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    if let Ok(d) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.write_u32(std::process::id());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ() {
        let draws: std::collections::HashSet<u64> = (0..64).map(|_| random_u64()).collect();
        assert_eq!(draws.len(), 64);
    }
}
