//! Counts as the dashboard shows them: grouped by thousands in the reader's convention,
//! chosen once per session from the browser's `Accept-Language`.

use serde::{Deserialize, Serialize};

/// How a locale separates the thousands of a count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grouping {
    /// `20,000` (English, Chinese, Japanese, Korean, Hebrew, Thai…)
    #[default]
    Comma,
    /// `20.000` (German, Spanish, Italian, Dutch, Portuguese of Brazil, Danish, Turkish…)
    Period,
    /// `20 000` with a narrow no-break space (French, the Nordic and Slavic languages…)
    Space,
    /// `20’000` (Swiss German and Italian)
    Apostrophe,
}

impl Grouping {
    /// The convention of the first language of an `Accept-Language` header.
    pub fn from_accept_language(header: &str) -> Grouping {
        let first = header
            .split(',')
            .next()
            .and_then(|tag| tag.split(';').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let mut parts = first.split(['-', '_']);
        let language = parts.next().unwrap_or("");
        let region = parts.next().unwrap_or("");
        match (language, region) {
            ("de" | "it", "ch") | ("rm", _) => Grouping::Apostrophe,
            ("pt", "pt") => Grouping::Space,
            (
                "de" | "es" | "it" | "nl" | "pt" | "da" | "id" | "tr" | "el" | "ro" | "hr" | "sl"
                | "sr" | "vi" | "ca",
                _,
            ) => Grouping::Period,
            (
                "fr" | "nb" | "no" | "nn" | "sv" | "fi" | "pl" | "cs" | "sk" | "ru" | "uk" | "hu"
                | "bg" | "lt" | "lv" | "et",
                _,
            ) => Grouping::Space,
            _ => Grouping::Comma,
        }
    }

    fn separator(self) -> char {
        match self {
            Grouping::Comma => ',',
            Grouping::Period => '.',
            Grouping::Space => '\u{202f}',
            Grouping::Apostrophe => '’',
        }
    }

    /// `n` with its thousands grouped: `20,000`, `20.000`, `20 000`, `20’000`.
    pub fn count(self, n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 3 + 1);
        if n < 0 {
            out.push('-');
        }
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(self.separator());
            }
            out.push(c);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Grouping;

    #[test]
    fn counts_follow_the_first_language_of_the_browser() {
        let cases = [
            ("en-US,en;q=0.9", "1,234,567"),
            ("de-DE,de;q=0.9,en;q=0.8", "1.234.567"),
            ("de-CH", "1’234’567"),
            ("fr-FR,fr;q=0.9", "1\u{202f}234\u{202f}567"),
            ("pt-BR", "1.234.567"),
            ("", "1,234,567"),
            ("*", "1,234,567"),
        ];
        for (header, shown) in cases {
            assert_eq!(
                Grouping::from_accept_language(header).count(1_234_567),
                shown,
                "{header}"
            );
        }
        assert_eq!(Grouping::Comma.count(-2_000), "-2,000");
        assert_eq!(Grouping::Period.count(999), "999");
        assert_eq!(Grouping::Comma.count(0), "0");
    }
}
