//! Strict answers: an IAM or STS answer the exporter counts from must be a whole XML document
//! with the elements the API defines, or it is malformed.
//!
//! The SDK is lenient on purpose: it reads an answer cut off after the first user as a list of
//! one, and fills a missing required list (`Users`, `AccessKeyMetadata`) with an empty one. For
//! a pager that is the worst failure: the keys not in the broken answer look deactivated, and
//! every alert on them resolves. So, after the SDK has read a successful answer, this
//! interceptor checks the raw body: every element closed, the answer's root element last, and
//! the list the operation is about present (empty, `<Users/>`, is fine). A refusal fails the
//! request as a malformed answer (kind `service`, not retried), and the refresh keeps the last
//! good data. What the SDK does read is checked field by field by the callers.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// An answer that is not a whole document with the elements the API defines.
#[derive(Debug, thiserror::Error)]
#[error("the answer is malformed: {0}")]
pub(crate) struct Malformed(pub(crate) String);

/// The element each checked operation's result must hold (its list), by operation name.
const REQUIRED: &[(&str, &str)] = &[
    ("ListUsers", "Users"),
    ("ListAccessKeys", "AccessKeyMetadata"),
    ("ListUserTags", "Tags"),
    ("GetCallerIdentity", "Account"),
    ("GetAccountSummary", "SummaryMap"),
    ("GetCredentialReport", "Content"),
];

/// The interceptor, for the IAM and STS clients.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Strict;

impl Intercept for Strict {
    fn name(&self) -> &'static str {
        "iam-key-exporter strict answers"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        if !response.status().is_success() {
            return Ok(());
        }
        let Some(operation) = cfg.load::<Metadata>().map(|m| m.name().to_owned()) else {
            return Ok(());
        };
        let Some(body) = response.body().bytes() else {
            return Ok(());
        };
        check(&operation, body).map_err(|why| Box::new(Malformed(why)) as BoxError)
    }
}

/// Whether `body` is a whole answer of `operation`: balanced elements ending with
/// `</{operation}Response>`, and the operation's required element present.
pub(crate) fn check(operation: &str, body: &[u8]) -> Result<(), String> {
    let Some(&(_, required)) = REQUIRED.iter().find(|(op, _)| *op == operation) else {
        return Ok(());
    };
    let text = std::str::from_utf8(body).map_err(|_| "the answer is not UTF-8".to_owned())?;
    let root = format!("{operation}Response");
    let mut stack: Vec<&str> = Vec::new();
    let mut closed_root = false;
    let mut found = false;
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        if closed_root && !rest[..start].trim().is_empty() {
            return Err(format!("text after </{root}>"));
        }
        rest = &rest[start + 1..];
        let end = rest
            .find('>')
            .ok_or_else(|| format!("cut off inside a tag (expected a whole </{root}>)"))?;
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if closed_root {
            return Err(format!("an element after </{root}>"));
        }
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim();
            match stack.pop() {
                Some(open) if open == name => {}
                Some(open) => return Err(format!("</{name}> closes <{open}>")),
                None => return Err(format!("</{name}> closes nothing")),
            }
            if stack.is_empty() {
                if name != root {
                    return Err(format!("the answer is <{name}>, not <{root}>"));
                }
                closed_root = true;
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let name = tag
            .trim_end_matches('/')
            .split_ascii_whitespace()
            .next()
            .unwrap_or("");
        if name.is_empty() {
            return Err("an empty tag".to_owned());
        }
        if stack.is_empty() && name != root {
            return Err(format!("the answer is <{name}>, not <{root}>"));
        }
        // The required element, directly inside the operation's result.
        if stack.len() == 2 && name == required {
            found = true;
        }
        if !self_closing {
            stack.push(name);
        }
    }
    if !closed_root {
        return Err(match stack.last() {
            Some(open) => format!("cut off: <{open}> is never closed (expected a whole </{root}>)"),
            None => format!("no <{root}> element"),
        });
    }
    if !found {
        return Err(format!("no {required} element in the result"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    const USERS: &str = r#"<?xml version="1.0"?>
<ListUsersResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <ListUsersResult>
    <IsTruncated>false</IsTruncated>
    <Users>
      <member><UserName>alice</UserName><Path>/</Path></member>
    </Users>
  </ListUsersResult>
  <ResponseMetadata><RequestId>7a62c49f</RequestId></ResponseMetadata>
</ListUsersResponse>"#;

    #[test]
    fn a_whole_answer_passes() {
        assert_eq!(check("ListUsers", USERS.as_bytes()), Ok(()));
        let empty = USERS.replace(
            "<Users>\n      <member><UserName>alice</UserName><Path>/</Path></member>\n    </Users>",
            "<Users/>",
        );
        assert_eq!(check("ListUsers", empty.as_bytes()), Ok(()));
        assert_eq!(check("CreateUser", b"anything"), Ok(()), "unchecked");
    }

    #[test]
    fn a_cut_or_incomplete_answer_is_refused() {
        let cut = &USERS[..USERS.find("</member>").unwrap()];
        assert!(check("ListUsers", cut.as_bytes())
            .unwrap_err()
            .contains("cut off"));
        let mid_tag = &USERS[..USERS.find("</member>").unwrap() + 4];
        assert!(check("ListUsers", mid_tag.as_bytes())
            .unwrap_err()
            .contains("cut off"));
        let no_users = USERS
            .replace("<Users>", "<Other>")
            .replace("</Users>", "</Other>");
        assert_eq!(
            check("ListUsers", no_users.as_bytes()),
            Err("no Users element in the result".to_owned())
        );
        let nested = USERS
            .replace("<Users>", "<X><Users>")
            .replace("</Users>", "</Users></X>");
        assert!(
            check("ListUsers", nested.as_bytes()).is_err(),
            "only where the API puts it"
        );
        let crossed = USERS.replace("</member>", "</Users>");
        assert!(check("ListUsers", crossed.as_bytes())
            .unwrap_err()
            .contains("closes"));
        let other = USERS.replace("ListUsersResponse", "ListRolesResponse");
        assert!(check("ListUsers", other.as_bytes()).is_err());
        let trailing = format!("{USERS}<more/>");
        assert!(check("ListUsers", trailing.as_bytes()).is_err());
    }
}
