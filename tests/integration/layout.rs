//! The code is held to what the docs say of it: the module layout `src/lib.rs` documents (every
//! module imports only modules documented before it, so there is no import cycle), and the IAM
//! policies of `deploy/iam/`, which allow exactly the AWS calls the code makes.
//!
//! The module layout that `src/lib.rs` documents is the one the code has: every module imports
//! only modules documented before it, so there is no import cycle.

use std::collections::BTreeMap;
use std::path::Path;

use crate::helpers::project_dir;

/// Each top-level module's rank: the number of the item of `lib.rs`'s "# Layout" list that
/// names it in backticks.
fn documented_ranks(lib: &str, modules: &[String]) -> BTreeMap<String, usize> {
    let layout = &lib[lib.find("# Layout").expect("lib.rs has a Layout section")..];
    let mut ranks = BTreeMap::new();
    let mut rank = 0;
    for line in layout.lines() {
        let text = line.trim_start_matches("//!").trim();
        if let Some((number, _)) = text.split_once(". ") {
            if let Ok(n) = number.parse::<usize>() {
                rank = n;
            }
        }
        let mut rest = text;
        while let Some(start) = rest.find('`') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('`') else { break };
            let name = &after[..end];
            let linked = rest[..start].ends_with('[');
            if rank > 0 && !linked && modules.iter().any(|m| m == name) {
                ranks.entry(name.to_owned()).or_insert(rank);
            }
            rest = &after[end + 1..];
        }
    }
    ranks
}

/// Top-level module -> the other top-level modules its files name as `crate::X`.
fn imports(src: &Path) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(src).unwrap();
            let first = relative.components().next().unwrap();
            let module = first
                .as_os_str()
                .to_str()
                .unwrap()
                .trim_end_matches(".rs")
                .to_owned();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // `crate::X` and the `crate::{X, Y}` form.
            let mut named = Vec::new();
            for (at, _) in text.match_indices("crate::") {
                let rest = &text[at + "crate::".len()..];
                let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                    group[..group.find('}').unwrap()]
                        .split(',')
                        .map(|part| part.trim().split("::").next().unwrap())
                        .collect()
                } else {
                    vec![rest
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .next()
                        .unwrap()]
                };
                named.extend(names.into_iter().map(str::to_owned));
            }
            let entry = found.entry(module.clone()).or_default();
            for name in named {
                if name != module && !name.is_empty() && !entry.contains(&name) {
                    entry.push(name);
                }
            }
        }
    }
    found
}

