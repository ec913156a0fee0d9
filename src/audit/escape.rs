//! Escaping of what the endpoint sent: quoted before it reaches a shell (the commands a person
//! pastes), escaped before it reaches a terminal (table cells, the JSON shown in one).

/// The command that deactivates a key, safe to paste into a POSIX shell whatever the endpoint
/// sent: every value is given as `--option=VALUE` (so a name starting with `-` is never taken
/// for an option) and quoted for the shell when it holds anything but plain characters. A name
/// or ID holding a control or bidirectional character (which IAM never sends: such an answer is
/// refused as malformed before it gets here) is not made into a command at all.
pub(crate) fn deactivate_command(user: &str, key_id: &str) -> String {
    match (shell_quote(user), shell_quote(key_id)) {
        (Some(user), Some(key)) => format!(
            "aws iam update-access-key --user-name={user} --access-key-id={key} --status Inactive"
        ),
        _ => format!(
            "# not printed: the user name or key ID holds control or bidirectional characters \
             ({} / {})",
            cell(user),
            cell(key_id)
        ),
    }
}

/// Quotes `text` as one POSIX shell word: as it is when every character is plain (IAM names
/// mostly are), in single quotes otherwise (`'` written as `'\''`); `None` when it holds a
/// character that must never reach a terminal or a shell raw ([`is_unsafe`]).
pub(crate) fn shell_quote(text: &str) -> Option<String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_+=,.@/:-".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return Some(text.to_owned());
    }
    if text.chars().any(is_unsafe) {
        return None;
    }
    Some(format!("'{}'", text.replace('\'', r"'\''")))
}

/// Characters never shown raw: controls (C0, DEL, C1), and the invisible ones that reorder or
/// hide text (zero-width, bidirectional overrides and isolates, line and paragraph separators,
/// the byte-order mark), with which a name could be shown reversed or pass for another.
pub(crate) fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A table cell: unsafe characters ([`is_unsafe`]) escaped, so a name cannot split a row, move
/// the terminal's cursor, or be shown reversed.
pub(crate) fn cell(text: &str) -> String {
    if text.chars().any(is_unsafe) {
        text.chars()
            .map(|c| {
                if is_unsafe(c) {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        text.to_owned()
    }
}

/// JSON for people and tools alike: pretty, with every unsafe character ([`is_unsafe`]) in
/// strings written as a `\uXXXX` escape (serde_json escapes only C0 controls, quotes and
/// backslashes), so a report shown in a terminal cannot reorder or hide text.
pub(crate) fn json_text(value: &serde_json::Value) -> String {
    let mut out = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, SafeFormatter(Default::default()));
    if serde::Serialize::serialize(value, &mut serializer).is_err() {
        return format!("{value:#}");
    }
    String::from_utf8(out).unwrap_or_else(|_| format!("{value:#}"))
}

/// serde_json's pretty formatter, escaping unsafe characters in strings.
struct SafeFormatter(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        for c in fragment.chars() {
            if is_unsafe(c) {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            } else {
                let mut bytes = [0u8; 4];
                writer.write_all(c.encode_utf8(&mut bytes).as_bytes())?;
            }
        }
        Ok(())
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_quotes_the_user_name() {
        assert_eq!(
            deactivate_command("a+b=c,d.e@f_g-h", "AKIA1"),
            "aws iam update-access-key --user-name=a+b=c,d.e@f_g-h --access-key-id=AKIA1 --status Inactive"
        );
        assert_eq!(
            deactivate_command("-rf", "AKIA1"),
            "aws iam update-access-key --user-name=-rf --access-key-id=AKIA1 --status Inactive"
        );
    }

    /// What the endpoint sends is not trusted: quotes, spaces, `$(...)`, newlines and escape
    /// sequences all come out as one inert shell word on one line.
    #[test]
    fn hostile_names_are_quoted_into_one_inert_word() {
        assert_eq!(shell_quote("it's").unwrap(), r"'it'\''s'");
        assert_eq!(shell_quote("$(touch x) y").unwrap(), "'$(touch x) y'");
        assert_eq!(
            shell_quote("a\nb'c\x1b"),
            None,
            "never a raw control character"
        );
        assert_eq!(
            shell_quote("ali\u{202e}ce"),
            None,
            "never a raw right-to-left override"
        );
        assert_eq!(shell_quote("").unwrap(), "''");
        let command = deactivate_command("x'; touch /tmp/pwned; '\n", "AKIA\r");
        assert_eq!(command.lines().count(), 1, "{command}");
        assert!(!command.chars().any(char::is_control), "{command}");
        assert_eq!(cell("a\nb\tc"), r"a\nb\tc");
        assert_eq!(cell("ali\u{202e}ce\u{200b}"), r"ali\u{202e}ce\u{200b}");
        let json = json_text(&serde_json::json!({"user": "a\u{202e}\u{0085}\u{7f}b", "n": [1]}));
        assert!(json.contains(r#""a\u202e\u0085\u007fb""#), "{json}");
        assert!(
            json.contains("\n  \"n\": [\n    1\n  ]"),
            "still pretty: {json}"
        );
    }
}
