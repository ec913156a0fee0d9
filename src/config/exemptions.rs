//! Exemptions from the control: who may hold more than one active key, why, who answers for
//! it, and until when. Declared in the config file (`[[exemptions]]`, checked here) or in a
//! user's own tags (checked by the source that reads them, with the same expiry rules).
//!
//! Every exemption has an expiry, and no expiry may lie further ahead than
//! `collector.max_exemption`: an exemption is a deadline, not a way to switch the control off.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::arn;
use crate::diagnostics::{Problem, Problems};

/// The tag whose value is the expiry (`YYYY-MM-DD` or RFC 3339); its presence makes a tag
/// exemption.
pub(crate) const TAG_EXPIRES: &str = "iam-key-exporter:exempt-until";
/// The tag that says why.
pub(crate) const TAG_REASON: &str = "iam-key-exporter:exempt-reason";
/// The tag that says who answers for it.
pub(crate) const TAG_OWNER: &str = "iam-key-exporter:exempt-owner";

/// Longest reason or owner kept (IAM's own limit on a tag value); both become label values.
pub(crate) const MAX_TEXT: usize = 256;

/// The keys of one `[[exemptions]]` entry, with their help texts.
pub(crate) const KEYS: &[(&str, &str)] = &[
    (
        "account",
        "The 12-digit account ID the exemption applies in, or `*` for every watched account.",
    ),
    ("user", "The exempt user's name (this or `user_pattern`)."),
    (
        "user_pattern",
        "Exempt users whose name matches, `*` any run of characters, `?` one (this or `user`).",
    ),
    ("reason", "Why the user may hold a second active key."),
    (
        "owner",
        "Who answers for the exemption: a team, a person, a queue.",
    ),
    (
        "expires",
        "When it ends: `YYYY-MM-DD` (its first second, UTC) or `YYYY-MM-DDTHH:MM:SSZ`.",
    ),
];

/// One `[[exemptions]]` entry, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExemptionConfig {
    /// The account it applies in; `None` for every watched account (`*`).
    pub account: Option<String>,
    /// The users it names.
    pub user: UserMatch,
    /// Why.
    pub reason: String,
    /// Who answers for it.
    pub owner: String,
    /// When it ends, Unix seconds.
    pub expires: i64,
}

/// Which users an entry names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserMatch {
    /// Exactly this user name.
    Name(String),
    /// Names matching this glob (`*`, `?`).
    Pattern(String),
}

impl ExemptionConfig {
    /// Whether the entry names `user` in account `account_id`. IAM user names are
    /// case-insensitive (`Alice` and `alice` cannot both exist), so an entry written in another
    /// case than IAM stores the name still names the user.
    pub(crate) fn matches(&self, account_id: &str, user: &str) -> bool {
        self.account.as_deref().is_none_or(|id| id == account_id)
            && match &self.user {
                UserMatch::Name(name) => name.eq_ignore_ascii_case(user),
                UserMatch::Pattern(pattern) => {
                    glob_matches(&pattern.to_ascii_lowercase(), &user.to_ascii_lowercase())
                }
            }
    }
}

/// `*` matches any run of characters, `?` exactly one; everything else itself. Iterative with
/// one backtrack point, so no pattern can make it slow.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// An expiry as written: `YYYY-MM-DD` (its first second, UTC) or an RFC 3339 time in UTC
/// (`2026-12-31T18:00:00Z`); Unix seconds.
pub(crate) fn parse_expiry(text: &str) -> Option<i64> {
    crate::clock::parse_rfc3339_or_date(text)
}

/// Whether `expires` lies at most `max` after `now` (both Unix seconds).
pub(crate) fn within(expires: i64, now: i64, max: Duration) -> bool {
    expires <= now.saturating_add(max.as_secs() as i64)
}

/// `[[exemptions]]`: each entry names an account (or `*`), one user or a pattern, a reason, an
/// owner and an expiry no further ahead than `max`. One that has already expired is kept: it
/// is shown as expired, which is what its owner needs to see.
pub(super) fn validate(
    entries: &[BTreeMap<String, String>],
    max: Duration,
    problems: &mut Problems,
) -> Vec<ExemptionConfig> {
    let now = crate::clock::now();
    entries
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| {
            Entry {
                index,
                entry,
                problems: &mut *problems,
            }
            .exemption(now, max)
        })
        .collect()
}

/// One entry being checked; its problems are keyed `exemptions.INDEX.KEY`.
struct Entry<'a> {
    index: usize,
    entry: &'a BTreeMap<String, String>,
    problems: &'a mut Problems,
}

