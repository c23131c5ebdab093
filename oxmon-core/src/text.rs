//! Untrusted text on its way into a log line or an error message.
//!
//! An agent id, a user name or a label comes from a client; written raw, a
//! newline and an escape sequence forge a log line or repaint a terminal,
//! and a megabyte of it floods the log. [`untrusted`] shows such text
//! escaped and cut short, without copying it.

use std::fmt;

/// Characters of untrusted text shown before it is cut.
pub const MAX_SHOWN_CHARS: usize = 64;

/// Untrusted text for display: see [`untrusted`].
#[derive(Clone, Copy)]
pub struct Untrusted<'a>(&'a str);

/// Displays `s` with control, format and non-ASCII whitespace characters
/// escaped (`\n`, `\u{1b}`, ...), at most [`MAX_SHOWN_CHARS`] characters,
/// followed by `…(N bytes)` when longer.
pub fn untrusted(s: &str) -> Untrusted<'_> {
    Untrusted(s)
}

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.chars().enumerate() {
            if i == MAX_SHOWN_CHARS {
                return write!(f, "…({} bytes)", self.0.len());
            }
            if c.is_control() || (c.is_whitespace() && c != ' ') || is_format(c) || c == '\\' {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_fmt(format_args!("{c}"))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Invisible characters that reorder or hide text (bidirectional overrides,
/// zero-width characters).
fn is_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        let forged = "web-1\n2026-01-01T00:00:00Z INFO admin logged in\u{1b}[2J";
        let shown = untrusted(forged).to_string();
        assert!(!shown.contains('\n'));
        assert!(!shown.contains('\u{1b}'));
        assert!(shown.starts_with("web-1\\n2026"), "{shown}");
        assert!(shown.contains("\\u{1b}"), "{shown}");
    }

    #[test]
    fn long_text_is_cut_with_its_length() {
        let long = "a".repeat(8 * 1024 * 1024);
        let shown = untrusted(&long).to_string();
        assert!(shown.len() < 100, "{}", shown.len());
        assert!(shown.ends_with("…(8388608 bytes)"), "{shown}");
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        assert_eq!(untrusted("web-01.prod").to_string(), "web-01.prod");
        assert_eq!(untrusted("磁盘 使用率").to_string(), "磁盘 使用率");
        assert_eq!(untrusted("a\\b").to_string(), "a\\\\b");
        assert_eq!(untrusted("x\u{202e}y").to_string(), "x\\u{202e}y");
    }
}
