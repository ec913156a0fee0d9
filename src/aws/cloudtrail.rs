//! CloudTrail's `LookupEvents`: the record of the `CreateAccessKey` that made a key, to say who
//! created an offender's key (`collector.key_creators`). IAM is global and CloudTrail records
//! its calls in the partition's IAM home region (`us-east-1`, `us-gov-west-1`, `cn-north-1`),
//! where the account's event history keeps them 90 days. CloudTrail allows this call two
//! requests a second per account and region: the caller spaces them; this client never retries
//! (a retry would be one more request against that small budget).

use aws_config::{Region, SdkConfig};
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_smithy_types::DateTime;

use super::{AwsError, Iam};

/// How far either side of a key's creation time its record is looked for: CloudTrail's event
/// time and IAM's `CreateDate` are the same call's, seconds apart at most.
const AROUND_CREATION: i64 = 300;

/// The most events one lookup asks for; the window around a key's creation holds a handful.
const MAX_RESULTS: i32 = 50;

/// The client for the partition's IAM home region: where IAM's calls are recorded.
pub(super) fn client(
    config: &SdkConfig,
    attempts: super::attempts::Attempts,
) -> (aws_sdk_cloudtrail::Client, super::endpoint::Tried) {
    let region = config
        .region()
        .map_or(super::DEFAULT_REGION, |region| home_region(region.as_ref()));
    let tried = super::endpoint::cloudtrail(config, region);
    let config = aws_sdk_cloudtrail::config::Builder::from(config)
        .region(Region::new(region))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .interceptor(attempts)
        .interceptor(super::strict::Strict)
        .retry_classifier(super::capped::NoRetryWhenTooLarge)
        .build();
    (aws_sdk_cloudtrail::Client::from_conf(config), tried)
}

/// The IAM home region of the partition `region` is in.
fn home_region(region: &str) -> &'static str {
    match crate::arn::partition_of_region(region) {
        "aws-cn" => "cn-north-1",
        "aws-us-gov" => "us-gov-west-1",
        _ => super::DEFAULT_REGION,
    }
}

impl Iam {
    /// The CloudTrail records (JSON) of the `CreateAccessKey` calls that name `key_id`,
    /// looked for around `created` (the key's `CreateDate`, Unix seconds): one request.
    pub(crate) async fn key_creation_records(
        &self,
        key_id: &str,
        created: i64,
    ) -> Result<Vec<String>, AwsError> {
        const OP: &str = "LookupEvents";
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::ResourceName)
            .attribute_value(key_id)
            .build()
            .map_err(|err| AwsError::malformed(OP, err.to_string()))?;
        let output = super::record(
            self.observer.as_ref(),
            OP,
            &self.at.trail,
            self.trail
                .lookup_events()
                .lookup_attributes(attribute)
                .start_time(DateTime::from_secs(created - AROUND_CREATION))
                .end_time(DateTime::from_secs(created + AROUND_CREATION))
                .max_results(MAX_RESULTS)
                .send()
                .await,
        )?;
        Ok(output
            .events()
            .iter()
            .filter(|event| event.event_name() == Some("CreateAccessKey"))
            .filter_map(|event| event.cloud_trail_event().map(str::to_owned))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iams_calls_are_looked_up_in_the_partitions_home_region() {
        assert_eq!(home_region("eu-west-1"), "us-east-1");
        assert_eq!(home_region("us-gov-east-1"), "us-gov-west-1");
        assert_eq!(home_region("cn-northwest-1"), "cn-north-1");
    }
}
