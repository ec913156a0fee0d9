//! Error reporting shared by every layer.

use std::error::Error as StdError;

/// The most of one cause's text an error chain carries: AWS's messages are a sentence, and a
/// hostile endpoint's 30 MB message must not become a 30 MB log line.
const MAX_CAUSE: usize = 1024;

/// The most of a whole chain.
const MAX_CHAIN: usize = 4096;

/// Formats an error with its whole cause chain: `outer: cause: root cause`, each cause and the
/// whole bounded ([`bounded`]).
pub(crate) fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = bounded(&err.to_string(), MAX_CAUSE);
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = bounded(&cause.to_string(), MAX_CAUSE);
        // The SDK's wrappers often repeat their inner error's text; say each thing once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        if text.len() > MAX_CHAIN {
            return bounded(&text, MAX_CHAIN);
        }
        source = cause.source();
    }
    text
}

/// `text` cut to at most `max` bytes on a character boundary, saying how much was left out.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} more bytes)", &text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_bounded_on_a_character_boundary() {
        assert_eq!(bounded("short", 10), "short");
        let cut = bounded(&"é".repeat(100), 5);
        assert_eq!(cut, "éé... (196 more bytes)");
        let huge = std::io::Error::other("x".repeat(30 << 20));
        assert!(error_chain(&huge).len() < 1100);
    }
}
