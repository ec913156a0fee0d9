//! The benchmark controls the exporter's findings map to, per benchmark version: the control's
//! number moves between CIS AWS Foundations versions, and audits name the version they hold an
//! account to. One table, used by `check` and `remediate`; docs/controls.md's table and the alert
//! rules' `controls` annotations are tested against it.

/// One control, as each benchmark version numbers it.
#[derive(Debug)]
pub(crate) struct Control {
    /// What the control asks, in a few words.
    pub(crate) title: &'static str,
    /// `(CIS AWS Foundations versions, number)`; versions without it are left out.
    pub(crate) cis: &'static [(&'static str, &'static str)],
    /// CIS versions that no longer list it.
    pub(crate) cis_dropped: Option<&'static str>,
    /// The AWS Foundational Security Best Practices control (Security Hub), if one applies.
    pub(crate) fsbp: Option<&'static str>,
    /// The alert rules that report it.
    pub(crate) alerts: &'static [&'static str],
}

/// "Ensure there is only one active access key for any single IAM user": the exporter's own.
pub(crate) const ONE_ACTIVE_KEY: Control = Control {
    title: "only one active access key for any single IAM user",
    cis: &[
        ("v1.4.0-v4.0.1", "1.13"),
        ("v5.0.0", "1.12"),
        ("v6.0.0", "2.12"),
    ],
    cis_dropped: Some("v7.0.0"),
    fsbp: None,
    alerts: &["IAMUserMultipleActiveAccessKeys"],
};

/// "Ensure access keys are rotated every 90 days or less".
pub(crate) const ROTATION: Control = Control {
    title: "access keys rotated every 90 days or less",
    cis: &[
        ("v1.4.0-v4.0.1", "1.14"),
        ("v5.0.0", "1.13"),
        ("v6.0.0", "2.13"),
        ("v7.0.0", "2.12"),
    ],
    cis_dropped: None,
    fsbp: Some("IAM.3"),
    alerts: &["IAMAccessKeyTooOld"],
};

/// "Ensure credentials unused for 45 days or more are disabled" (the exporter's alert waits
/// 90 days by default; FSBP IAM.8 is the 90-day variant).
pub(crate) const UNUSED: Control = Control {
    title: "credentials unused for 45 days or more disabled",
    cis: &[
        ("v1.4.0-v4.0.1", "1.12"),
        ("v5.0.0", "1.11"),
        ("v6.0.0", "2.11"),
        ("v7.0.0", "2.11"),
    ],
    cis_dropped: None,
    fsbp: Some("IAM.22 (45 days), IAM.8 (90 days)"),
    alerts: &["IAMAccessKeyUnused"],
};

/// Every control, in docs/controls.md's order.
#[cfg(test)]
pub(crate) const ALL: [&Control; 3] = [&ONE_ACTIVE_KEY, &ROTATION, &UNUSED];

/// The controls an offender's keys are judged by too (the advice keeps a young, used key).
pub(crate) const RELATED: [&Control; 2] = [&ROTATION, &UNUSED];

impl Control {
    /// One line: `CIS AWS Foundations 1.13 (v1.4.0-v4.0.1), 1.12 (v5.0.0), ...; not in v7.0.0`.
    pub(crate) fn describe(&self) -> String {
        let numbers: Vec<String> = self
            .cis
            .iter()
            .map(|(versions, id)| format!("{id} ({versions})"))
            .collect();
        let mut line = format!("CIS AWS Foundations {}", numbers.join(", "));
        if let Some(dropped) = self.cis_dropped {
            line.push_str(&format!("; not in {dropped}"));
        }
        match self.fsbp {
            Some(fsbp) => line.push_str(&format!("; AWS FSBP {fsbp}")),
            None => line.push_str("; no AWS FSBP control"),
        }
        line
    }

    /// The first line of `check`'s and `remediate`'s tables.
    pub(crate) fn headline(&self) -> String {
        format!("Control: {} ({})", self.title, self.describe())
    }

    /// As JSON, for `check` and `remediate`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "title": self.title,
            "cis_aws_foundations": self
                .cis
                .iter()
                .map(|(versions, id)| serde_json::json!({"versions": versions, "id": id}))
                .collect::<Vec<_>>(),
            "cis_aws_foundations_not_in": self.cis_dropped,
            "aws_fsbp": self.fsbp,
            "alerts": self.alerts,
        })
    }
}

/// docs/controls.md's table, generated so that it cannot drift.
#[cfg(test)]
fn markdown_table() -> String {
    let mut out = String::from(
        "| control | CIS AWS Foundations | AWS FSBP (Security Hub) | alert |\n|---|---|---|---|\n",
    );
    for control in ALL {
        let mut cis: Vec<String> = control
            .cis
            .iter()
            .map(|(versions, id)| format!("{id} in {versions}"))
            .collect();
        if let Some(dropped) = control.cis_dropped {
            cis.push(format!("not in {dropped}"));
        }
        let alerts: Vec<String> = control.alerts.iter().map(|a| format!("`{a}`")).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            control.title,
            cis.join("; "),
            control.fsbp.unwrap_or("none"),
            alerts.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn project_file(path: &str) -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
    }

    #[test]
    fn the_readme_table_says_what_the_controls_say() {
        let readme = project_file("docs/controls.md");
        let begin = "<!-- BEGIN controls (generated: see src/controls.rs) -->\n";
        let start = readme
            .find(begin)
            .expect("docs/controls.md has the controls markers")
            + begin.len();
        let stop = readme[start..]
            .find("<!-- END controls -->")
            .expect("the end marker")
            + start;
        assert_eq!(
            &readme[start..stop],
            markdown_table(),
            "docs/controls.md's controls table is out of date; replace it with the text above"
        );
    }

    /// Each alert names its controls in a `controls:` annotation that says what the table says.
    #[test]
    fn the_alert_rules_name_their_controls() {
        let rules = project_file("deploy/prometheus/iam-key-exporter.rules.yml");
        for control in ALL {
            for alert in control.alerts {
                let at = rules
                    .find(&format!("- alert: {alert}\n"))
                    .unwrap_or_else(|| panic!("no rule {alert}"));
                let rule = &rules[at..];
                let rule = &rule[..rule[1..].find("- alert:").map_or(rule.len(), |n| n + 1)];
                let expected = format!("controls: {}\n", control.describe());
                assert!(
                    rule.contains(&expected),
                    "{alert} should have the annotation `{}`",
                    expected.trim_end()
                );
            }
        }
    }

    #[test]
    fn the_description_names_every_version() {
        assert_eq!(
            ONE_ACTIVE_KEY.describe(),
            "CIS AWS Foundations 1.13 (v1.4.0-v4.0.1), 1.12 (v5.0.0), 2.12 (v6.0.0); \
             not in v7.0.0; no AWS FSBP control"
        );
    }
}
