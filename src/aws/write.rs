//! The one write the project ever makes, apart from every read so that a test can hold the
//! policies to it: `remediate --apply` deactivating a key. The daemon never calls it; the
//! read-only policy does not allow it (`deploy/iam/iam-key-exporter-remediation-policy.json`
//! does, for the remediation role only). Nothing here deletes anything.

use super::{AwsError, Iam};

impl Iam {
    /// Makes one access key of `user` inactive (`UpdateAccessKey --status Inactive`): it stops
    /// working at once, and `Active` brings it back unchanged.
    pub(crate) async fn deactivate_access_key(
        &self,
        user: &str,
        key_id: &str,
    ) -> Result<(), AwsError> {
        const OP: &str = "UpdateAccessKey";
        self.record(
            OP,
            self.iam
                .update_access_key()
                .user_name(user)
                .access_key_id(key_id)
                .status(aws_sdk_iam::types::StatusType::Inactive)
                .send()
                .await,
        )?;
        Ok(())
    }
}
