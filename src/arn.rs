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
