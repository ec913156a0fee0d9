//! IAM ARNs and account IDs: the one splitter that configuration (role ARNs) and the
//! credential report (user ARNs) share.

/// Splits an IAM ARN (`arn:PARTITION:iam::ACCOUNT:RESOURCE`, any partition) into its account
/// and resource; `None` for anything else.
pub(crate) fn split_iam_arn(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (tag, _partition, service, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (tag == "arn" && service == "iam" && !account.is_empty()).then_some((account, resource))
}

/// The partition (`aws`, `aws-cn`, `aws-us-gov`) whose ARNs a region's resources carry: roles
/// to assume are named in the partition of the credentials, and the region the SDK signs for
/// says which that is.
pub(crate) fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Whether `name` has the shape IAM documents for a user name: 1 to 64 of `[A-Za-z0-9_+=,.@-]`.
/// Anything else in an answer is a broken or hostile answer, never a label or a command.
pub(crate) fn is_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

/// Whether `path` has the shape IAM documents for a path: `/`, or `/` + printable ASCII + `/`,
/// at most 512 characters.
pub(crate) fn is_path(path: &str) -> bool {
    path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Whether `id` has the shape IAM documents for an access key ID: 16 to 128 of `[A-Za-z0-9_]`.
pub(crate) fn is_access_key_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A 12-digit AWS account ID, or `None`.
pub(crate) fn parse_account_id(text: &str) -> Option<String> {
    (text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.to_owned())
}

/// `arn:aws:iam::123456789012:role/name` or `.../role/path/name` (any partition) →
/// `123456789012`; `None` when the role has no name or the name has characters IAM refuses.
pub(crate) fn account_id_from_role_arn(arn: &str) -> Option<String> {
    let (account, resource) = split_iam_arn(arn)?;
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if valid {
        parse_account_id(account)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_have_the_shapes_iam_documents() {
        for name in ["alice", "a+b=c,d.e@f_g-h", "-rf", &"x".repeat(64)] {
            assert!(is_user_name(name), "{name}");
        }
        for name in [
            "",
            "a b",
            "a\nb",
            "ali\u{202e}ce",
            "$(touch x)",
            &"x".repeat(65),
        ] {
            assert!(!is_user_name(name), "{name:?}");
        }
        assert!(is_path("/") && is_path("/eng/ops/"));
        assert!(
            !is_path("eng/") && !is_path("/a b/") && !is_path(&format!("/{}/", "x".repeat(511)))
        );
        assert!(is_access_key_id("AKIAIOSFODNN7EXAMPLE"));
        assert!(!is_access_key_id("AKIA") && !is_access_key_id("AKIA\u{202e}IOSFODNN7EXAMPLE"));
    }

    #[test]
    fn each_partitions_regions_name_its_arns() {
        assert_eq!(partition_of_region("us-east-1"), "aws");
        assert_eq!(partition_of_region("eu-west-1"), "aws");
        assert_eq!(partition_of_region("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of_region("us-gov-east-1"), "aws-us-gov");
        assert_eq!(partition_of_region("cn-north-1"), "aws-cn");
        assert_eq!(partition_of_region("cn-northwest-1"), "aws-cn");
    }

    #[test]
    fn arns_of_every_partition_are_split() {
        for partition in ["aws", "aws-cn", "aws-us-gov"] {
            let arn = format!("arn:{partition}:iam::123456789012:user/a");
            assert_eq!(split_iam_arn(&arn), Some(("123456789012", "user/a")));
        }
    }
}
