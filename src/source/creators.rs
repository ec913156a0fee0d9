//! Who created a key: the caller of its `CreateAccessKey`, read from the CloudTrail record of the
//! call. The record comes with an IAM change event (no request), or is looked up
//! ([`look_up`]: one `LookupEvents` in the window around the key's creation).
//!
//! A record's texts are the caller's to choose: the user agent is whatever the client sent, a
//! session name whatever the role's caller picked. They become label values and table cells,
//! so each is cut to a bound, stripped of control characters, and never put into a log line's
//! message.

use serde_json::Value;

use crate::aws::{ErrorKind, Iam};
use crate::snapshot::{AccessKey, Creator, CreatorRelation};

/// The least time between two lookups in one account: under the two requests a second that
/// CloudTrail allows `LookupEvents` per account (the daemon's task and `check` both keep it).
pub(crate) const LOOKUP_SPACING: std::time::Duration = std::time::Duration::from_millis(600);

/// How long CloudTrail's event history keeps a record: a key created longer ago has none.
pub(crate) const HISTORY_SECONDS: i64 = 90 * 86_400;

/// The longest ARN kept; an assumed role's session ARN is at most some 170 characters.
const MAX_ARN: usize = 256;
/// The longest source address kept (an IPv6 address, or a service's host name).
const MAX_SOURCE: usize = 64;
/// The longest tool name kept.
const MAX_TOOL: usize = 64;

/// Why a key's creator is not known; a fixed set, as it becomes a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unknown {
    /// Created before CloudTrail's 90 days: nothing to look up.
    TooOld,
    /// No `CreateAccessKey` record for it (created in another way, or not recorded).
    NotFound,
    /// `cloudtrail:LookupEvents` is not allowed: no further lookups in the account.
    Denied,
    /// The lookup failed (throttled, network); not asked again while the process lives.
    Failed,
}

impl Unknown {
    /// The `outcome` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Unknown::TooOld => "too_old",
            Unknown::NotFound => "not_found",
            Unknown::Denied => "denied",
            Unknown::Failed => "failed",
        }
    }
}

/// What is known of a key's creator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    Found(Creator),
    Unknown(Unknown),
}

impl Lookup {
    /// The `outcome` label value: `found`, or why not.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Lookup::Found(_) => "found",
            Lookup::Unknown(why) => why.as_str(),
        }
    }
}

/// Looks up the record of `key`'s creation (one `LookupEvents`, none for a key older than
/// CloudTrail's history) and reads its creator.
pub(crate) async fn look_up(
    iam: &Iam,
    user: &str,
    key: &AccessKey,
    rotation: &[String],
    now: i64,
) -> Lookup {
    if now - key.created > HISTORY_SECONDS {
        return Lookup::Unknown(Unknown::TooOld);
    }
    let records = match iam.key_creation_records(&key.id, key.created).await {
        Ok(records) => records,
        Err(err) if err.kind == ErrorKind::AccessDenied => return Lookup::Unknown(Unknown::Denied),
        Err(err) => {
            tracing::warn!(
                access_key_id = %key.id,
                error = %crate::error::error_chain(&err),
                "cannot look up who created an access key"
            );
            return Lookup::Unknown(Unknown::Failed);
        }
    };
    records
        .iter()
        .filter_map(|record| serde_json::from_str::<Value>(record).ok())
        .filter_map(|record| from_record(&record, user, rotation))
        .find(|(id, _)| *id == key.id)
        .map_or(Lookup::Unknown(Unknown::NotFound), |(_, creator)| {
            Lookup::Found(creator)
        })
}

