//! Diagnostics shared by both configuration paths (the config file with its flags and
//! environment, and the web config file): one [`Problem`] type naming a key, where its value
//! came from and what is wrong; a [`Problems`] collector so that every problem is reported at
//! once; and the bounded read of the files an operator names, with the nesting guard in front
//! of every YAML or TOML parser.
//!
//! Reading: only regular files, and at most a limit's bytes. A FIFO would block start-up or a
//! reload until someone writes to it, and a symlink to `/dev/zero` reports size 0 while it
//! never ends: both are refused before a byte is read, and whatever is read stops at the limit.
//! A parser's time grows fast with the depth of nesting, so a text nested deeper than
//! [`MAX_NESTING`] is refused before any parser sees it.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// The file's bytes, or what is wrong with it (to follow "`path` ..."): not there, not a
/// regular file, or larger than `max` bytes.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let regular = |metadata: &std::fs::Metadata| -> Result<(), String> {
        let kind = metadata.file_type();
        if kind.is_file() {
            return Ok(());
        }
        let what = if kind.is_dir() {
            "a directory"
        } else {
            use std::os::unix::fs::FileTypeExt;
            if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_char_device() || kind.is_block_device() {
                "a device"
            } else if kind.is_socket() {
                "a socket"
            } else {
                "not a regular file"
            }
        };
        Err(format!(
            "is {what}, not a regular file; name the file itself"
        ))
    };
    // Followed through symlinks, as the open below is; looked at before opening, since opening
    // a FIFO for reading waits for a writer.
    let metadata = std::fs::metadata(path).map_err(|err| format!("cannot be read: {err}"))?;
    regular(&metadata)?;
    if metadata.len() > max {
        return Err(format!(
            "is {} bytes; at most {max} are read",
            metadata.len()
        ));
    }
    let file = std::fs::File::open(path).map_err(|err| format!("cannot be read: {err}"))?;
    // The file itself now, in case the path was swapped between the look and the open.
    regular(
        &file
            .metadata()
            .map_err(|err| format!("cannot be read: {err}"))?,
    )?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot be read: {err}"))?;
    if bytes.len() as u64 > max {
        return Err(format!("grew past {max} bytes while it was read"));
    }
    Ok(bytes)
}

/// One problem with one key: the unit every configuration error is reported in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key, e.g. `refresh.interval` or `tls_server_config.min_version`.
    pub key: String,
    /// Where the value came from, e.g. "environment variable `IAM_KEY_EXPORTER_...`"; `None`
    /// when the key has one source (the web config file) or the problem is about a whole entry.
    pub origin: Option<String>,
    /// What is wrong and what would be right.
    pub message: String,
}

impl Problem {
    /// A problem with `key`, from no particular origin.
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            key: key.into(),
            origin: None,
            message: message.into(),
        }
    }

    /// The same problem, saying where the value came from.
    #[allow(dead_code)] // for the config path's checks, which build their problems whole today
    pub(crate) fn with_origin(mut self, origin: Option<String>) -> Problem {
        self.origin = origin;
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.key)?;
        if let Some(origin) = &self.origin {
            write!(f, " (from {origin})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found so far; a check goes on after a problem so that the user sees them all.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    /// Records a problem.
    pub(crate) fn push(&mut self, problem: Problem) {
        self.0.push(problem);
    }

    /// Records that `key` was `given` where `expected` would be right.
    pub(crate) fn expected(
        &mut self,
        key: &str,
        origin: Option<String>,
        given: &str,
        expected: &str,
    ) {
        self.push(
            Problem::new(key, format!("expected {expected}, got `{given}`")).with_origin(origin),
        );
    }

    /// Records every problem of `more`.
    #[allow(dead_code)] // for the config path's checks, which keep their own list today
    pub(crate) fn extend(&mut self, more: impl IntoIterator<Item = Problem>) {
        self.0.extend(more);
    }

    #[allow(dead_code)] // for the config path's checks, which keep their own list today
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, else every problem.
    pub(crate) fn into_result<T>(self, value: T) -> Result<T, Vec<Problem>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }

    #[allow(dead_code)] // for the config path's checks, which keep their own list today
    pub(crate) fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}