#[test]
fn modules_import_only_the_layers_documented_before_them() {
    let root = project_dir();
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let graph = imports(&root.join("src"));
    let modules: Vec<String> = graph.keys().cloned().collect();
    assert!(modules.len() >= 10, "found the modules: {modules:?}");
    let ranks = documented_ranks(&lib, &modules);
    for module in &modules {
        assert!(
            ranks.contains_key(module),
            "module `{module}` is missing from lib.rs's Layout section"
        );
    }
    let mut wrong = Vec::new();
    for (module, imported) in &graph {
        for other in imported {
            let Some(&other_rank) = ranks.get(other) else {
                continue; // not a module of ours (e.g. `crate::Error` re-exported at the root)
            };
            if other_rank >= ranks[module] {
                wrong.push(format!(
                    "`{module}` (item {}) imports `{other}` (item {other_rank})",
                    ranks[module]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the documented layout:\n{}",
        wrong.join("\n")
    );
}

/// The AWS operations the code sends (`const OP: &str = "..."` in `src/aws/`), by file.
fn operations(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(project_dir().join("src/aws").join(file)).unwrap();
    text.match_indices("const OP: &str = \"")
        .map(|(at, prefix)| {
            let rest = &text[at + prefix.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// The actions a policy file allows.
fn allowed(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(project_dir().join("deploy/iam").join(file)).unwrap();
    let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut actions = Vec::new();
    for statement in policy["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow", "{file}");
        match &statement["Action"] {
            serde_json::Value::String(one) => actions.push(one.clone()),
            serde_json::Value::Array(many) => {
                actions.extend(many.iter().map(|a| a.as_str().unwrap().to_owned()))
            }
            other => panic!("{file}: unexpected Action {other}"),
        }
    }
    actions.sort();
    actions
}

/// Least privilege, held to the code: each policy allows exactly the operations the code
/// sends with the credentials it is for (no more, so nothing unused is granted; no less, so
/// nothing fails in production for want of a permission).
#[test]
fn the_iam_policies_allow_exactly_the_calls_the_code_makes() {
    let mut read: Vec<String> = operations("mod.rs")
        .into_iter()
        .map(|op| match op.as_str() {
            "GetCallerIdentity" => format!("sts:{op}"),
            _ => format!("iam:{op}"),
        })
        .collect();
    // Who created an offender's key, with the account's own read-only credentials.
    let trail = operations("cloudtrail.rs");
    assert_eq!(trail, ["LookupEvents"]);
    read.extend(trail.iter().map(|op| format!("cloudtrail:{op}")));
    read.sort();
    assert!(read.len() >= 8, "{read:?}");
    assert_eq!(allowed("iam-key-exporter-policy.json"), read);
    assert!(
        !read
            .iter()
            .any(|op| op.starts_with("iam:Update") || op.starts_with("iam:Delete")),
        "the read-only policy grants no write: {read:?}"
    );

    // `remediate` adds its one write, in a policy of its own, beside the read-only one.
    let write: Vec<String> = operations("write.rs")
        .into_iter()
        .map(|op| format!("iam:{op}"))
        .collect();
    assert_eq!(write, ["iam:UpdateAccessKey"]);
    assert_eq!(allowed("iam-key-exporter-remediation-policy.json"), write);

    let mut discovery: Vec<String> = operations("organizations.rs")
        .into_iter()
        .map(|op| format!("organizations:{op}"))
        .collect();
    discovery.sort();
    assert_eq!(discovery.len(), 3, "{discovery:?}");
    assert_eq!(allowed("organizations-discovery-policy.json"), discovery);

    // The events consumer reads its queue with the exporter's own credentials.
    let mut events: Vec<String> = operations("sqs.rs")
        .into_iter()
        .map(|op| format!("sqs:{op}"))
        .collect();
    events.sort();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(allowed("iam-key-exporter-events-policy.json"), events);

    // Roles are assumed by the SDK's provider, not an `OP` of ours: AssumeRole, and TagSession
    // for the transitive session tags of EKS Pod Identity.
    assert_eq!(
        allowed("exporter-assume-role-policy.json"),
        ["sts:AssumeRole", "sts:TagSession"]
    );
}

/// The most lines a file of `src/` may have, and a function.
const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;

/// Functions allowed to be longer, each with why; empty today, and meant to stay short.
const LONG_FNS_KEPT: &[(&str, &str, &str)] = &[];

/// The text with the insides of strings, characters and comments blanked (newlines kept), so
/// that braces in them do not count.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                out.push(blank(chars[i]));
                i += 1;
            }
            out.push_str("  ");
            i += 2;
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            chars.get(i + 1 + hashes) == Some(&'"')
        } {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            let close: String = std::iter::once('"')
                .chain("#".repeat(hashes).chars())
                .collect();
            out.push('"');
            i += 2 + hashes;
            while i < chars.len() && !chars[i..].iter().collect::<String>().starts_with(&close) {
                out.push(blank(chars[i]));
                i += 1;
            }
            out.push('"');
            i += close.chars().count();
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let skip = if chars[i] == '\\' { 2 } else { 1 };
                for _ in 0..skip.min(chars.len() - i) {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // An escaped character literal: up to its closing quote.
            out.push(' ');
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Each `fn` of the text with its length in lines, from its signature to its closing brace.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(fn_at) = words.iter().position(|w| *w == "fn") else {
            continue;
        };
        let qualifiers = [
            "pub",
            "pub(crate)",
            "pub(super)",
            "async",
            "const",
            "unsafe",
        ];
        if !words[..fn_at].iter().all(|w| qualifiers.contains(w)) {
            continue;
        }
        let name: String = words
            .get(fn_at + 1)
            .map(|w| {
                w.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect()
            })
            .unwrap_or_default();
        let (mut depth, mut opened) = (0i64, false);
        for (end, body) in lines.iter().enumerate().skip(at) {
            if !opened && body.contains(';') && !body.contains('{') {
                break; // a declaration without a body
            }
            for c in body.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth <= 0 {
                found.push((name.clone(), at + 1, end - at + 1));
                break;
            }
        }
    }
    found
}

/// Small enough to read: no file of `src/` over [`MAX_FILE_LINES`], no function over
/// [`MAX_FN_LINES`] (tests included), but for the few kept with their reasons.
#[test]
fn files_and_functions_stay_small_enough_to_read() {
    let src = project_dir().join("src");
    let mut stack = vec![src.clone()];
    let mut too_long = Vec::new();
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            files += 1;
            let relative = path.strip_prefix(&src).unwrap().display().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let lines = text.lines().count();
            if lines > MAX_FILE_LINES {
                too_long.push(format!("src/{relative}: {lines} lines"));
            }
            for (name, line, length) in functions(&code_only(&text)) {
                let kept = LONG_FNS_KEPT
                    .iter()
                    .any(|(file, kept, _)| *file == relative && *kept == name);
                if length > MAX_FN_LINES && !kept {
                    too_long.push(format!("src/{relative}:{line}: fn {name}: {length} lines"));
                }
            }
        }
    }
    assert!(files >= 40, "found {files} files");
    assert!(
        too_long.is_empty(),
        "longer than {MAX_FILE_LINES} lines a file or {MAX_FN_LINES} a fn:\n{}",
        too_long.join("\n")
    );
}

/// The measure itself: braces in strings, characters and comments do not count.
#[test]
fn function_lengths_count_code_not_strings() {
    let text = "fn a() {\n    let s = \"{{\";\n    let c = '{';\n    // {\n}\nfn b() -> u8 {\n    let r = r#\"}\"#;\n    1\n}\n";
    let found = functions(&code_only(text));
    assert_eq!(
        found,
        [("a".to_owned(), 1, 5), ("b".to_owned(), 6, 4)],
        "{}",
        code_only(text)
    );
}
