//! The one write the project ever makes, apart from every read so that a test can hold the
//! policies to it: `remediate --apply` changing a key's status (deactivating it, or, to undo
//! its own change when a racing writer left the user without an active key, activating the key
//! it had just deactivated). The daemon never calls it; the read-only policy does not allow it
//! (`deploy/iam/iam-key-exporter-remediation-policy.json` does, for the remediation role only).
//! Nothing here deletes anything.

use super::{AwsError, Iam};

impl Iam {
    /// Makes one access key of `user` inactive (`UpdateAccessKey --status Inactive`): it stops
    /// working at once, and `Active` brings it back unchanged.
    pub(crate) async fn deactivate_access_key(
        &self,
        user: &str,
        key_id: &str,
    ) -> Result<(), AwsError> {
        self.set_access_key_status(user, key_id, aws_sdk_iam::types::StatusType::Inactive)
            .await
    }

    /// Makes a key this run deactivated active again (`UpdateAccessKey --status Active`).
    pub(crate) async fn reactivate_access_key(
        &self,
        user: &str,
        key_id: &str,
    ) -> Result<(), AwsError> {
        self.set_access_key_status(user, key_id, aws_sdk_iam::types::StatusType::Active)
            .await
    }

    async fn set_access_key_status(
        &self,
        user: &str,
        key_id: &str,
        status: aws_sdk_iam::types::StatusType,
    ) -> Result<(), AwsError> {
        const OP: &str = "UpdateAccessKey";
        self.record(
            OP,
            self.iam
                .update_access_key()
                .user_name(user)
                .access_key_id(key_id)
                .status(status)
                .send()
                .await,
        )?;
        Ok(())
    }
}
