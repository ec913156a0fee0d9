//! The AWS Organizations calls discovery makes, counted and classified like the IAM ones: the
//! roots, the OUs under a parent and the accounts under a parent.

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_organizations::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_organizations::types::{AccountState, AccountStatus};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::{record, AwsError, RequestObserver};

/// One account of the organization, where it sits and whether it is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrgAccount {
    pub id: String,
    pub name: String,
    /// `ACTIVE` (by `State`, or by the older `Status` where `State` is missing).
    pub active: bool,
}

/// An organization's structure, read through the management (or delegated administrator)
/// account's credentials.
#[derive(Clone)]
pub(crate) struct Organizations {
    client: aws_sdk_organizations::Client,
    /// Where its requests go, for the messages of their failures.
    at: super::endpoint::Tried,
    observer: Arc<dyn RequestObserver>,
}

impl Organizations {
    pub(crate) fn new(config: &SdkConfig, observer: Arc<dyn RequestObserver>) -> Self {
        // Like the IAM clients: an endpoint never reached is not retried.
        let reach = super::reach::Reach::default();
        Organizations {
            client: aws_sdk_organizations::Client::from_conf(
                aws_sdk_organizations::config::Builder::from(config)
                    .interceptor(reach.clone())
                    .retry_classifier(reach)
                    .build(),
            ),
            at: super::endpoint::organizations(config),
            observer,
        }
    }

    /// The roots: `(id, name)`.
    pub(crate) async fn roots(&self) -> Result<Vec<(String, String)>, AwsError> {
        const OP: &str = "ListRoots";
        self.paged(
            OP,
            |token| self.client.list_roots().set_next_token(token).send(),
            |output, roots| {
                for root in output.roots() {
                    let id = root
                        .id()
                        .ok_or_else(|| AwsError::malformed(OP, "a root has no ID"))?;
                    roots.push((id.to_owned(), root.name().unwrap_or(id).to_owned()));
                }
                Ok(output.next_token().map(str::to_owned))
            },
        )
        .await
    }

    /// The OUs directly under `parent`: `(id, name)`.
    pub(crate) async fn units(&self, parent: &str) -> Result<Vec<(String, String)>, AwsError> {
        const OP: &str = "ListOrganizationalUnitsForParent";
        self.paged(
            OP,
            |token| {
                self.client
                    .list_organizational_units_for_parent()
                    .parent_id(parent)
                    .set_next_token(token)
                    .send()
            },
            |output, units| {
                for unit in output.organizational_units() {
                    let id = unit
                        .id()
                        .ok_or_else(|| AwsError::malformed(OP, "an OU has no ID"))?;
                    units.push((id.to_owned(), unit.name().unwrap_or(id).to_owned()));
                }
                Ok(output.next_token().map(str::to_owned))
            },
        )
        .await
    }

    /// The accounts directly under `parent`.
    pub(crate) async fn accounts(&self, parent: &str) -> Result<Vec<OrgAccount>, AwsError> {
        const OP: &str = "ListAccountsForParent";
        self.paged(
            OP,
            |token| {
                self.client
                    .list_accounts_for_parent()
                    .parent_id(parent)
                    .set_next_token(token)
                    .send()
            },
            |output, accounts| {
                for account in output.accounts() {
                    let id = account
                        .id()
                        .ok_or_else(|| AwsError::malformed(OP, "an account has no ID"))?;
                    let active = match account.state() {
                        Some(state) => *state == AccountState::Active,
                        None => account.status() == Some(&AccountStatus::Active),
                    };
                    accounts.push(OrgAccount {
                        id: id.to_owned(),
                        name: account.name().unwrap_or(id).to_owned(),
                        active,
                    });
                }
                Ok(output.next_token().map(str::to_owned))
            },
        )
        .await
    }

    /// Asks for every page of an Organizations list: `page` sends one request for a token,
    /// `take` keeps what the page holds and gives the next token (none or empty: the last).
    async fn paged<O, E, T, Fut>(
        &self,
        operation: &'static str,
        page: impl Fn(Option<String>) -> Fut,
        mut take: impl FnMut(&O, &mut Vec<T>) -> Result<Option<String>, AwsError>,
    ) -> Result<Vec<T>, AwsError>
    where
        Fut: std::future::Future<Output = Result<O, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut items = Vec::new();
        let mut token = None;
        loop {
            let output = record(
                self.observer.as_ref(),
                operation,
                &self.at,
                page(token).await,
            )?;
            match take(&output, &mut items)? {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(items),
            }
        }
    }
}
