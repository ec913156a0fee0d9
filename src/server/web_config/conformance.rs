//! Conformance with exporter-toolkit: one case of our own after each of the toolkit's
//! `web/testdata` files, in `tests/fixtures/web-config/toolkit/` (certificates and hashes our
//! own), each loaded here and held to the outcome `cases.tsv` records, and the table of
//! `docs/web-config.md` held to `cases.tsv`, so that neither can drift.

use std::path::{Path, PathBuf};

use super::load;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cases_dir() -> PathBuf {
    root().join("tests/fixtures/web-config/toolkit")
}

const HEADER: &str = "toolkit file\tour file\ttoolkit outcome\tour outcome\tagreement\treason";

/// The rows of `cases.tsv`, each its six columns.
fn rows() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(cases_dir().join("cases.tsv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(HEADER), "cases.tsv's columns");
    lines
        .map(|line| {
            let columns: Vec<String> = line.split('\t').map(str::to_owned).collect();
            assert_eq!(columns.len(), 6, "six columns: {line}");
            columns
        })
        .collect()
}

#[test]
fn every_toolkit_case_has_the_outcome_cases_tsv_records() {
    let rows = rows();
    assert!(rows.len() >= 40, "{} cases", rows.len());
    for row in &rows {
        let [toolkit, ours, theirs, outcome, agreement, reason] = &row[..] else {
            unreachable!()
        };
        assert!(toolkit.starts_with("web/testdata/"), "{toolkit}");
        let path = cases_dir().join(ours);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{ours}: {err}"));
        let citation = format!(
            "# After exporter-toolkit's {toolkit} (github.com/prometheus/exporter-toolkit):"
        );
        assert_eq!(
            text.lines().next(),
            Some(citation.as_str()),
            "{ours} cites its case"
        );
        let loaded = load(&path).1;
        let got = if loaded.is_ok() { "loads" } else { "refused" };
        assert_eq!(got, outcome, "{ours}: {loaded:?}");
        assert!(
            ["loads", "refused"].contains(&theirs.as_str()),
            "{toolkit}: {theirs}"
        );
        let agrees = if theirs == outcome {
            "agree"
        } else {
            "differs"
        };
        assert_eq!(agreement, agrees, "{ours}");
        assert!(!reason.trim().is_empty(), "{ours}: a reason");
    }
    // Every case file is in the table.
    for entry in std::fs::read_dir(cases_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".yml") || name.ends_with(".yaml") {
            assert!(
                rows.iter().any(|row| row[1] == name),
                "{name} is in cases.tsv"
            );
        }
    }
}

/// The docs' table, as it must read: one row per line of `cases.tsv`.
fn table(rows: &[Vec<String>]) -> String {
    let mut table = String::from(
        "| exporter-toolkit's case | ours | toolkit | here | | why |\n|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let case = row[0].trim_start_matches("web/testdata/");
        table.push_str(&format!(
            "| [`{case}`](https://github.com/prometheus/exporter-toolkit/blob/master/{}) | [`{}`](../tests/fixtures/web-config/toolkit/{}) | {} | {} | {} | {} |\n",
            row[0], row[1], row[1], row[2], row[3], row[4], row[5]
        ));
    }
    table
}

#[test]
fn the_docs_conformance_table_is_cases_tsv() {
    let docs = std::fs::read_to_string(root().join("docs/web-config.md")).unwrap();
    let section = docs
        .split("## Conformance with exporter-toolkit")
        .nth(1)
        .expect("docs/web-config.md has the conformance section");
    let expected = table(&rows());
    assert!(
        section.contains(&expected),
        "docs/web-config.md's conformance table should read:\n{expected}"
    );
}
