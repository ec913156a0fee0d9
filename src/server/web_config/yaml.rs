//! Reading `serde_yaml` values into diagnostics' [`Problems`]: mappings, single values as text,
//! and the problem of an unknown key, each shape named in words.

use serde_yaml::{Mapping, Value};

use crate::diagnostics::{Problem, Problems, Shape};

/// The entries of a mapping, or nothing (and a problem) for anything else; `null` (an empty
/// section) is an empty mapping.
pub(super) fn mapping<'v>(
    p: &mut Problems,
    key: &str,
    value: &'v Value,
) -> Vec<(String, &'v Value)> {
    match value {
        Value::Null => Vec::new(),
        Value::Mapping(mapping) => entries(p, key, mapping),
        other => {
            p.push(Problem::new(
                key,
                format!("expected a mapping of keys, got {}", shape(other).name()),
            ));
            Vec::new()
        }
    }
}

fn entries<'v>(p: &mut Problems, key: &str, mapping: &'v Mapping) -> Vec<(String, &'v Value)> {
    let mut entries = Vec::new();
    for (name, value) in mapping {
        match scalar_text(name) {
            Some(name) => entries.push((name, value)),
            None => p.push(Problem::new(
                key,
                format!("a key is {}, not a name", shape(name).name()),
            )),
        }
    }
    entries
}

/// A single value as text; `Ok(None)` for `null` or an empty string (unset, as in
/// exporter-toolkit); `Err` (with a problem recorded) for a value of the wrong shape.
pub(super) fn text(p: &mut Problems, key: &str, value: &Value) -> Result<Option<String>, ()> {
    match value {
        Value::Null => Ok(None),
        Value::Mapping(_) | Value::Sequence(_) | Value::Tagged(_) => {
            p.push(Problem::new(
                key,
                format!(
                    "expected a single value (text), got {}",
                    shape(value).name()
                ),
            ));
            Err(())
        }
        other => Ok(scalar_text(other).filter(|text| !text.is_empty())),
    }
}

pub(super) fn fail(p: &mut Problems, key: &str, message: impl Into<String>) {
    p.push(Problem::new(key, message));
}

pub(super) fn unknown(p: &mut Problems, key: &str, allowed: &[&str]) {
    p.push(Problem::new(
        key,
        format!("unknown key; allowed here: {}", allowed.join(", ")),
    ));
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

pub(super) fn shape(value: &Value) -> Shape {
    match value {
        Value::Null => Shape::Null,
        Value::Bool(_) => Shape::Bool,
        Value::Number(_) => Shape::Number,
        Value::String(_) => Shape::Text,
        Value::Sequence(_) => Shape::List,
        Value::Mapping(_) => Shape::Mapping,
        Value::Tagged(_) => Shape::Tagged,
    }
}
