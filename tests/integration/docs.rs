//! The docs held to the code and to each other: the permission lists to the policies and to the
//! calls the code sends, the alert tables to the rules, the benchmark index to the benches, the
//! module list to `src/lib.rs`, and every relative link (and `#anchor`) to a file and a heading
//! that exist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::helpers::project_dir;

fn read(path: &str) -> String {
    std::fs::read_to_string(project_dir().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The text of `doc` from the heading line `heading` to the next heading of the same or a
/// higher level.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let level = heading.chars().take_while(|&c| c == '#').count();
    let start = doc
        .lines()
        .position(|line| line == heading)
        .unwrap_or_else(|| panic!("no heading `{heading}`"));
    let lines: Vec<&str> = doc.lines().collect();
    let mut end = lines.len();
    for (at, line) in lines.iter().enumerate().skip(start + 1) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if hashes > 0 && hashes <= level && line[hashes..].starts_with(' ') {
            end = at;
            break;
        }
    }
    let from = lines[..start].iter().map(|l| l.len() + 1).sum::<usize>();
    let to = lines[..end].iter().map(|l| l.len() + 1).sum::<usize>();
    &doc[from..to.min(doc.len())]
}

/// The first cell of each table row, without its backticks or link, where it is code.
fn first_cells(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("|---"))
        .filter_map(|line| {
            let cell = line[2..].split(" | ").next().unwrap().trim();
            let cell = cell.trim_start_matches('[');
            let code = cell.strip_prefix('`')?;
            Some(code[..code.find('`').unwrap()].to_owned())
        })
        .collect()
}

/// Every `service:Action` named in code spans of `text`.
fn actions_named(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| {
            span.split_once(':').is_some_and(|(service, action)| {
                !service.is_empty()
                    && service.chars().all(|c| c.is_ascii_lowercase())
                    && action.starts_with(|c: char| c.is_ascii_uppercase())
                    && action.chars().all(|c| c.is_ascii_alphanumeric())
            })
        })
        .map(str::to_owned)
        .collect()
}

/// The actions a policy file of `deploy/iam/` allows.
fn allowed(file: &str) -> BTreeSet<String> {
    let policy: serde_json::Value = serde_json::from_str(&read(&format!("deploy/iam/{file}")))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut actions = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        match &statement["Action"] {
            serde_json::Value::String(one) => {
                actions.insert(one.clone());
            }
            serde_json::Value::Array(many) => {
                actions.extend(many.iter().map(|a| a.as_str().unwrap().to_owned()))
            }
            other => panic!("{file}: unexpected Action {other}"),
        }
    }
    actions
}

/// Which credentials send an operation of `src/aws/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Credentials {
    /// The account's read-only credentials (the exporter's own, or an audit role's).
    ReadOnly,
    /// `remediate --apply`'s role.
    Remediation,
    /// The exporter's role, in the organization's management account.
    Discovery,
    /// The exporter's role, on its events queue.
    Events,
}

/// Every operation the code sends (`const OP: &str = "..."` anywhere under `src/aws/`), as IAM
/// names the action, by the credentials it is sent with. The service comes from the file's
/// name: `cloudtrail`, `organizations`, `sqs`; STS's one call by name; IAM otherwise.
fn operations() -> BTreeMap<Credentials, BTreeSet<String>> {
    let mut files = Vec::new();
    let mut dirs = vec![project_dir().join("src/aws")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut by = BTreeMap::<Credentials, BTreeSet<String>>::new();
    for file in files {
        let stem = file.file_stem().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, prefix) in text.match_indices("const OP: &str = \"") {
            let rest = &text[at + prefix.len()..];
            let op = &rest[..rest.find('"').unwrap()];
            let (credentials, action) = match (stem.as_str(), op) {
                ("cloudtrail", _) => (Credentials::ReadOnly, format!("cloudtrail:{op}")),
                ("organizations", _) => (Credentials::Discovery, format!("organizations:{op}")),
                ("sqs", _) => (Credentials::Events, format!("sqs:{op}")),
                ("write", _) => (Credentials::Remediation, format!("iam:{op}")),
                (_, "GetCallerIdentity") => (Credentials::ReadOnly, format!("sts:{op}")),
                _ => (Credentials::ReadOnly, format!("iam:{op}")),
            };
            by.entry(credentials).or_default().insert(action);
        }
    }
    by
}