/// The created key's ID and its creator, from the CloudTrail record of a successful
/// `CreateAccessKey` (an event's `detail`, or `LookupEvents`' `CloudTrailEvent`) for `user`;
/// `rotation` are the principals of `collector.rotation_principals`.
pub(crate) fn from_record(
    record: &Value,
    user: &str,
    rotation: &[String],
) -> Option<(String, Creator)> {
    if record["eventName"] != "CreateAccessKey" || !record["errorCode"].is_null() {
        return None;
    }
    let key_id = record["responseElements"]["accessKey"]["accessKeyId"].as_str()?;
    if !crate::arn::is_access_key_id(key_id) {
        return None;
    }
    let identity = &record["userIdentity"];
    let identity_type = text(&identity["type"]);
    let identity_type = if !identity_type.is_empty()
        && identity_type.len() <= 32
        && identity_type.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        identity_type.to_owned()
    } else {
        "unknown".to_owned()
    };
    let arn = [&identity["arn"], &identity["invokedBy"]]
        .into_iter()
        .map(text)
        .find(|arn| !arn.is_empty())
        .unwrap_or("unknown");
    let issuer = text(&identity["sessionContext"]["sessionIssuer"]["arn"]);
    let own = identity_type == "IAMUser" && text(&identity["userName"]).eq_ignore_ascii_case(user);
    let relation = if own {
        CreatorRelation::OwnKey
    } else if rotation.iter().any(|principal| {
        principal.eq_ignore_ascii_case(arn) || principal.eq_ignore_ascii_case(issuer)
    }) {
        CreatorRelation::Rotation
    } else {
        CreatorRelation::Other
    };
    let creator = Creator {
        arn: clean(arn, MAX_ARN),
        identity_type,
        relation,
        source_ip: clean(text(&record["sourceIPAddress"]), MAX_SOURCE),
        user_agent: tool(text(&record["userAgent"])),
        time: crate::clock::parse_rfc3339_or_date(text(&record["eventTime"])).unwrap_or(0),
    };
    Some((key_id.to_owned(), creator))
}

/// A record's text, or empty.
fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// At most `max` characters of `text`, control characters left out; `unknown` when nothing is
/// left. A cut text ends in `…`, so a reader sees it was cut.
fn clean(text: &str, max: usize) -> String {
    let kept: Vec<char> = text.chars().filter(|c| !c.is_control()).collect();
    let mut out: String = kept.iter().take(max).collect();
    if kept.len() > max {
        out.pop();
        out.push('…');
    }
    if out.trim().is_empty() {
        "unknown".to_owned()
    } else {
        out
    }
}

