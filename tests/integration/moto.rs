//! A real `moto_server` on a free loopback port, one per test, and seeding through the SDK.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_iam::config::{BehaviorVersion, Region, SharedCredentialsProvider};

use crate::helpers::{free_port, test_credentials, tool};

pub struct Moto {
    port: u16,
    child: Option<Child>,
    /// Whether this is `tests/moto-clock.py` (moto with a clock tests set).
    clock: bool,
}

impl Moto {
    /// Starts moto and waits until it answers.
    pub async fn start() -> Moto {
        Self::started(false).await
    }

    /// Starts moto's server with a clock the test sets ([`Moto::set_clock`]), for keys created
    /// and used months ago.
    pub async fn start_with_clock() -> Moto {
        Self::started(true).await
    }

    async fn started(clock: bool) -> Moto {
        let mut moto = Moto {
            port: free_port(),
            child: None,
            clock,
        };
        moto.launch().await;
        moto
    }

    /// Moves moto's clock to `unix_seconds` (it keeps ticking from there); `None`: real time.
    pub async fn set_clock(&self, unix_seconds: Option<i64>) {
        self.clock_request(unix_seconds.map(|at| format!("/_clock?at={at}")))
            .await;
    }

    /// Stops moto's clock at `unix_seconds`: everything happens in that very second.
    pub async fn freeze_clock(&self, unix_seconds: i64) {
        self.clock_request(Some(format!("/_clock?at={unix_seconds}&tick=no")))
            .await;
    }

    /// Sets what moto's `GetAccountSummary` answers for root's keys in `account` (moto cannot
    /// create a root user's key; `tests/moto-clock.py` sets moto's own flag).
    pub async fn set_root_access_keys(&self, account: &str, present: bool) {
        self.clock_request(Some(format!(
            "/_root_access_keys?account={account}&present={}",
            u8::from(present)
        )))
        .await;
    }

    async fn clock_request(&self, set: Option<String>) {
        assert!(self.clock, "start moto with Moto::start_with_clock");
        let addr = ([127, 0, 0, 1], self.port).into();
        let response = match set {
            Some(path) => iam_key_exporter_testkit::request(addr, "POST", &path, &[]).await,
            None => iam_key_exporter_testkit::request(addr, "DELETE", "/_clock", &[]).await,
        };
        assert_eq!(response.status, 204, "{}", response.text());
    }

    async fn launch(&mut self) {
        let mut command = if self.clock {
            let mut command = Command::new(tool("python3", "MOTO_PYTHON"));
            command.arg(crate::helpers::project_dir().join("tests/moto-clock.py"));
            command.arg(self.port.to_string());
            command
        } else {
            let mut command = Command::new(tool("moto_server", "MOTO_SERVER"));
            command.args(["-H", "127.0.0.1", "-p", &self.port.to_string()]);
            command
        };
        let program = command.get_program().to_owned();
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", program.to_string_lossy()));
        self.child = Some(child);
        let addr = ([127, 0, 0, 1], self.port).into();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            // A server still starting may accept and then reset: not up yet, not a failure.
            let answered = iam_key_exporter_testkit::try_request(addr, "GET", "/moto-api/", &[])
                .await
                .is_ok_and(|response| response.status < 500);
            if answered {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("moto_server exited at start: {status}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "moto_server did not answer on port {} within 30s",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills moto: its state is gone, as in a real outage of a stand-in.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts moto again on the same port (empty).
    pub async fn restart(&mut self) {
        self.stop();
        self.launch().await;
    }

    /// The SDK configuration the seeding clients share, with `credentials`.
    fn sdk(&self, credentials: SharedCredentialsProvider) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .http_client(crate::helpers::sdk_http_client())
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(credentials)
            .build()
    }

    /// Signs one request with a key, which moto records as the key's last use.
    pub async fn use_key(&self, id: &str, secret: &str) {
        let credentials = SharedCredentialsProvider::new(aws_sdk_iam::config::Credentials::new(
            id, secret, None, None, "use",
        ));
        aws_sdk_sts::Client::new(&self.sdk(credentials))
            .get_caller_identity()
            .send()
            .await
            .unwrap_or_else(|err| panic!("use key {id}: {err:?}"));
    }

    /// An IAM client signing with a user's key (for moto with its checks on).
    pub fn iam_as(&self, id: &str, secret: &str) -> aws_sdk_iam::Client {
        let credentials = SharedCredentialsProvider::new(aws_sdk_iam::config::Credentials::new(
            id, secret, None, None, "user",
        ));
        aws_sdk_iam::Client::new(&self.sdk(credentials))
    }

    /// An SQS client, as the account that owns the events queue.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk(test_credentials()))
    }

    /// An SDK client for seeding.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk(test_credentials()))
    }
}