/// The README's quick start for one account lists exactly the read-only policy's actions, and
/// those are exactly the calls the code sends with those credentials.
#[test]
fn the_readme_lists_exactly_the_permissions_of_the_policy_and_the_code() {
    let ops = operations();
    let policy = allowed("iam-key-exporter-policy.json");
    assert_eq!(
        policy,
        ops[&Credentials::ReadOnly],
        "the policy against the code"
    );
    assert!(policy.contains("iam:ListUserTags") && policy.contains("cloudtrail:LookupEvents"));
    let readme = read("README.md");
    let quick_start = section(&readme, "## Quick start: one real AWS account");
    assert!(quick_start.contains("deploy/iam/iam-key-exporter-policy.json"));
    assert_eq!(
        actions_named(quick_start),
        policy,
        "the README's permission list against deploy/iam/iam-key-exporter-policy.json"
    );
}

/// Each table of deploy/iam/README.md names exactly the actions of its policy file, and those
/// are the calls the code sends with those credentials; every policy file is in the file table.
#[test]
fn deploy_iam_readme_tables_name_exactly_each_policys_actions() {
    let doc = read("deploy/iam/README.md");
    let ops = operations();
    for (heading, file, credentials) in [
        (
            "## The read-only policy",
            "iam-key-exporter-policy.json",
            Credentials::ReadOnly,
        ),
        (
            "## The events policy",
            "iam-key-exporter-events-policy.json",
            Credentials::Events,
        ),
        (
            "## The remediation policy",
            "iam-key-exporter-remediation-policy.json",
            Credentials::Remediation,
        ),
        (
            "## A whole organization",
            "organizations-discovery-policy.json",
            Credentials::Discovery,
        ),
    ] {
        let table: BTreeSet<String> = first_cells(section(&doc, heading)).into_iter().collect();
        assert_eq!(table, allowed(file), "{heading} against {file}");
        assert_eq!(table, ops[&credentials], "{heading} against the code");
    }
    for entry in std::fs::read_dir(project_dir().join("deploy/iam")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".json") || name.ends_with(".yaml") {
            assert!(
                doc.contains(&format!("[`{name}`]({name})")),
                "deploy/iam/README.md's file table lacks {name}"
            );
        }
    }
}

/// Each rule of the rules file: its name, severity and runbook anchor.
fn rules() -> BTreeMap<String, (String, String)> {
    let file: serde_yaml::Value =
        serde_yaml::from_str(&read("deploy/prometheus/iam-key-exporter.rules.yml")).unwrap();
    let mut rules = BTreeMap::new();
    for group in file["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let Some(name) = rule["alert"].as_str() else {
                continue;
            };
            let severity = rule["labels"]["severity"].as_str().unwrap().to_owned();
            let url = rule["annotations"]["runbook_url"].as_str().unwrap();
            let anchor = url.rsplit_once('#').unwrap().1.to_owned();
            rules.insert(name.to_owned(), (severity, anchor));
        }
    }
    rules
}

/// The rows of an alert table: the alert, its severity (second cell) and its link, if any.
fn alert_rows(table: &str) -> BTreeMap<String, (String, Option<String>)> {
    let mut rows = BTreeMap::new();
    for line in table.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line[2..].split(" | ").map(str::trim).collect();
        let first = cells[0];
        let (name, link) = match first.strip_prefix('[') {
            Some(linked) => {
                let (name, rest) = linked.split_once("](").unwrap();
                (name.trim_matches('`'), Some(rest.trim_end_matches(')')))
            }
            None => (first.trim_matches('`'), None),
        };
        if name.starts_with("IAM") {
            let row = (cells[1].to_owned(), link.map(str::to_owned));
            assert!(rows.insert(name.to_owned(), row).is_none(), "{name} twice");
        }
    }
    rows
}

/// The README's alert table and the runbook's name every rule, with its severity; the
/// runbook's links are the rules' own runbook anchors.
#[test]
fn the_alert_tables_name_every_rule_with_its_severity() {
    let rules = rules();
    assert!(rules.len() >= 11, "{rules:?}");
    let readme = read("README.md");
    let readme_rows = alert_rows(section(&readme, "## Alerts"));
    let runbook = read("docs/runbook.md");
    let intro = &runbook[..runbook.find("\n## ").unwrap()];
    let runbook_rows = alert_rows(intro);
    for (doc, rows) in [
        ("README.md", &readme_rows),
        ("docs/runbook.md", &runbook_rows),
    ] {
        let named: BTreeSet<&String> = rows.keys().collect();
        let want: BTreeSet<&String> = rules.keys().collect();
        assert_eq!(named, want, "{doc}'s alert table against the rules file");
        for (name, (severity, _)) in rows {
            assert_eq!(severity, &rules[name].0, "{doc}: severity of {name}");
        }
    }
    for (name, (_, link)) in &runbook_rows {
        assert_eq!(
            link.as_deref(),
            Some(format!("#{}", rules[name].1).as_str()),
            "the runbook's link for {name} is its runbook_url's anchor"
        );
    }
}

