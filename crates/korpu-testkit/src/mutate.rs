//! Corrupted copies of a signed file, for the tests that check no corruption panics and few
//! pass: each copy has one byte changed at a position a xorshift generator picks, so a run is
//! repeatable from its seed.
//!
//! Not a fuzzer: the `cargo fuzz` targets in `fuzz/` explore inputs; this only samples.

/// `n` copies of `data`, each with one byte at a pseudo-random position XORed with a non-zero
/// value; the positions and values follow from `seed` (xorshift64).
pub fn flipped_copies(data: &[u8], seed: u64, n: usize) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut x = seed;
    (0..n).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut bad = data.to_vec();
        let i = (x % bad.len() as u64) as usize;
        bad[i] ^= ((x >> 32) as u8) | 1;
        bad
    })
}
