//! What a client's requests were sent to, for messages: the endpoint (the `aws.endpoint_url`
//! override, else what the service's own resolver makes of the region and `aws.use_fips`) and
//! the region, so that a failure says what was tried ("ListUsers request failed (network) at
//! https://iam.amazonaws.com (region us-east-1)") and a typo in either can be seen in it.

use std::fmt;
use std::sync::Arc;

use aws_config::SdkConfig;
use futures_util::FutureExt;

/// Where one client's requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tried(Arc<(String, String)>);

impl Tried {
    fn new(url: String, region: &str) -> Self {
        Tried(Arc::new((url, region.to_owned())))
    }

    /// The endpoint's URL.
    #[cfg(test)]
    pub(crate) fn url(&self) -> &str {
        &self.0 .0
    }
}

impl fmt::Display for Tried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (region {})", self.0 .0, self.0 .1)
    }
}

/// The endpoint of one service for `config`, in `region` (the config's own when `None`).
macro_rules! resolve {
    ($service:ident, $config:expr, $region:expr) => {{
        use $service::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
        let config: &SdkConfig = $config;
        let region: Option<&str> = $region.or(config.region().map(|r| r.as_ref()));
        let mut params = Params::builder().use_fips(config.use_fips().unwrap_or(false));
        if let Some(region) = region {
            params = params.region(region);
        }
        if let Some(url) = config.endpoint_url() {
            params = params.endpoint(url);
        }
        // The default resolver answers at once (its rules are evaluated inline); a resolver
        // that would not, or parameters it refuses, leave the SDK's own error to say why.
        let url = params
            .build()
            .ok()
            .and_then(|params| {
                DefaultResolver::new()
                    .resolve_endpoint(&params)
                    .now_or_never()
            })
            .and_then(Result::ok)
            .map_or_else(
                || "the default endpoint".to_owned(),
                |endpoint| endpoint.url().to_owned(),
            );
        Tried::new(url, region.unwrap_or("none"))
    }};
}

/// IAM's endpoint.
pub(crate) fn iam(config: &SdkConfig) -> Tried {
    resolve!(aws_sdk_iam, config, None::<&str>)
}

/// STS's endpoint (regional).
pub(crate) fn sts(config: &SdkConfig) -> Tried {
    resolve!(aws_sdk_sts, config, None::<&str>)
}

/// CloudTrail's endpoint in `region` (the IAM home region).
pub(crate) fn cloudtrail(config: &SdkConfig, region: &str) -> Tried {
    resolve!(aws_sdk_cloudtrail, config, Some(region))
}

/// Organizations' endpoint.
pub(crate) fn organizations(config: &SdkConfig) -> Tried {
    resolve!(aws_sdk_organizations, config, None::<&str>)
}

/// SQS's endpoint.
pub(crate) fn sqs(config: &SdkConfig) -> Tried {
    resolve!(aws_sdk_sqs, config, None::<&str>)
}

#[cfg(test)]
mod tests {
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use aws_sdk_iam::config::endpoint::ResolveEndpoint;

    fn config(region: &str, endpoint: Option<&str>) -> SdkConfig {
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()));
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        builder.build()
    }

    #[test]
    fn each_service_names_the_endpoint_and_region_its_requests_go_to() {
        let typo = config("us-eats-1", None);
        assert_eq!(
            super::sts(&typo).to_string(),
            "https://sts.us-eats-1.amazonaws.com (region us-eats-1)"
        );
        assert_eq!(
            super::iam(&typo).to_string(),
            "https://iam.amazonaws.com (region us-eats-1)"
        );
        assert_eq!(
            super::cloudtrail(&typo, "us-east-1").to_string(),
            "https://cloudtrail.us-east-1.amazonaws.com (region us-east-1)"
        );
        let china = config("cn-north-1", None);
        assert_eq!(
            super::iam(&china).url(),
            "https://iam.cn-north-1.amazonaws.com.cn"
        );
        assert!(super::organizations(&china)
            .url()
            .ends_with(".amazonaws.com.cn"));
        assert!(super::sqs(&china).url().contains("cn-north-1"));
    }

    #[test]
    fn an_endpoint_override_is_named_as_given() {
        let local = config("eu-west-1", Some("http://127.0.0.1:5000"));
        for tried in [
            super::iam(&local),
            super::sts(&local),
            super::organizations(&local),
            super::sqs(&local),
            super::cloudtrail(&local, "us-east-1"),
        ] {
            assert_eq!(tried.url(), "http://127.0.0.1:5000");
        }
        assert_eq!(
            super::iam(&local).to_string(),
            "http://127.0.0.1:5000 (region eu-west-1)"
        );
    }

    /// Where IAM's requests go, and the region they are signed for, for a region of each
    /// partition, with and without `aws.use_fips`: as the AWS General Reference lists IAM's
    /// endpoints (iam.amazonaws.com and iam-fips.amazonaws.com signed for us-east-1,
    /// iam.us-gov.amazonaws.com for us-gov-west-1, iam.cn-north-1.amazonaws.com.cn for
    /// cn-north-1). The SDK's own resolver answers; this holds the exporter's assumption (set the
    /// region to any region of the partition) to it.
    #[tokio::test]
    async fn iam_resolves_to_each_partitions_endpoint_and_signing_region() {
        for (region, fips, url, signing) in [
            ("us-east-1", false, "https://iam.amazonaws.com", "us-east-1"),
            ("eu-west-1", false, "https://iam.amazonaws.com", "us-east-1"),
            (
                "us-east-1",
                true,
                "https://iam-fips.amazonaws.com",
                "us-east-1",
            ),
            (
                "us-gov-east-1",
                false,
                "https://iam.us-gov.amazonaws.com",
                "us-gov-west-1",
            ),
            (
                "us-gov-west-1",
                true,
                "https://iam.us-gov.amazonaws.com",
                "us-gov-west-1",
            ),
            (
                "cn-northwest-1",
                false,
                "https://iam.cn-north-1.amazonaws.com.cn",
                "cn-north-1",
            ),
        ] {
            let params = aws_sdk_iam::config::endpoint::Params::builder()
                .region(region)
                .use_fips(fips)
                .build()
                .unwrap();
            let endpoint = aws_sdk_iam::config::endpoint::DefaultResolver::new()
                .resolve_endpoint(&params)
                .await
                .unwrap();
            assert_eq!(endpoint.url(), url, "{region} fips={fips}");
            let schemes = format!("{endpoint:?}");
            assert!(
                schemes.contains("signingRegion") && schemes.contains(&format!("\"{signing}\"")),
                "{region} fips={fips}: {schemes}"
            );
        }
    }
}
