//! The token format of spec §3: prefix, 32 random base62 characters, a CRC32 checksum in 6
//! base62 characters; parsed without touching the database.

use crate::config::Environment;
use crate::secrets::{random_base62, BASE62};

const RANDOM_CHARS: usize = 32;
const CHECKSUM_CHARS: usize = 6;
const PREFIX_CHARS: usize = "tg_live_".len();
pub const TOKEN_CHARS: usize = PREFIX_CHARS + RANDOM_CHARS + CHECKSUM_CHARS;

fn prefix(env: Environment) -> &'static str {
    match env {
        Environment::Live => "tg_live_",
        Environment::Test => "tg_test_",
    }
}

/// CRC32 of `body` as 6 base62 digits, most significant first (62^6 > 2^32).
fn checksum(body: &str) -> String {
    let mut n = u64::from(crc32fast::hash(body.as_bytes()));
    let mut digits = [b'0'; CHECKSUM_CHARS];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(digits.to_vec()).expect("base62 is ASCII")
}

/// A new token for `env`: prefix, 32 random base62 characters (190 bits), checksum.
pub fn generate(env: Environment) -> String {
    let body = format!("{}{}", prefix(env), random_base62(RANDOM_CHARS));
    let sum = checksum(&body);
    body + &sum
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("the token does not start with tg_live_ or tg_test_")]
    Prefix,
    #[error("the token is {0} characters long; Tollgate tokens have 46")]
    Length(usize),
    #[error("the token contains a character that is not a letter or digit")]
    Alphabet,
    #[error("the token's checksum does not match: it was mistyped or cut short")]
    Checksum,
}

/// Checks prefix, length, alphabet and checksum without touching the database; returns the
/// token's environment.
pub fn parse(token: &str) -> Result<Environment, FormatError> {
    let env = if token.starts_with("tg_live_") {
        Environment::Live
    } else if token.starts_with("tg_test_") {
        Environment::Test
    } else {
        return Err(FormatError::Prefix);
    };
    if token.len() != TOKEN_CHARS {
        return Err(FormatError::Length(token.chars().count()));
    }
    // The alphabet first: only then is every byte a character, and the split safe.
    if !token.as_bytes()[PREFIX_CHARS..]
        .iter()
        .all(u8::is_ascii_alphanumeric)
    {
        return Err(FormatError::Alphabet);
    }
    let (body, sum) = token.split_at(PREFIX_CHARS + RANDOM_CHARS);
    if checksum(body) != sum {
        return Err(FormatError::Checksum);
    }
    Ok(env)
}

/// `tg_live_Ab3d…9xQz`: enough to recognise a token, far too little to use it.
pub fn hint(token: &str) -> String {
    let start = &token[..PREFIX_CHARS + 4];
    let end = &token[token.len() - 4..];
    format!("{start}…{end}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_the_spec_format() {
        let token = generate(Environment::Live);
        assert_eq!(token.len(), 46);
        assert!(token.starts_with("tg_live_"));
        assert_eq!(parse(&token), Ok(Environment::Live));
        assert_eq!(parse(&generate(Environment::Test)), Ok(Environment::Test));
        assert_eq!(&token[40..], checksum(&token[..40]));
    }

    #[test]
    fn the_parser_rejects_bad_prefix_length_alphabet_and_checksum() {
        let token = generate(Environment::Live);
        assert_eq!(
            parse(&token.replacen("tg_live_", "tg_prod_", 1)),
            Err(FormatError::Prefix)
        );
        assert_eq!(parse(&token[..45]), Err(FormatError::Length(45)));
        assert_eq!(parse(&format!("{token}x")), Err(FormatError::Length(47)));
        let mut bad_char = token.clone().into_bytes();
        bad_char[20] = b'-';
        assert_eq!(
            parse(&String::from_utf8(bad_char).unwrap()),
            Err(FormatError::Alphabet)
        );
        // One changed character anywhere in the random part breaks the checksum.
        let mut typo = token.clone().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            parse(&String::from_utf8(typo).unwrap()),
            Err(FormatError::Checksum)
        );
        assert_eq!(parse(""), Err(FormatError::Prefix));
        assert_eq!(parse("tg_live_é"), Err(FormatError::Length(9)));
    }

    #[test]
    fn multibyte_input_is_refused_not_a_panic() {
        // 46 bytes whose 40th falls inside a two-byte character: splitting there panicked.
        let token = format!("tg_live_{}é{}", "a".repeat(31), "b".repeat(5));
        assert_eq!(token.len(), TOKEN_CHARS);
        assert_eq!(parse(&token), Err(FormatError::Alphabet));
    }

    #[test]
    fn checksums_are_zero_padded_base62() {
        assert_eq!(checksum(""), "000000"); // CRC32 of nothing is 0
        assert_eq!(checksum("tg_live_").len(), 6);
    }

    #[test]
    fn the_hint_shows_the_prefix_and_both_ends_only() {
        let token = generate(Environment::Live);
        let hint = hint(&token);
        assert_eq!(hint, format!("{}…{}", &token[..12], &token[42..]));
        assert!(!hint.contains(&token[12..42]));
    }

    #[test]
    fn ten_thousand_tokens_are_distinct_and_all_parse() {
        let tokens: std::collections::HashSet<String> =
            (0..10_000).map(|_| generate(Environment::Live)).collect();
        assert_eq!(tokens.len(), 10_000);
        assert!(tokens.iter().all(|t| parse(t) == Ok(Environment::Live)));
    }
}