/// benches/README.md indexes every file of benches/ and every section of docs/benchmarks.md,
/// with the command that section says made it.
#[test]
fn the_benchmark_index_names_every_bench_and_every_section() {
    let index = read("benches/README.md");
    let files = section(&index, "## Files");
    let mut listed = 0;
    for entry in std::fs::read_dir(project_dir().join("benches")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name == "README.md" || name.starts_with('.') || name == "__pycache__" {
            continue;
        }
        assert!(
            files.contains(&format!("`{name}`")),
            "benches/README.md's Files lacks {name}"
        );
        listed += 1;
    }
    assert!(listed >= 7, "{listed} files");

    let results = read("docs/benchmarks.md");
    let mut sections = BTreeMap::new();
    for (at, _) in results.match_indices("<!-- BEGIN ") {
        let rest = &results[at + "<!-- BEGIN ".len()..];
        let name = rest[..rest.find(" -->").unwrap()].to_owned();
        let command = rest[rest.find("Command: `").expect("a Command line") + 10..]
            .split('`')
            .next()
            .unwrap()
            .to_owned();
        sections.insert(name, command);
    }
    let mut rows = BTreeMap::new();
    for line in index
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains("]("))
    {
        let cells: Vec<&str> = line[2..].split(" | ").collect();
        let name = cells[1].split('`').nth(1).unwrap().to_owned();
        rows.insert(name, cells[2].to_owned());
    }
    let named: BTreeSet<&String> = rows.keys().collect();
    assert_eq!(
        named,
        sections.keys().collect(),
        "benches/README.md's table against the sections of docs/benchmarks.md"
    );
    assert!(sections.len() >= 5, "{sections:?}");
    for (name, command) in &sections {
        assert!(
            rows[name].contains(&format!("`{command}`")),
            "benches/README.md's row for {name} lacks `{command}`"
        );
    }
}

/// CONTRIBUTING.md's module list names every module of `src/lib.rs`, in the order of its
/// "Layout" list.
#[test]
fn contributing_lists_every_module_in_the_layout_order() {
    let lib = read("src/lib.rs");
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| {
            l.strip_prefix("mod ")
                .or_else(|| l.strip_prefix("pub mod "))
        })
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert!(modules.len() >= 19, "{modules:?}");
    let layout: String = lib
        .lines()
        .skip_while(|l| *l != "//! # Layout")
        .take_while(|l| l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let contributing = read("CONTRIBUTING.md");
    let list = section(&contributing, "## Layout");
    let order = |text: &str| -> Vec<String> {
        let mut found: Vec<(usize, String)> = modules
            .iter()
            .map(|m| {
                let at = text
                    .find(&format!("`{m}`"))
                    .unwrap_or_else(|| panic!("`{m}` not in:\n{text}"));
                (at, m.to_string())
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, m)| m).collect()
    };
    assert_eq!(
        order(list),
        order(&layout),
        "CONTRIBUTING.md against src/lib.rs"
    );
}

/// The README stays a README: short, with the demo and the test command CI runs on top.
#[test]
fn the_readme_starts_people_in_at_most_250_lines() {
    let readme = read("README.md");
    assert!(readme.lines().count() <= 250, "{}", readme.lines().count());
    let first_block = readme.split("```").nth(1).unwrap();
    let commands: Vec<&str> = first_block
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(commands, ["scripts/demo", "scripts/test"]);
    let ci = read(".ci/run");
    assert!(ci.lines().any(|l| l == "scripts/test"), "{ci}");
    let rust = read("Cargo.toml");
    let version = rust
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .unwrap()
        .trim_end_matches('"');
    assert!(
        section(&readme, "## Install").contains(&format!("Rust **{version}** or newer")),
        "the README's Install names rust-version {version}"
    );
}

