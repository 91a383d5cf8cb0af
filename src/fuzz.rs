//! Shared settings and inputs of the property tests that feed outside input to the parsers.
//!
//! The seed is fixed so that CI is repeatable; `PROPTEST_RNG_SEED` and `PROPTEST_CASES` override
//! it for a longer hunt (`PROPTEST_CASES=100000 cargo nextest run fuzz_`).

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

const SEED: u64 = 0x6761_7465_686f_7573;

/// `cases` cases from the fixed seed, unless the environment asks for others.
pub fn config(cases: u32) -> Config {
    let base = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            base.cases
        } else {
            cases
        },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            base.rng_seed
        } else {
            RngSeed::Fixed(SEED)
        },
        failure_persistence: None,
        ..base
    }
}

/// Text as an attacker sends it: mostly printable ASCII with the separators parsers split on,
/// and now and then any Unicode scalar (control characters, combining marks, astral planes).
pub fn hostile_text(max: usize) -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        6 => proptest::char::range(' ', '~'),
        2 => proptest::sample::select(vec![
            '.', '=', ';', ',', '$', ':', '@', '_', '-', ' ', '\t', '\n', '\r', '\0', '"', '%',
        ]),
        1 => any::<char>(),
    ];
    proptest::collection::vec(ch, 0..=max).prop_map(|v| v.into_iter().collect())
}

/// Replace, insert or delete one character of `s`: the tampering a forger can do by hand.
pub fn mutate(s: &str, at: usize, with: char, how: u8) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return with.to_string();
    }
    let at = at % chars.len();
    match how % 3 {
        0 if chars[at] != with => chars[at] = with,
        0 | 1 => chars.insert(at, with),
        _ => {
            chars.remove(at);
        }
    }
    chars.into_iter().collect()
}