/// The largest configuration file read, on either path: far above any real one (inline
/// certificates make a web config file a few kilobytes), far below what would hurt.
pub(crate) const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// The deepest nesting of `[` and `{` a configuration file may have; the parsers take time that
/// grows fast with depth, and no real configuration nests more than three levels.
pub(crate) const MAX_NESTING: usize = 32;

/// A configuration file's text, read with [`read_bounded`], as UTF-8, and refused when nested
/// deeper than [`MAX_NESTING`]; the error follows "`path` ...".
pub(crate) fn read_config_text(path: &Path, max: u64) -> Result<String, String> {
    let bytes = read_bounded(path, max)?;
    let text =
        String::from_utf8(bytes).map_err(|err| format!("cannot be read as UTF-8 text: {err}"))?;
    if nesting(&text) > MAX_NESTING {
        return Err(format!(
            "nests `[` or `{{` more than {MAX_NESTING} levels deep; a configuration needs three"
        ));
    }
    Ok(text)
}

/// The deepest nesting of brackets and braces outside quoted strings and comments (YAML's and
/// TOML's flow collections and arrays; block nesting in YAML is bounded by the size limit).
pub(crate) fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut escaped = false;
    for c in text.chars() {
        if comment {
            comment = c != '\n';
            continue;
        }
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '#' => comment = true,
                '[' | '{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    deepest
}

/// The shapes a configuration value can take, whichever parser read it, named in words for
/// "expected a mapping, got a list".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Null,
    Bool,
    Number,
    Text,
    /// A scalar whose type the layer does not say (figment's merged values).
    Scalar,
    List,
    /// YAML's name for a nested section.
    Mapping,
    /// TOML's name for a nested section.
    Table,
    Tagged,
}

impl Shape {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Shape::Null => "nothing",
            Shape::Bool => "a boolean",
            Shape::Number => "a number",
            Shape::Text => "text",
            Shape::Scalar => "a single value",
            Shape::List => "a list",
            Shape::Mapping => "a mapping",
            Shape::Table => "a table",
            Shape::Tagged => "a tagged value",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_directories_and_large_files_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(read_bounded(&zero, 1024).unwrap_err().contains("a device"));
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(read_bounded(&fifo, 1024).unwrap_err().contains("a FIFO"));
        assert!(read_bounded(dir.path(), 1024)
            .unwrap_err()
            .contains("a directory"));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 2048]).unwrap();
        assert!(read_bounded(&big, 1024).unwrap_err().contains("2048 bytes"));
        assert_eq!(read_bounded(&big, 4096).unwrap().len(), 2048);
        assert!(read_bounded(&dir.path().join("none"), 1)
            .unwrap_err()
            .contains("cannot be read"));
    }

    #[test]
    fn deep_nesting_is_refused_before_a_parser_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("deep.yml");
        std::fs::write(&deep, format!("a: {}{}", "[".repeat(40), "]".repeat(40))).unwrap();
        let err = read_config_text(&deep, 1 << 20).unwrap_err();
        assert!(err.contains("levels deep"), "{err}");
        // Brackets in strings and comments are text, not nesting.
        let quoted = dir.path().join("quoted.yml");
        let text = format!(
            "a: \"{}\" # {}\nb: '{}'\n",
            "[".repeat(40),
            "{".repeat(40),
            "[".repeat(40)
        );
        std::fs::write(&quoted, &text).unwrap();
        assert_eq!(read_config_text(&quoted, 1 << 20).unwrap(), text);
    }

    #[test]
    fn a_problem_names_its_key_and_origin() {
        let problem = Problem::new("refresh.interval", "expected a duration")
            .with_origin(Some("flag `--refresh.interval`".to_owned()));
        assert_eq!(
            problem.to_string(),
            "`refresh.interval` (from flag `--refresh.interval`): expected a duration"
        );
        let mut problems = Problems::default();
        assert!(problems.is_empty());
        problems.expected("a.b", None, "x", "a number");
        assert_eq!(
            problems.into_result(()).unwrap_err(),
            vec![Problem::new("a.b", "expected a number, got `x`")]
        );
    }
}