/// The tool's name from a user agent: `aws-cli/2.22 Python/3.12 ...` is `aws-cli`, Terraform's
/// `APN/1.0 HashiCorp/1.0 Terraform/1.9 ...` is `Terraform`; a user agent without versions
/// (`AWS Internal`, `console.amazonaws.com`) is itself.
fn tool(agent: &str) -> String {
    let agent = agent.trim().trim_start_matches('[').trim_end_matches(']');
    if !agent.contains('/') {
        return clean(agent, MAX_TOOL);
    }
    // Wrappers name the tool after their own tokens.
    const WRAPPERS: [&str; 2] = ["APN", "HashiCorp"];
    let name = agent
        .split_whitespace()
        .filter_map(|token| token.split('/').next())
        .find(|name| !name.is_empty() && !WRAPPERS.contains(name))
        .unwrap_or(agent);
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._+-".contains(*c))
        .collect();
    clean(&name, MAX_TOOL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(identity: &str, agent: &str) -> Value {
        let agent = Value::from(agent);
        serde_json::from_str(&format!(
            r#"{{"eventName":"CreateAccessKey","eventTime":"2026-11-20T03:47:12Z",
            "userIdentity":{identity},"sourceIPAddress":"203.0.113.77","userAgent":{agent},
            "requestParameters":{{"userName":"alice"}},
            "responseElements":{{"accessKey":{{"userName":"alice","accessKeyId":"AKIA3T2LPTCWKEXAMPLE","status":"Active"}}}}}}"#
        ))
        .unwrap()
    }

    const ADMIN: &str = r#"{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Admin/jdoe","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/Admin"}}}"#;

    #[test]
    fn an_assumed_role_is_its_session_and_the_user_itself_is_self() {
        let (id, creator) =
            from_record(&record(ADMIN, "Boto3/1.35 md/Botocore#1.35"), "alice", &[]).unwrap();
        assert_eq!(id, "AKIA3T2LPTCWKEXAMPLE");
        assert_eq!(
            creator.arn,
            "arn:aws:sts::111122223333:assumed-role/Admin/jdoe"
        );
        assert_eq!(creator.identity_type, "AssumedRole");
        assert_eq!(creator.relation, CreatorRelation::Other);
        assert_eq!(creator.source_ip, "203.0.113.77");
        assert_eq!(creator.user_agent, "Boto3");
        assert_eq!(creator.time, 1_795_146_432);
        let own =
            r#"{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/Alice","userName":"Alice"}"#;
        let (_, creator) = from_record(&record(own, "aws-cli/2.22"), "alice", &[]).unwrap();
        assert_eq!(creator.relation, CreatorRelation::OwnKey);
        assert_eq!(creator.user_agent, "aws-cli");
    }

    #[test]
    fn a_rotation_principal_is_matched_by_its_role_or_its_arn() {
        let rotation = ["arn:aws:iam::111122223333:role/Admin".to_owned()];
        let (_, creator) = from_record(&record(ADMIN, "x"), "alice", &rotation).unwrap();
        assert_eq!(creator.relation, CreatorRelation::Rotation);
        let rotation = ["arn:aws:iam::111122223333:user/rotator".to_owned()];
        let rotator = r#"{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/rotator","userName":"rotator"}"#;
        let (_, creator) = from_record(&record(rotator, "x"), "alice", &rotation).unwrap();
        assert_eq!(creator.relation, CreatorRelation::Rotation);
        let (_, creator) = from_record(&record(ADMIN, "x"), "alice", &rotation).unwrap();
        assert_eq!(creator.relation, CreatorRelation::Other);
    }

    #[test]
    fn tools_are_named_as_people_know_them() {
        for (agent, name) in [
            ("aws-cli/2.22.35 md/awscrt#0.23.4 ua/2.0", "aws-cli"),
            (
                "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io)",
                "Terraform",
            ),
            (
                "[aws-cli/2.22.35 md/command#s3api.create-bucket]",
                "aws-cli",
            ),
            ("AWS Internal", "AWS Internal"),
            ("console.amazonaws.com", "console.amazonaws.com"),
            ("", "unknown"),
            ("\"/><script>/1.0", "unknown"),
        ] {
            assert_eq!(tool(agent), name, "{agent}");
        }
    }

    /// An attacker picks the user agent and the session name: bounded, on one line.
    #[test]
    fn hostile_texts_are_bounded_and_on_one_line() {
        let session = format!("x\"\\{}\n\u{7}", "y".repeat(500));
        let identity = format!(
            r#"{{"type":"AssumedRole","arn":{}}}"#,
            Value::from(format!(
                "arn:aws:sts::111122223333:assumed-role/Admin/{session}"
            ))
        );
        let agent = format!("{}\r\nlevel=error msg=forged", "A".repeat(300));
        let (_, creator) = from_record(&record(&identity, &agent), "alice", &[]).unwrap();
        assert_eq!(creator.arn.chars().count(), MAX_ARN);
        assert!(creator.arn.ends_with('…'));
        assert!(!creator.arn.contains('\n') && !creator.arn.contains('\u{7}'));
        assert!(
            creator.arn.contains("x\"\\y"),
            "kept, for the writer to escape"
        );
        assert_eq!(creator.user_agent.chars().count(), MAX_TOOL);
        assert!(!creator.user_agent.contains('\n') && !creator.user_agent.contains(' '));
    }

    #[test]
    fn failed_calls_and_other_events_have_no_creator() {
        let mut failed = record(ADMIN, "x");
        failed["errorCode"] = "AccessDenied".into();
        assert_eq!(from_record(&failed, "alice", &[]), None);
        let mut other = record(ADMIN, "x");
        other["eventName"] = "UpdateAccessKey".into();
        assert_eq!(from_record(&other, "alice", &[]), None);
    }
}
