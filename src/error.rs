//! Error reporting shared by every layer.

use std::error::Error as StdError;

/// Formats an error with its whole cause chain: `outer: cause: root cause`.
pub(crate) fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // The SDK's wrappers often repeat their inner error's text; say each thing once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
