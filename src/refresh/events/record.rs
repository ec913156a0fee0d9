//! The records: what an EventBridge envelope of a CloudTrail IAM event says, as far as the
//! exporter cares. A record's values are the caller's to choose: only names and paths of IAM's
//! shapes become labels.

use std::time::UNIX_EPOCH;

use serde_json::Value;

/// The CloudTrail events that can change a user's active key count, its existence, or its
/// exemption tags.
const RELEVANT: [&str; 7] = [
    "CreateAccessKey",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "CreateUser",
    "DeleteUser",
    "TagUser",
    "UntagUser",
];

/// What an EventBridge envelope of a CloudTrail event says, as far as the exporter cares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    /// The CloudTrail event name (`CreateAccessKey`, ...).
    pub(crate) name: String,
    /// The account the call was made in.
    pub(crate) account: String,
    /// The user it concerns, as the event spells it (IAM's own spelling may differ in case);
    /// empty for root's own keys.
    pub(crate) user: String,
    /// Root acting on its own keys: no user to read, the account's root key flag to ask again.
    pub(crate) root: bool,
    /// The user's path, when the event carries it (`CreateUser`).
    pub(crate) path: Option<String>,
    /// When the call was made, Unix seconds.
    pub(crate) time: Option<f64>,
    /// The CloudTrail record of a `CreateAccessKey` for a user: who created the key.
    pub(crate) record: Option<Value>,
}

/// Why a message is not an event to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Skip {
    /// Not an EventBridge envelope of a CloudTrail IAM event: JSON, but not of that shape, or
    /// not JSON at all.
    Malformed(String),
    /// A well-formed event that changes no key count (another IAM call, or a call that failed);
    /// with its name.
    Irrelevant(String),
}

/// Reads an EventBridge envelope (`detail-type: AWS API Call via CloudTrail`, `source:
/// aws.iam`). The user is `requestParameters.userName`, else the created key's or user's
/// `responseElements`, else the caller itself when an IAM user acted on its own keys.
pub(crate) fn parse(body: &str) -> Result<Event, Skip> {
    let envelope: Value =
        serde_json::from_str(body).map_err(|err| Skip::Malformed(format!("not JSON: {err}")))?;
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let detail = &envelope["detail"];
    if !detail.is_object() {
        return Err(Skip::Malformed("no `detail` object".to_owned()));
    }
    let name = text(&detail["eventName"])
        .ok_or_else(|| Skip::Malformed("no `detail.eventName`".to_owned()))?;
    if envelope["source"] != "aws.iam" || detail["eventSource"] != "iam.amazonaws.com" {
        return Err(Skip::Irrelevant(name));
    }
    if !RELEVANT.contains(&name.as_str()) || !detail["errorCode"].is_null() {
        return Err(Skip::Irrelevant(name));
    }
    let account = text(&envelope["account"])
        .or_else(|| text(&detail["recipientAccountId"]))
        .filter(|id| crate::arn::parse_account_id(id).is_some())
        .ok_or_else(|| Skip::Malformed("no 12-digit `account`".to_owned()))?;
    let request = &detail["requestParameters"];
    let response = &detail["responseElements"];
    let identity = &detail["userIdentity"];
    // Root acting on its own keys: no IAM user to read again, but whether root has a key.
    if identity["type"] == "Root" && request["userName"].is_null() {
        if !name.ends_with("AccessKey") {
            return Err(Skip::Irrelevant(name));
        }
        return Ok(Event {
            name,
            account,
            user: String::new(),
            root: true,
            path: None,
            time: event_time(&envelope),
            record: None,
        });
    }
    let user = text(&request["userName"])
        .or_else(|| text(&response["accessKey"]["userName"]))
        .or_else(|| text(&response["user"]["userName"]))
        .or_else(|| {
            (identity["type"] == "IAMUser")
                .then(|| text(&identity["userName"]))
                .flatten()
        })
        .ok_or_else(|| Skip::Malformed(format!("{name} names no user")))?;
    // A record's values are the caller's: only a name and a path of IAM's shapes become labels.
    if !crate::arn::is_user_name(&user) {
        return Err(Skip::Malformed(format!(
            "{name} names a user IAM could not have ({:?})",
            crate::error::bounded(&user, 80)
        )));
    }
    let path = text(&request["path"]).or_else(|| text(&response["user"]["path"]));
    if path
        .as_deref()
        .is_some_and(|path| !crate::arn::is_path(path))
    {
        return Err(Skip::Malformed(format!(
            "{name} carries a path IAM could not have"
        )));
    }
    let record = (name == "CreateAccessKey").then(|| detail.clone());
    Ok(Event {
        name,
        account,
        user,
        root: false,
        path,
        time: event_time(&envelope),
        record,
    })
}

/// When the call was made: the envelope's time, else the record's; Unix seconds.
fn event_time(envelope: &Value) -> Option<f64> {
    envelope["time"]
        .as_str()
        .or_else(|| envelope["detail"]["eventTime"].as_str())
        .and_then(|time| humantime::parse_rfc3339_weak(time).ok())
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map(|since| since.as_secs_f64())
}

