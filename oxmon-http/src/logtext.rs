//! Untrusted text made safe for a log line.

use std::fmt::Write as _;

/// Longest part of an untrusted value written to the log, in characters.
pub(crate) const MAX_LOGGED_CHARS: usize = 64;

/// `text` as it may appear in a log line: control characters (newline,
/// carriage return, ESC, ...), backslashes and Unicode bidi/format controls
/// escaped as `\n`, `\u{1b}` and so on, cut after [`MAX_LOGGED_CHARS`]
/// characters with a note of how much was left out. A client cannot forge
/// a line, colour the terminal or flood the log through it.
pub(crate) fn escape_for_log(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_LOGGED_CHARS * 2));
    for (n, c) in text.chars().enumerate() {
        if n == MAX_LOGGED_CHARS {
            let rest = text.chars().count() - n;
            let _ = write!(out, "... ({rest} more characters)");
            break;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || is_format_control(c) => {
                let _ = write!(out, "{}", c.escape_default());
            }
            c => out.push(c),
        }
    }
    out
}

/// Invisible characters that reorder or hide text (bidi overrides, zero
/// widths, line and paragraph separators).
fn is_format_control(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_forge_a_line() {
        let forged = "admin\n2026-02-08T10:00:00Z INFO login ok\u{1b}[2J\r\u{202e}";
        let out = escape_for_log(forged);
        assert!(!out.chars().any(|c| c.is_control()), "{out}");
        assert!(out.starts_with("admin\\n2026"), "{out}");
        assert!(out.contains("\\u{1b}[2J\\r\\u{202e}"), "{out}");
        assert_eq!(escape_for_log("a\\nb"), "a\\\\nb");
        assert_eq!(escape_for_log("élodie"), "élodie");
    }

    #[test]
    fn long_text_is_cut() {
        let out = escape_for_log(&"x".repeat(10_000));
        assert!(out.starts_with(&"x".repeat(MAX_LOGGED_CHARS)));
        assert!(out.ends_with("... (9936 more characters)"), "{out}");
    }
}