impl Moto {
    /// An SDK client for AWS Organizations, as the management account.
    pub fn organizations(&self) -> aws_sdk_organizations::Client {
        aws_sdk_organizations::Client::new(&self.sdk(test_credentials()))
    }

    /// An IAM client inside `account`, through a role assumed there (moto keeps each
    /// account's IAM apart).
    pub async fn member_iam(&self, account: &str) -> aws_sdk_iam::Client {
        let sts = aws_sdk_sts::Client::new(&self.sdk(test_credentials()));
        let assumed = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/audit"))
            .role_session_name("seed")
            .send()
            .await
            .unwrap();
        let creds = assumed.credentials().unwrap();
        let credentials = SharedCredentialsProvider::new(aws_sdk_iam::config::Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_owned()),
            None,
            "seed",
        ));
        aws_sdk_iam::Client::new(&self.sdk(credentials))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Seeding shortcuts.
pub struct Seed(pub aws_sdk_iam::Client);

impl Seed {
    pub async fn user(&self, name: &str, path: &str) {
        self.0
            .create_user()
            .user_name(name)
            .path(path)
            .send()
            .await
            .unwrap_or_else(|err| panic!("create user {name}: {err:?}"));
    }

    /// Creates a key and returns its ID and secret.
    pub async fn key_with_secret(&self, user: &str) -> (String, String) {
        let out = self
            .0
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .unwrap_or_else(|err| panic!("create key for {user}: {err:?}"));
        let key = out.access_key().unwrap();
        (
            key.access_key_id().to_owned(),
            key.secret_access_key().to_owned(),
        )
    }

    /// Tags a user.
    pub async fn tag(&self, user: &str, tags: &[(&str, &str)]) {
        let tags: Vec<aws_sdk_iam::types::Tag> = tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_iam::types::Tag::builder()
                    .key(*k)
                    .value(*v)
                    .build()
                    .unwrap()
            })
            .collect();
        self.0
            .tag_user()
            .user_name(user)
            .set_tags(Some(tags))
            .send()
            .await
            .unwrap_or_else(|err| panic!("tag {user}: {err:?}"));
    }

    /// `(key ID, status)` of each of the user's keys, as IAM lists them.
    pub async fn statuses(&self, user: &str) -> Vec<(String, String)> {
        let keys = self
            .0
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .unwrap_or_else(|err| panic!("list keys of {user}: {err:?}"));
        let mut statuses: Vec<(String, String)> = keys
            .access_key_metadata()
            .iter()
            .map(|key| {
                (
                    key.access_key_id().unwrap().to_owned(),
                    key.status().unwrap().as_str().to_owned(),
                )
            })
            .collect();
        statuses.sort();
        statuses
    }

    /// Creates a key and returns its ID.
    pub async fn key(&self, user: &str) -> String {
        let out = self
            .0
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .unwrap_or_else(|err| panic!("create key for {user}: {err:?}"));
        out.access_key().unwrap().access_key_id().to_owned()
    }

    pub async fn deactivate(&self, user: &str, key: &str) {
        self.0
            .update_access_key()
            .user_name(user)
            .access_key_id(key)
            .status(aws_sdk_iam::types::StatusType::Inactive)
            .send()
            .await
            .unwrap_or_else(|err| panic!("deactivate {key}: {err:?}"));
    }

    /// Deletes a user and its keys.
    pub async fn delete_user(&self, user: &str) {
        let keys = self
            .0
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .unwrap();
        for key in keys.access_key_metadata() {
            self.0
                .delete_access_key()
                .user_name(user)
                .access_key_id(key.access_key_id().unwrap())
                .send()
                .await
                .unwrap();
        }
        self.0.delete_user().user_name(user).send().await.unwrap();
    }

    /// A user with `active` active and `inactive` inactive keys; returns the key IDs.
    pub async fn user_with_keys(
        &self,
        name: &str,
        path: &str,
        active: usize,
        inactive: usize,
    ) -> Vec<String> {
        self.user(name, path).await;
        let mut ids = Vec::new();
        for i in 0..active + inactive {
            let id = self.key(name).await;
            if i >= active {
                self.deactivate(name, &id).await;
            }
            ids.push(id);
        }
        ids
    }
}
