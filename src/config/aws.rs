//! `[aws]`: how the AWS SDK reaches AWS.

use std::time::Duration;

use super::settings::{boolean, duration, optional, size, url, whole, Bad, Setting, DURATION};

/// How the AWS SDK is set up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AwsConfig {
    /// Region for signing; `None` takes the SDK's default chain, then `us-east-1`.
    pub region: Option<String>,
    /// FIPS endpoints (`aws.use_fips`), for workloads that must use FIPS 140 validated
    /// cryptography (FedRAMP, GovCloud).
    pub use_fips: bool,
    /// Endpoint override; `None` keeps `AWS_ENDPOINT_URL` or the real endpoint.
    pub endpoint_url: Option<String>,
    /// Named profile of the shared config files; `None` keeps `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// Attempts per request, the first included; throttling is retried with back-off.
    pub max_attempts: u32,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one attempt of one request.
    pub attempt_timeout: Duration,
    /// The largest response read, in bytes (the credential report of 5,000 users is some
    /// 1.5 MB; 100,000 users some 40 MB).
    pub max_response_size: usize,
    /// Requests per second to one account, every attempt counted; `None`: no cap.
    pub max_requests_per_second: Option<u32>,
}

pub(crate) const REGION: Setting = Setting {
    key: "aws.region",
    flag: None,
    default: None,
    help:
        "Region for request signing; unset: AWS_REGION, then the profile's region, then us-east-1.",
    expected: "a region name like `us-east-1`, `eu-west-1`, `us-gov-west-1` or `cn-north-1` \
               (lower case: an area, one or more words and a number, joined by `-`)",
    list: false,
    apply: |text, d| {
        d.aws.region = optional(text).map(region).transpose()?;
        Ok(())
    },
};

/// A region must be region-shaped: a typo such as `us-east1` or `US-EAST-1` would otherwise be
/// sent to an endpoint that does not exist, and found out only when the first request fails.
/// The shape, not a list: AWS adds regions (and partitions, `eusc-de-east-1`) every year.
fn region(text: String) -> Result<String, Bad> {
    let parts: Vec<&str> = text.split('-').collect();
    let (Some(number), Some(area)) = (parts.last(), parts.first()) else {
        return Err(Bad::Whole);
    };
    let word = |part: &&str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase());
    let shaped = parts.len() >= 3
        && (2..=4).contains(&area.len())
        && parts[..parts.len() - 1].iter().all(word)
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit());
    if shaped {
        Ok(text)
    } else {
        Err(Bad::Whole)
    }
}

pub(crate) const USE_FIPS: Setting = Setting {
    key: "aws.use_fips",
    flag: None,
    default: Some("false"),
    help: "Use AWS's FIPS 140 endpoints where the service has them (IAM, STS, Organizations, SQS in the US and GovCloud regions).",
    expected: "`true` or `false`",
    list: false,
    apply: |text, d| {
        d.aws.use_fips = boolean(text)?;
        Ok(())
    },
};

pub(crate) const ENDPOINT_URL: Setting = Setting {
    key: "aws.endpoint_url",
    flag: None,
    default: None,
    help: "Endpoint override, for a local stand-in; unset: AWS_ENDPOINT_URL or the real endpoint.",
    expected: "a URL starting with `http://` or `https://`",
    list: false,
    apply: |text, d| {
        d.aws.endpoint_url = optional(text).map(url).transpose()?;
        Ok(())
    },
};

pub(crate) const PROFILE: Setting = Setting {
    key: "aws.profile",
    flag: None,
    default: None,
    help: "Named profile of the shared AWS config files; unset: AWS_PROFILE or `default`.",
    expected: "a profile name",
    list: false,
    apply: |text, d| {
        d.aws.profile = optional(text);
        Ok(())
    },
};

pub(crate) const MAX_ATTEMPTS: Setting = Setting {
    key: "aws.max_attempts",
    flag: None,
    default: Some("8"),
    help: "Attempts per AWS request, the first included; throttling and 5xx are retried with back-off.",
    expected: "a whole number from 1 to 20",
    list: false,
    apply: |text, d| {
        d.aws.max_attempts = whole(text, 1, 20)? as u32;
        Ok(())
    },
};

