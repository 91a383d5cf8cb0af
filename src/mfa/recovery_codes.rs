//! Recovery codes: 10 per set, 10 characters from an alphabet without look-alikes, shown as
//! `xxxxx-xxxxx`; case and the dash do not matter; only their keyed hash is stored.

use crate::state::AppState;

pub const PER_SET: usize = 10;
/// No 0/o, 1/l/i, 5/s, 2/z, 8/b look-alikes.
const ALPHABET: &[u8] = b"acdefghjkmnpqrtuvwxy34679";
const PURPOSE: &str = "recovery-code";

/// A fresh set, as shown to the user.
pub fn new_set() -> Vec<String> {
    (0..PER_SET)
        .map(|_| {
            let raw = crate::tokens::random_from_alphabet(ALPHABET, 10);
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect()
}

/// The canonical form of what was typed (lower case, no dashes or blanks); `None` when it cannot
/// be a recovery code.
pub fn normalize(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == 10 && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// The stored form: an HMAC under the server key (a leaked table alone opens nothing).
pub fn hash(state: &AppState, normalized: &str) -> String {
    crate::codes::mac(state, PURPOSE, normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_distinct_and_read_back_in_any_case() {
        let set = new_set();
        assert_eq!(set.len(), 10);
        let distinct: std::collections::BTreeSet<_> = set.iter().collect();
        assert_eq!(distinct.len(), 10);
        for code in &set {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            let plain = code.replace('-', "");
            assert_eq!(normalize(code).as_deref(), Some(plain.as_str()));
            assert_eq!(
                normalize(&code.to_uppercase()).as_deref(),
                Some(plain.as_str())
            );
        }
        assert_eq!(normalize("123456"), None);
        assert_eq!(normalize("aaaaa-aaaa0"), None);
    }
}