/// The Markdown files whose links are checked.
fn markdown_files() -> Vec<PathBuf> {
    let root = project_dir();
    let mut files = vec![
        root.join("README.md"),
        root.join("CONTRIBUTING.md"),
        root.join("benches/README.md"),
    ];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut dirs = vec![root.join("deploy")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The text with fenced code blocks and code spans blanked (newlines kept), so that neither a
/// heading nor a link inside code counts.
fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fenced = false;
    for paragraph in text.split_inclusive("\n\n") {
        let mut in_span = false;
        for line in paragraph.split_inclusive('\n') {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                out.push('\n');
                continue;
            }
            if fenced {
                out.extend(line.chars().map(|c| if c == '\n' { c } else { ' ' }));
                continue;
            }
            for c in line.chars() {
                if c == '`' {
                    in_span = !in_span;
                    out.push(' ');
                } else if in_span && c != '\n' {
                    out.push(' ');
                } else {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// GitHub's anchors for the headings of a Markdown file: the heading's text, lower-cased,
/// without punctuation, spaces as hyphens; a repeated one gets `-1`, `-2`, ...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeMap::<String, usize>::new();
    let mut anchors = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if fenced || hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let mut heading = line[hashes..].trim().to_owned();
        // A link in a heading reads as its text.
        while let (Some(open), Some(mid)) = (heading.find('['), heading.find("](")) {
            let Some(close) = heading[mid..].find(')') else {
                break;
            };
            heading = format!(
                "{}{}{}",
                &heading[..open],
                &heading[open + 1..mid],
                &heading[mid + close + 1..]
            );
        }
        let slug: String = heading
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let count = seen.entry(slug.clone()).or_insert(0);
        anchors.insert(match *count {
            0 => slug,
            n => format!("{slug}-{n}"),
        });
        *count += 1;
    }
    anchors
}

/// Every relative link's target in the prose of `text`.
fn relative_links(text: &str) -> Vec<String> {
    let prose = prose(text);
    prose
        .match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &prose[at + 2..];
            let target = &rest[..rest.find([')', ' ', '\n']).unwrap_or(rest.len())];
            let external = ["http://", "https://", "mailto:"]
                .iter()
                .any(|scheme| target.starts_with(scheme));
            (!external && !target.is_empty()).then(|| target.to_owned())
        })
        .collect()
}

fn broken_link(from: &Path, target: &str) -> Option<String> {
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let file = match path {
        "" => from.to_owned(),
        _ => from.parent().unwrap().join(path),
    };
    if !file.exists() {
        return Some(format!("{target}: no such file or directory"));
    }
    let anchor = anchor?;
    if file.extension().is_none_or(|e| e != "md") {
        return Some(format!(
            "{target}: an anchor into a file that is not Markdown"
        ));
    }
    let headings = anchors(&std::fs::read_to_string(&file).unwrap());
    (!headings.contains(anchor)).then(|| format!("{target}: no heading with that anchor"))
}

/// Every relative link of the README, CONTRIBUTING.md, docs/, deploy/ and benches/ points at a
/// file or directory that exists, and every `#anchor` at a heading of its file.
#[test]
fn every_relative_link_and_anchor_resolves() {
    let root = project_dir();
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for target in relative_links(&text) {
            checked += 1;
            if let Some(why) = broken_link(&file, &target) {
                let name = file.strip_prefix(&root).unwrap().display();
                broken.push(format!("{name}: {why}"));
            }
        }
    }
    assert!(checked > 200, "{checked} links checked");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The anchor and link rules above, on GitHub's own examples.
#[test]
fn anchors_and_links_follow_githubs_rules() {
    let text = "# Hello, World!\n## `check`: the one-shot audit\n## Partitions: AWS GovCloud (US) \
                and China\n## Hello, World\n## Against moto, 5,000 users\n```sh\n# not a \
                heading\n```\n## See [the runbook](runbook.md) first\n";
    let got = anchors(text);
    let want: BTreeSet<String> = [
        "hello-world",
        "check-the-one-shot-audit",
        "partitions-aws-govcloud-us-and-china",
        "hello-world-1",
        "against-moto-5000-users",
        "see-the-runbook-first",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(got, want);
    let links = relative_links(
        "[a](x.md#y) and `[b](in-code.md)` and [c](https://e.org)\n\n```\n[d](fenced.md)\n```\n\
         [`e`](../e/) <https://f.org> [g](#h)\n",
    );
    assert_eq!(links, ["x.md#y", "../e/", "#h"]);
}

/// The demo's own requirements pin moto and boto3 as the tests do, so the demo runs the stand-in
/// the suite is tested against.
#[test]
fn the_demo_pins_moto_and_boto3_as_the_tests_do() {
    let pins = |path: &str| -> BTreeMap<String, String> {
        read(path)
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .filter_map(|line| line.split_once("=="))
            .map(|(name, version)| {
                let name = name.split('[').next().unwrap().trim().to_owned();
                (name, version.trim().to_owned())
            })
            .collect()
    };
    let demo = pins("scripts/demo-requirements.txt");
    let tests = pins("tests/requirements.txt");
    for package in ["moto", "boto3"] {
        assert_eq!(
            demo.get(package),
            tests.get(package),
            "{package}: scripts/demo-requirements.txt and tests/requirements.txt differ"
        );
        assert!(demo.contains_key(package), "{package} pinned");
    }
}
