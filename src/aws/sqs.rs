//! The events queue: SQS long polling, counted and classified like the IAM calls. The queue
//! lives in the exporter's own account and is read with its own credentials.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;

use super::{record, AwsError, RequestObserver};

/// One message as received: its body and the handle that deletes it.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) body: String,
    pub(crate) receipt: String,
}

/// The queue IAM change events arrive in.
#[derive(Clone)]
pub(crate) struct Sqs {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    /// Where its requests go, for the messages of their failures.
    at: super::endpoint::Tried,
    observer: Arc<dyn RequestObserver>,
}

impl Sqs {
    pub(crate) fn new(
        config: &SdkConfig,
        queue_url: String,
        observer: Arc<dyn RequestObserver>,
    ) -> Self {
        Sqs {
            client: aws_sdk_sqs::Client::new(config),
            at: super::endpoint::sqs(config),
            queue_url,
            observer,
        }
    }

    /// Up to ten messages, waiting up to `wait` (at most 20 s) for the first one.
    pub(crate) async fn receive(&self, wait: Duration) -> Result<Vec<Message>, AwsError> {
        const OP: &str = "ReceiveMessage";
        let output = record(
            self.observer.as_ref(),
            OP,
            &self.at,
            self.client
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait.as_secs().min(20) as i32)
                .send()
                .await,
        )?;
        Ok(output
            .messages()
            .iter()
            .filter_map(|message| {
                Some(Message {
                    body: message.body().unwrap_or_default().to_owned(),
                    receipt: message.receipt_handle()?.to_owned(),
                })
            })
            .collect())
    }

    /// Deletes a message that was handled.
    pub(crate) async fn delete(&self, receipt: &str) -> Result<(), AwsError> {
        const OP: &str = "DeleteMessage";
        record(
            self.observer.as_ref(),
            OP,
            &self.at,
            self.client
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(receipt)
                .send()
                .await,
        )?;
        Ok(())
    }

    /// Messages waiting (`ApproximateNumberOfMessages`): the backlog.
    pub(crate) async fn backlog(&self) -> Result<Option<u64>, AwsError> {
        const OP: &str = "GetQueueAttributes";
        let output = record(
            self.observer.as_ref(),
            OP,
            &self.at,
            self.client
                .get_queue_attributes()
                .queue_url(&self.queue_url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .send()
                .await,
        )?;
        Ok(output
            .attributes()
            .and_then(|attributes| attributes.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|count| count.parse().ok()))
    }
}