impl Entry<'_> {
    fn exemption(mut self, now: i64, max: Duration) -> Option<ExemptionConfig> {
        let account = self.account();
        let user = self.user();
        let reason = self.described("reason", "why the user may hold a second active key");
        let owner = self.described("owner", "who answers for the exemption");
        let expires = self.expires(now, max);
        Some(ExemptionConfig {
            account,
            user: user?,
            reason,
            owner,
            expires,
        })
    }

    fn key(&self, name: &str) -> String {
        format!("exemptions.{}.{name}", self.index)
    }

    fn text(&self, name: &str) -> Option<String> {
        self.entry
            .get(name)
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    }

    fn missing(&mut self, name: &str, expected: &str) {
        let key = self.key(name);
        self.problems
            .push(Problem::new(key, format!("missing; expected {expected}")));
    }

    fn fail(&mut self, name: &str, given: &str, expected: &str) {
        let key = self.key(name);
        self.problems.expected(&key, None, given, expected);
    }

    fn account(&mut self) -> Option<String> {
        match self.text("account").as_deref() {
            Some("*") => None,
            Some(id) => {
                if arn::parse_account_id(id).is_none() {
                    self.fail("account", id, "a 12-digit AWS account ID, or `*`");
                }
                Some(id.to_owned())
            }
            None => {
                self.missing(
                    "account",
                    "a 12-digit AWS account ID, or `*` for every account",
                );
                None
            }
        }
    }

    fn user(&mut self) -> Option<UserMatch> {
        match (self.text("user"), self.text("user_pattern")) {
            (Some(name), None) => Some(UserMatch::Name(name)),
            (None, Some(pattern)) => Some(UserMatch::Pattern(pattern)),
            (Some(_), Some(_)) => {
                let key = self.key("user");
                self.problems
                    .push(Problem::new(key, "give `user` or `user_pattern`, not both"));
                None
            }
            (None, None) => {
                self.missing("user", "a user name (or `user_pattern` with `*` and `?`)");
                None
            }
        }
    }

    /// A reason or an owner: given, on one line, at most [`MAX_TEXT`] characters.
    fn described(&mut self, name: &str, what: &str) -> String {
        let Some(text) = self.text(name) else {
            self.missing(name, what);
            return String::new();
        };
        if text.chars().count() > MAX_TEXT || text.chars().any(char::is_control) {
            self.fail(
                name,
                &text.chars().take(40).collect::<String>(),
                &format!("{what}: at most {MAX_TEXT} characters, on one line"),
            );
        }
        text
    }

    fn expires(&mut self, now: i64, max: Duration) -> i64 {
        let latest = crate::clock::rfc3339(now.max(0).saturating_add(max.as_secs() as i64));
        let expected = format!(
            "a date `YYYY-MM-DD` or a time `YYYY-MM-DDTHH:MM:SSZ`, at most {} days from now \
             (`collector.max_exemption`), so no later than {latest}",
            max.as_secs() / 86_400
        );
        match self.text("expires") {
            None => {
                self.missing("expires", &expected);
                0
            }
            Some(given) => match parse_expiry(&given) {
                Some(expires) if within(expires, now, max) => expires,
                _ => {
                    self.fail("expires", &given, &expected);
                    0
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_patterns_match_in_any_case_as_iam_does() {
        let entry = |user: UserMatch| ExemptionConfig {
            account: None,
            user,
            reason: "r".to_owned(),
            owner: "o".to_owned(),
            expires: 0,
        };
        assert!(entry(UserMatch::Name("ALICE".to_owned())).matches("111111111111", "alice"));
        assert!(entry(UserMatch::Name("alice".to_owned())).matches("111111111111", "Alice"));
        assert!(!entry(UserMatch::Name("alice".to_owned())).matches("111111111111", "alicia"));
        assert!(entry(UserMatch::Pattern("CI-*".to_owned())).matches("1", "ci-deploy"));
    }

    #[test]
    fn globs_match_what_they_say() {
        assert!(glob_matches("ci-*", "ci-deploy"));
        assert!(glob_matches("ci-*", "ci-"));
        assert!(!glob_matches("ci-*", "xci-deploy"));
        assert!(glob_matches("*-bot", "deploy-bot"));
        assert!(glob_matches("a?c", "abc"));
        assert!(!glob_matches("a?c", "ac"));
        assert!(glob_matches("*a*b*", "xxaxxbxx"));
        assert!(!glob_matches("*a*b*", "xxbxxaxx"));
        assert!(glob_matches("exact", "exact"));
        assert!(!glob_matches("exact", "exactly"));
        // A pathological pattern stays linear-ish: this returns at once.
        let long = "a".repeat(10_000);
        assert!(!glob_matches(&format!("{}b", "*a".repeat(50)), &long));
    }

    #[test]
    fn an_entry_names_its_account_and_users() {
        let entry = ExemptionConfig {
            account: Some("111111111111".to_owned()),
            user: UserMatch::Pattern("vendor-*".to_owned()),
            reason: "cut-over".to_owned(),
            owner: "platform".to_owned(),
            expires: 0,
        };
        assert!(entry.matches("111111111111", "vendor-acme"));
        assert!(!entry.matches("222222222222", "vendor-acme"));
        assert!(!entry.matches("111111111111", "alice"));
        let everywhere = ExemptionConfig {
            account: None,
            user: UserMatch::Name("alice".to_owned()),
            ..entry
        };
        assert!(everywhere.matches("222222222222", "alice"));
        assert!(!everywhere.matches("222222222222", "alice2"));
    }

    #[test]
    fn expiries_are_dates_or_utc_times() {
        assert_eq!(parse_expiry("2026-12-31"), Some(1_798_675_200));
        assert_eq!(parse_expiry("2026-12-31T12:00:00Z"), Some(1_798_718_400));
        assert_eq!(parse_expiry(" 2026-12-31 "), Some(1_798_675_200));
        for bad in [
            "",
            "tomorrow",
            "2026-13-01",
            "31/12/2026",
            "2026-12-31T12:00:00+02:00",
        ] {
            assert_eq!(parse_expiry(bad), None, "{bad}");
        }
    }
}