/// Event names become label values: IAM's, or `other` for anything unexpected.
pub(super) fn label(name: &str) -> String {
    let known = name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric());
    if known {
        name.to_owned()
    } else {
        "other".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(name: &str, detail_extra: &str) -> String {
        format!(
            r#"{{"version":"0","id":"e","detail-type":"AWS API Call via CloudTrail","source":"aws.iam",
            "account":"111111111111","time":"2026-11-23T06:00:00Z","region":"us-east-1","resources":[],
            "detail":{{"eventSource":"iam.amazonaws.com","eventName":"{name}","eventTime":"2026-11-23T06:00:00Z",
            "userIdentity":{{"type":"IAMUser","userName":"caller"}}{detail_extra}}}}}"#
        )
    }

    #[test]
    fn the_user_comes_from_the_request_or_the_response_or_the_caller() {
        let event = parse(&envelope(
            "CreateAccessKey",
            r#","requestParameters":{"userName":"bob"}"#,
        ))
        .unwrap();
        assert_eq!(event.account, "111111111111");
        assert_eq!(event.user, "bob");
        assert_eq!(event.time, Some(1_795_413_600.0));
        let event = parse(&envelope(
            "CreateAccessKey",
            r#","requestParameters":null,"responseElements":{"accessKey":{"userName":"carol"}}"#,
        ))
        .unwrap();
        assert_eq!(event.user, "carol");
        let event = parse(&envelope(
            "UpdateAccessKey",
            r#","requestParameters":{"accessKeyId":"AKIA1"}"#,
        ))
        .unwrap();
        assert_eq!(event.user, "caller", "an IAM user acting on its own keys");
        let event = parse(&envelope(
            "CreateUser",
            r#","requestParameters":{"userName":"dave","path":"/ci/"}"#,
        ))
        .unwrap();
        assert_eq!(event.path.as_deref(), Some("/ci/"));
    }

    #[test]
    fn other_events_and_failed_calls_are_irrelevant() {
        assert_eq!(
            parse(&envelope(
                "UploadSSHPublicKey",
                r#","requestParameters":{"userName":"bob"}"#
            )),
            Err(Skip::Irrelevant("UploadSSHPublicKey".to_owned()))
        );
        assert_eq!(
            parse(&envelope(
                "CreateAccessKey",
                r#","errorCode":"LimitExceeded","requestParameters":{"userName":"bob"}"#
            )),
            Err(Skip::Irrelevant("CreateAccessKey".to_owned()))
        );
    }

    #[test]
    fn root_acting_on_its_own_keys_names_no_user_but_roots_keys() {
        let root = |name: &str| {
            envelope(name, "").replace(
                r#""type":"IAMUser","userName":"caller""#,
                r#""type":"Root""#,
            )
        };
        let event = parse(&root("CreateAccessKey")).unwrap();
        assert!(event.root && event.user.is_empty(), "{event:?}");
        assert!(parse(&root("DeleteAccessKey")).unwrap().root);
        assert_eq!(
            parse(&root("TagUser")),
            Err(Skip::Irrelevant("TagUser".to_owned()))
        );
    }

    /// The records in tests/fixtures/cloudtrail, written after AWS's published examples (each
    /// cited in its README), read as cases.tsv says they must be.
    #[test]
    fn real_shaped_cloudtrail_records_are_read_as_documented() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cloudtrail");
        let cases = std::fs::read_to_string(dir.join("cases.tsv")).unwrap();
        let mut seen = 0;
        for row in cases.lines().skip(1) {
            let fields: Vec<&str> = row.split('\t').collect();
            let (file, outcome, event, user) = (fields[0], fields[1], fields[2], fields[3]);
            let body = std::fs::read_to_string(dir.join(file)).unwrap();
            let parsed = parse(&body);
            match (outcome, &parsed) {
                ("applied", Ok(read)) => {
                    assert_eq!(
                        (read.name.as_str(), read.user.as_str()),
                        (event, user),
                        "{file}"
                    );
                    assert!(!read.root, "{file}");
                    assert_eq!(read.account, "111122223333", "{file}");
                    assert!(read.time.is_some(), "{file}");
                }
                ("root", Ok(read)) => assert!(read.root && read.name == event, "{file}"),
                ("ignored", Err(Skip::Irrelevant(name))) => assert_eq!(name, event, "{file}"),
                ("malformed", Err(Skip::Malformed(_))) => assert_eq!(event, "unknown"),
                _ => panic!("{file}: expected {outcome}, got {parsed:?}"),
            }
            seen += 1;
        }
        assert!(seen >= 12, "{seen} fixtures");
    }

    /// A record's values are the caller's to choose: a user name or a path IAM could not have
    /// never becomes a label.
    #[test]
    fn names_and_paths_iam_could_not_have_are_malformed() {
        let long_path = format!(
            r#","requestParameters":{{"userName":"eve","path":"/{}/"}}"#,
            "x".repeat(2009)
        );
        let odd_name = r#","requestParameters":{"userName":"ev\u202ee"}"#;
        let newline = r#","requestParameters":{"userName":"eve\nlevel=error"}"#;
        for detail in [long_path.as_str(), odd_name, newline] {
            assert!(
                matches!(
                    parse(&envelope("CreateUser", detail)),
                    Err(Skip::Malformed(_))
                ),
                "{detail}"
            );
        }
    }

    #[test]
    fn malformed_messages_say_what_is_missing() {
        for (body, why) in [
            ("{not json", "not JSON"),
            ("{}", "no `detail` object"),
            (r#"{"detail":{}}"#, "no `detail.eventName`"),
            (
                r#"{"source":"aws.iam","account":"12","detail":{"eventSource":"iam.amazonaws.com","eventName":"DeleteUser","requestParameters":{"userName":"x"}}}"#,
                "no 12-digit `account`",
            ),
            (
                r#"{"source":"aws.iam","account":"111111111111","detail":{"eventSource":"iam.amazonaws.com","eventName":"DeleteUser"}}"#,
                "DeleteUser names no user",
            ),
        ] {
            match parse(body) {
                Err(Skip::Malformed(message)) => assert!(message.contains(why), "{message}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
