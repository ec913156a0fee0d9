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

/// A 12-digit AWS account ID, or `None`.
pub(crate) fn parse_account_id(text: &str) -> Option<String> {
    (text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.to_owned())
}

/// `arn:aws:iam::123456789012:role/name` (any partition) → `123456789012`.
pub(crate) fn account_id_from_role_arn(arn: &str) -> Option<String> {
    let (account, resource) = split_iam_arn(arn)?;
    resource
        .starts_with("role/")
        .then(|| parse_account_id(account))
        .flatten()
}