pub(crate) const CONNECT_TIMEOUT: Setting = Setting {
    key: "aws.connect_timeout",
    flag: None,
    default: Some("5s"),
    help: "Time allowed to open a connection to AWS.",
    expected: DURATION,
    list: false,
    apply: |text, d| {
        d.aws.connect_timeout = duration(text)?;
        Ok(())
    },
};

pub(crate) const ATTEMPT_TIMEOUT: Setting = Setting {
    key: "aws.attempt_timeout",
    flag: None,
    default: Some("30s"),
    help: "Time allowed for one attempt of one AWS request.",
    expected: DURATION,
    list: false,
    apply: |text, d| {
        d.aws.attempt_timeout = duration(text)?;
        Ok(())
    },
};

pub(crate) const MAX_RESPONSE_SIZE: Setting = Setting {
    key: "aws.max_response_size",
    flag: None,
    default: Some("32MiB"),
    help: "The largest AWS response read; a larger one fails its request instead of exhausting memory.",
    expected: "a size like `32MiB` or `64MB`, from 1MiB to 1GiB",
    list: false,
    apply: |text, d| {
        d.aws.max_response_size = size(text)?;
        Ok(())
    },
};

pub(crate) const MAX_REQUESTS_PER_SECOND: Setting = Setting {
    key: "aws.max_requests_per_second",
    flag: None,
    default: Some("0"),
    help: "Requests per second to one account, retries included; 0: no cap. IAM's limits are per account and shared.",
    expected: "a whole number from 0 (no cap) to 1000",
    list: false,
    apply: |text, d| {
        d.aws.max_requests_per_second = Some(whole(text, 0, 1000)? as u32).filter(|n| *n > 0);
        Ok(())
    },
};

/// The section's settings, in the order of the README's table and the example files.
pub(crate) const SETTINGS: &[&Setting] = &[
    &REGION,
    &USE_FIPS,
    &ENDPOINT_URL,
    &PROFILE,
    &MAX_ATTEMPTS,
    &CONNECT_TIMEOUT,
    &ATTEMPT_TIMEOUT,
    &MAX_RESPONSE_SIZE,
    &MAX_REQUESTS_PER_SECOND,
];

#[cfg(test)]
mod tests {
    use super::region;
    use crate::config::{Config, ConfigError, Overrides};

    #[test]
    fn regions_of_every_partition_are_region_shaped() {
        for name in [
            "us-east-1",
            "eu-west-1",
            "ap-southeast-4",
            "us-gov-west-1",
            "cn-north-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eusc-de-east-1",
            "il-central-1",
        ] {
            assert_eq!(region(name.to_owned()), Ok(name.to_owned()), "{name}");
        }
    }

    #[test]
    fn a_region_typo_is_refused() {
        for typo in [
            "us-east1",
            "useast-1",
            "US-EAST-1",
            "us-east-",
            "us--east-1",
            "us-east-1a",
            "us-east-100",
            "us east 1",
            "eu-west-1 ",
            "-us-east-1",
            "iam.amazonaws.com",
            "https://us-east-1",
            "global",
        ] {
            assert!(region(typo.to_owned()).is_err(), "{typo:?}");
        }
    }

    /// Through the loader: the key, its origin, the value and what a region looks like, all in
    /// one message (a config error: exit 2 before anything starts).
    #[test]
    fn the_loader_refuses_a_region_that_is_not_region_shaped_and_says_what_one_looks_like() {
        let vars = [(
            "IAM_KEY_EXPORTER_AWS__REGION".to_owned(),
            "us-est1".to_owned(),
        )];
        let Err(ConfigError::Invalid(errors)) = Config::load_from(&Overrides::default(), vars)
        else {
            panic!("a malformed region was accepted");
        };
        assert_eq!(errors.len(), 1, "{errors:?}");
        let message = errors[0].to_string();
        for part in [
            "`aws.region`",
            "IAM_KEY_EXPORTER_AWS__REGION",
            "`us-est1`",
            "`us-east-1`",
            "`us-gov-west-1`",
            "`cn-north-1`",
        ] {
            assert!(message.contains(part), "{part}: {message}");
        }
        let vars = [(
            "IAM_KEY_EXPORTER_AWS__REGION".to_owned(),
            "eu-west-1".to_owned(),
        )];
        let config = Config::load_from(&Overrides::default(), vars).unwrap();
        assert_eq!(config.aws.region.as_deref(), Some("eu-west-1"));
    }
}
