//! The set of watched accounts: one source per account, each with its own IAM clients (the base
//! credentials, or a role assumed in the account), all sharing one base SDK configuration.
//!
//! Today the set is fixed at start-up from `[[accounts]]`; this is where discovery and sharding
//! will change it.

use std::sync::Arc;

use aws_sdk_iam::config::SharedCredentialsProvider;

use crate::aws::{self, Iam, LastFailure, RequestObserver};
use crate::config::Config;
use crate::source::{self, Account, Source};

/// Builds one source per configured account.
///
/// `credentials` replaces the default credential chain (tests and embedders); the binary
/// passes `None`.
pub(crate) async fn watched(
    config: &Config,
    observer: Arc<dyn RequestObserver>,
    credentials: Option<SharedCredentialsProvider>,
) -> Vec<Arc<dyn Source>> {
    let base = aws::sdk_config(&config.aws, credentials).await;
    let mut sources = Vec::with_capacity(config.accounts.len());
    for account in &config.accounts {
        let sdk = aws::account_sdk_config(&base, account, &config.aws).await;
        let last_failure = LastFailure::default();
        let iam = Iam::new(&sdk, observer.clone(), last_failure.clone());
        sources.push(source::build(
            Account::new(iam, account.account_id.clone(), last_failure),
            &config.collector,
        ));
    }
    sources
}
