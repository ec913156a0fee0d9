//! A faithful fake of the IAM (and STS `GetCallerIdentity`) Query API, for what moto cannot do:
//! real `MaxItems`/`Marker`/`IsTruncated` pagination, credential report states with a
//! `<root_account>` row, latency, and injected faults (throttling, 5xx, malformed bodies,
//! connection resets, slow answers). Test and benchmark support only; not part of the product.
//!
//! It serves whatever is in its [`State`], which tests edit while it runs. Member accounts
//! ([`FakeIam::add_member`]), each with a state of its own, are reached as in AWS: `AssumeRole`
//! into `arn:aws:iam::ACCOUNT:role/...` gives credentials, and requests signed with them are
//! answered from that account's state.
//!
//! It also serves CloudTrail's `LookupEvents` ([`cloudtrail`]), in CloudTrail's JSON 1.1
//! protocol on the same endpoint: each account's [`State::trail`] of CloudTrail records, the
//! last 90 days of them, newest first, paged by `NextToken`, at CloudTrail's rate of two
//! requests per second per account and region, refused when [`State::lookup_denied`]. Its
//! requests are counted, and its faults injected, under the action name `LookupEvents`.

pub mod cloudtrail;

pub use cloudtrail::{Lookup, TrailRecord, TrailResource};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// Every answer's body: most are whole, a huge one streams.
type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// IAM's own cap on `MaxItems`.
pub const IAM_MAX_ITEMS: usize = 1000;

/// One access key.
#[derive(Debug, Clone)]
pub struct FakeKey {
    pub id: String,
    pub active: bool,
    pub created: i64,
    pub last_used: Option<i64>,
}

/// One user.
#[derive(Debug, Clone)]
pub struct FakeUser {
    pub path: String,
    pub keys: Vec<FakeKey>,
    /// `(key, value)` tags, as `ListUserTags` lists them.
    pub tags: Vec<(String, String)>,
}

/// The credential report's state, as IAM's two report calls see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// Never generated: `GetCredentialReport` answers `ReportNotPresent`.
    Absent,
    /// Generated long ago: `GetCredentialReport` answers `ReportExpired`.
    Expired,
    /// Being generated: `GenerateCredentialReport` answers `INPROGRESS` this many more times.
    InProgress { polls_left: u32 },
    /// Ready, generated at this Unix time; its content is [`State::report_csv`], the users as
    /// they were then (later changes are not in it, as with AWS).
    Complete { generated: i64 },
}

/// What a fault does to a request. A `LookupEvents` request gets the same in CloudTrail's JSON
/// (`ThrottlingException`, `InternalFailure`, `AccessDeniedException`, a body that is not
/// JSON, `NextToken`s that go round); the kinds about users, keys and `ListUsers` do nothing
/// to it.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// HTTP 400 `Throttling: Rate exceeded`.
    Throttle,
    /// HTTP 500 `ServiceFailure`.
    ServerError,
    /// HTTP 200 with a body that is not XML.
    Malformed,
    /// The connection is closed without an answer.
    Reset,
    /// The answer comes after this long.
    Delay(Duration),
    /// HTTP 403 `AccessDenied`.
    AccessDenied,
    /// HTTP 404 `NoSuchEntity`, as for an entity deleted in the meantime.
    NoSuchEntity,
    /// HTTP 409 `LimitExceeded`, as the IAM API Reference documents it for
    /// `GenerateCredentialReport` ("The request was rejected because it attempted to create
    /// resources beyond the current AWS account limits"): too many reports at once.
    LimitExceeded,
    /// The answer the fake would give, rewritten by this function (cut off, an element dropped,
    /// a status changed): what a broken or hostile endpoint sends. A rewrite to an
    /// `<ErrorResponse>` is sent with HTTP 403.
    Rewrite(fn(&str) -> String),
    /// Paged answers whose markers go round: none -> `m0` -> `m1` -> `m0`..., each page the
    /// first page again, with `IsTruncated` true.
    MarkerCycle,
    /// `ListUsers` without end: every page 1,000 new users and a new marker.
    EndlessUsers,
    /// Someone else deactivates this key (of any user) just before the request is answered:
    /// a writer racing the exporter's own change.
    RacingDeactivation(String),
    /// HTTP 200 with a body of this many bytes, streamed in 1 MiB chunks; with its length
    /// declared in `Content-Length`, or (`declared: false`) without.
    Huge { bytes: usize, declared: bool },
}

/// A fault injected into matching requests.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The action it applies to (`None`: every action).
    pub action: Option<String>,
    /// Only for requests naming this user (`UserName`).
    pub user: Option<String>,
    pub kind: FaultKind,
    /// How many more requests it hits (`None`: all of them).
    pub remaining: Option<u32>,
}

/// Everything the fake serves; tests change it at will.
#[derive(Debug)]
pub struct State {
    pub account_id: String,
    /// Users by name; IAM lists them in name order.
    pub users: BTreeMap<String, FakeUser>,
    pub root_keys_active: bool,
    pub report: Report,
    /// The content of the complete report, fixed when it was generated.
    pub report_csv: String,
    /// How many polls a new report generation takes.
    pub report_polls: u32,
    /// Added to every answer.
    pub latency: Duration,
    pub faults: Vec<Fault>,
    /// Requests received, by action.
    pub requests: BTreeMap<String, u64>,
    /// `MaxItems` values received with `ListUsers`, in order.
    pub list_users_max_items: Vec<Option<usize>>,
    /// A member account whose role refuses `AssumeRole` (HTTP 403 `AccessDenied`).
    pub assume_role_denied: bool,
    /// When each request arrived, in order (for rate checks).
    pub arrivals: Vec<std::time::Instant>,
    /// The account's CloudTrail event history, in any order: what `LookupEvents` searches.
    pub trail: Vec<TrailRecord>,
    /// The region whose event history holds IAM's events (CloudTrail records global-service
    /// events in US East (N. Virginia)): a lookup signed for another region finds nothing.
    pub trail_region: String,
    /// The caller may not `cloudtrail:LookupEvents`: HTTP 400 `AccessDeniedException`.
    pub lookup_denied: bool,
    /// Pages of at most this many events whatever `MaxResults` asks, so that tests see
    /// several pages without seeding 50 events a page.
    pub lookup_page_size: Option<usize>,
    /// `LookupEvents` requests let through per second per region before
    /// `ThrottlingException` (CloudTrail's two; `None`: no limit).
    pub lookup_rate_limit: Option<u32>,
    /// Every `LookupEvents` request, in order.
    pub lookups: Vec<Lookup>,
}

impl Default for State {
    fn default() -> Self {
        State {
            account_id: "111122223333".to_owned(),
            users: BTreeMap::new(),
            root_keys_active: false,
            report: Report::Absent,
            report_csv: String::new(),
            report_polls: 1,
            latency: Duration::ZERO,
            faults: Vec::new(),
            requests: BTreeMap::new(),
            list_users_max_items: Vec::new(),
            assume_role_denied: false,
            arrivals: Vec::new(),
            trail: Vec::new(),
            trail_region: "us-east-1".to_owned(),
            lookup_denied: false,
            lookup_page_size: None,
            lookup_rate_limit: Some(cloudtrail::LOOKUP_REQUESTS_PER_SECOND),
            lookups: Vec::new(),
        }
    }
}

impl State {
    /// `count` users named `user-00000`...; user `i` has `i % 3` active keys, and every
    /// tenth key is inactive in addition, the way the benchmarks' data is shaped.
    pub fn populate(&mut self, count: usize) {
        let base = 1_700_000_000;
        for i in 0..count {
            let name = format!("user-{i:06}");
            let mut keys = Vec::new();
            for k in 0..(i % 3) {
                keys.push(FakeKey {
                    id: key_id(i, k),
                    active: true,
                    created: base + (i * 2 + k) as i64,
                    last_used: (k == 0).then_some(base + 86_400),
                });
            }
            if i % 10 == 9 && keys.len() < 2 {
                keys.push(FakeKey {
                    id: key_id(i, 7),
                    active: false,
                    created: base,
                    last_used: None,
                });
            }
            self.users.insert(
                name,
                FakeUser {
                    path: "/".to_owned(),
                    keys,
                    tags: Vec::new(),
                },
            );
        }
    }

    /// The key with this ID and its user: direct for IDs made by [`key_id`] (so 100,000 users
    /// stay fast), a scan for any other.
    pub fn key(&self, id: &str) -> Option<(&String, &FakeKey)> {
        let direct = id
            .strip_prefix("AKIAFAKE")
            .filter(|rest| rest.len() == 12)
            .and_then(|rest| rest[..10].parse::<usize>().ok())
            .and_then(|index| self.users.get_key_value(&format!("user-{index:06}")))
            .and_then(|(name, user)| user.keys.iter().find(|k| k.id == id).map(|k| (name, k)));
        direct.or_else(|| {
            self.users
                .iter()
                .find_map(|(name, user)| user.keys.iter().find(|k| k.id == id).map(|k| (name, k)))
        })
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    /// Adds a CloudTrail record (bare, or an EventBridge envelope's `detail`, as in
    /// tests/fixtures/cloudtrail) to the trail, and gives it back to change:
    /// `state.add_trail_record(&text).at(now() - 86_400).for_key("alice", &key)`. A record whose
    /// `eventID` the trail already holds gets a new one, so that one file can seed many events.
    /// Panics when `record` is not one CloudTrail record.
    pub fn add_trail_record(&mut self, record: &str) -> &mut TrailRecord {
        let mut record =
            TrailRecord::parse(record).unwrap_or_else(|err| panic!("a CloudTrail record: {err}"));
        if self.trail.iter().any(|r| r.event_id == record.event_id) {
            let n = self.trail.len();
            record.with_event_id(&format!("{n:08x}-fa4e-4000-8000-{n:012x}"));
        }
        self.trail.push(record);
        self.trail.last_mut().unwrap()
    }
}

/// A key ID unique to (user, slot), 20 characters like IAM's.
pub fn key_id(user: usize, slot: usize) -> String {
    format!("AKIAFAKE{user:010}{slot:02}")
}

/// An answer of `bytes` spaces streamed in 1 MiB chunks (with a `Content-Length` when
/// `declared`), of the protocol's content type: the `Huge` fault.
fn huge(bytes: usize, declared: bool, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(
        Repeat {
            chunk: Bytes::from(vec![b' '; 1 << 20]),
            left: bytes,
            declared,
        }
        .boxed(),
    );
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

/// `left` bytes of spaces, a shared chunk at a time: 200 MB cost the fake no memory.
struct Repeat {
    chunk: Bytes,
    left: usize,
    declared: bool,
}

impl hyper::body::Body for Repeat {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = self.left.min(self.chunk.len());
        self.left -= n;
        let data = self.chunk.slice(..n);
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(data))))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        if self.declared {
            hyper::body::SizeHint::with_exact(self.left as u64)
        } else {
            hyper::body::SizeHint::default()
        }
    }
}

/// The member accounts, by ID.
type Members = Arc<Mutex<BTreeMap<String, Arc<Mutex<State>>>>>;

/// The running fake.
pub struct FakeIam {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    members: Members,
    stop: Option<oneshot::Sender<()>>,
}

impl FakeIam {
    /// Serves `state` on a free loopback port.
    pub async fn start(state: State) -> FakeIam {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(state));
        let members = Members::default();
        let (stop, mut stopped) = oneshot::channel();
        let shared = state.clone();
        let shared_members = members.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                    _ = &mut stopped => return,
                };
                let (state, members) = (shared.clone(), shared_members.clone());
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request| handle(state.clone(), members.clone(), request));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeIam {
            addr,
            state,
            members,
            stop: Some(stop),
        }
    }

    /// Adds a member account with `state` (its `account_id` names it).
    pub fn add_member(&self, state: State) {
        let id = state.account_id.clone();
        self.members
            .lock()
            .unwrap()
            .insert(id, Arc::new(Mutex::new(state)));
    }

    /// Edits a member account's state.
    pub fn with_member<R>(&self, account: &str, f: impl FnOnce(&mut State) -> R) -> R {
        let member = self.members.lock().unwrap()[account].clone();
        let mut state = member.lock().unwrap();
        f(&mut state)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Edits the state.
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Adds a fault.
    pub fn inject(&self, action: Option<&str>, kind: FaultKind, times: Option<u32>) {
        self.with(|s| {
            s.faults.push(Fault {
                action: action.map(str::to_owned),
                user: None,
                kind,
                remaining: times,
            })
        });
    }

    pub fn requests(&self, action: &str) -> u64 {
        self.with(|s| s.requests.get(action).copied().unwrap_or(0))
    }
}

impl Drop for FakeIam {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An error of the service, or a broken connection.
enum Failure {
    Reset,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the fake")
    }
}

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reset")
    }
}

impl std::error::Error for Failure {}

/// The prefix of the access key IDs `AssumeRole` hands out; the member's account ID follows.
const MEMBER_KEY_PREFIX: &str = "ASIAFAKE";

/// The member account whose credentials signed `request`, from SigV4's `Credential=` field.
fn signing_member(request: &Request<Incoming>) -> Option<String> {
    let key = credential_scope(request)?.next()?;
    key.strip_prefix(MEMBER_KEY_PREFIX).map(str::to_owned)
}

/// The region `request` was signed for (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`).
fn signing_region(request: &Request<Incoming>) -> Option<String> {
    credential_scope(request)?.nth(2).map(str::to_owned)
}

fn credential_scope(request: &Request<Incoming>) -> Option<std::str::Split<'_, char>> {
    let auth = request.headers().get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?.split(',').next()?;
    Some(credential.split('/'))
}

/// A request arrives: counted under `action`, and the fault it meets (if any) used up.
fn arrive(state: &Mutex<State>, action: &str, user: Option<&str>) -> (Duration, Option<FaultKind>) {
    let mut state = state.lock().unwrap();
    *state.requests.entry(action.to_owned()).or_default() += 1;
    state.arrivals.push(std::time::Instant::now());
    let fault = state
        .faults
        .iter_mut()
        .find(|f| {
            f.action.as_deref().is_none_or(|a| a == action)
                && f.user.as_deref().is_none_or(|u| Some(u) == user)
                && f.remaining != Some(0)
        })
        .map(|f| {
            if let Some(n) = f.remaining.as_mut() {
                *n -= 1;
            }
            f.kind.clone()
        });
    (state.latency, fault)
}

async fn handle(
    base: Arc<Mutex<State>>,
    members: Members,
    request: Request<Incoming>,
) -> Result<Response<Body>, Failure> {
    // CloudTrail's JSON protocol names the operation in a header, the Query protocol in the body.
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|target| target.to_str().ok())
        .map(str::to_owned);
    let region = signing_region(&request);
    let state = match signing_member(&request) {
        Some(account) => match members.lock().unwrap().get(&account) {
            Some(member) => member.clone(),
            None if target.is_some() => {
                return Ok(cloudtrail::error(
                    StatusCode::BAD_REQUEST,
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                ))
            }
            None => {
                return Ok(error(
                    StatusCode::FORBIDDEN,
                    "InvalidClientTokenId",
                    "The security token included in the request is invalid.",
                ))
            }
        },
        None => base,
    };
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Err(Failure::Reset),
    };
    if let Some(target) = target {
        return cloudtrail::serve(&state, &target, region.as_deref(), &body).await;
    }
    let params = parse_form(&String::from_utf8_lossy(&body));
    let action = params.get("Action").cloned().unwrap_or_default();
    let user = params.get("UserName").cloned();

    let (latency, fault) = arrive(&state, &action, user.as_deref());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(FaultKind::Reset) => return Err(Failure::Reset),
        Some(FaultKind::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(FaultKind::Throttle) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "Throttling",
                "Rate exceeded",
            ))
        }
        Some(FaultKind::ServerError) => {
            return Ok(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceFailure",
                "Internal failure",
            ))
        }
        Some(FaultKind::AccessDenied) => {
            return Ok(error(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "User is not authorized to perform this action",
            ))
        }
        Some(FaultKind::NoSuchEntity) => return Ok(no_such_entity("The entity cannot be found")),
        Some(FaultKind::LimitExceeded) => {
            return Ok(error(
                StatusCode::CONFLICT,
                "LimitExceeded",
                "The request was rejected because it attempted to create resources beyond the current AWS account limits.",
            ))
        }
        Some(FaultKind::Huge { bytes, declared }) => {
            return Ok(huge(bytes, declared, "text/xml"));
        }
        Some(FaultKind::Malformed) => {
            return Ok(xml_response(StatusCode::OK, "this is <not xml".to_owned()))
        }
        Some(FaultKind::RacingDeactivation(id)) => {
            let mut state = state.lock().unwrap();
            for user in state.users.values_mut() {
                for key in user.keys.iter_mut().filter(|key| key.id == id) {
                    key.active = false;
                }
            }
        }
        Some(FaultKind::EndlessUsers) => {
            let page: u64 = params
                .get("Marker")
                .and_then(|m| m.strip_prefix("endless-"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let mut members = String::new();
            for i in 0..IAM_MAX_ITEMS {
                let _ = write!(
                    members,
                    "<member><Path>/</Path><UserName>endless-{page}-{i}</UserName><UserId>AIDA{page}X{i}</UserId><Arn>arn:aws:iam::111122223333:user/endless-{page}-{i}</Arn><CreateDate>{}</CreateDate></member>",
                    iso8601(1_600_000_000)
                );
            }
            return Ok(ok_iam(
                &action,
                &format!(
                    "<Users>{members}</Users><IsTruncated>true</IsTruncated><Marker>endless-{}</Marker>",
                    page + 1
                ),
            ));
        }
        Some(FaultKind::MarkerCycle) => {
            let next = match params.get("Marker").map(String::as_str) {
                Some("m0") => "m1",
                _ => "m0",
            };
            let mut first = params.clone();
            first.remove("Marker");
            let response = answer(&mut state.lock().unwrap(), &action, &first);
            let text = body_text(response).await;
            let mut text = strip_element(&text, "IsTruncated");
            text = strip_element(&text, "Marker");
            let end = format!("</{action}Result>");
            let text = text.replace(
                &end,
                &format!("<IsTruncated>true</IsTruncated><Marker>{next}</Marker>{end}"),
            );
            return Ok(xml_response(StatusCode::OK, text));
        }
        Some(FaultKind::Rewrite(rewrite)) => {
            let response = answer(&mut state.lock().unwrap(), &action, &params);
            let text = rewrite(&body_text(response).await);
            let status = match text.starts_with("<ErrorResponse") {
                true => StatusCode::FORBIDDEN,
                false => StatusCode::OK,
            };
            return Ok(xml_response(status, text));
        }
        None => {}
    }
    if action == "AssumeRole" {
        return Ok(assume_role(&members, &params));
    }
    let mut state = state.lock().unwrap();
    Ok(answer(&mut state, &action, &params))
}

/// The text of an answer made here.
async fn body_text(response: Response<Body>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `text` without its `<name>...</name>` element, if it has one.
fn strip_element(text: &str, name: &str) -> String {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    match (text.find(&open), text.find(&close)) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{}", &text[..start], &text[end + close.len()..])
        }
        _ => text.to_owned(),
    }
}

/// `AssumeRole` into a member account: credentials that later requests are signed with.
fn assume_role(members: &Members, params: &BTreeMap<String, String>) -> Response<Body> {
    let role = params.get("RoleArn").cloned().unwrap_or_default();
    let account = role.split(':').nth(4).unwrap_or_default().to_owned();
    let denied = members
        .lock()
        .unwrap()
        .get(&account)
        .is_none_or(|member| member.lock().unwrap().assume_role_denied);
    if denied {
        return error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            &format!("User is not authorized to perform: sts:AssumeRole on resource: {role}"),
        );
    }
    ok_sts(
        "AssumeRole",
        &format!(
            "<Credentials><AccessKeyId>{MEMBER_KEY_PREFIX}{account}</AccessKeyId><SecretAccessKey>fake-secret</SecretAccessKey><SessionToken>fake-token-{account}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAFAKE:iam-key-exporter</AssumedRoleId><Arn>arn:aws:sts::{account}:assumed-role/audit/iam-key-exporter</Arn></AssumedRoleUser>"
        ),
    )
}

fn answer(state: &mut State, action: &str, params: &BTreeMap<String, String>) -> Response<Body> {
    match action {
        "GetCallerIdentity" => {
            let account = &state.account_id;
            ok_sts(
                action,
                &format!(
                    "<Arn>arn:aws:iam::{account}:user/tester</Arn><UserId>AIDATESTER</UserId><Account>{account}</Account>"
                ),
            )
        }
        "ListUsers" => {
            let requested: Option<usize> = params.get("MaxItems").and_then(|v| v.parse().ok());
            state.list_users_max_items.push(requested);
            let max_items = requested.unwrap_or(100).clamp(1, IAM_MAX_ITEMS);
            let mut range = match params.get("Marker") {
                Some(marker) => match decode_marker(marker) {
                    Some(start) => state.users.range(start..),
                    None => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "InvalidInput",
                            "Invalid Marker",
                        )
                    }
                },
                None => state.users.range::<String, _>(..),
            };
            let mut members = String::new();
            for (name, user) in range.by_ref().take(max_items) {
                let _ = write!(
                    members,
                    "<member><Path>{}</Path><UserName>{}</UserName><UserId>AIDA{}</UserId><Arn>arn:aws:iam::{}:user{}{}</Arn><CreateDate>{}</CreateDate></member>",
                    escape(&user.path),
                    escape(name),
                    hex(name),
                    state.account_id,
                    escape(&user.path),
                    escape(name),
                    iso8601(1_600_000_000)
                );
            }
            let next = range.next().map(|(name, _)| encode_marker(name));
            let paging = match next {
                Some(marker) => format!("<IsTruncated>true</IsTruncated><Marker>{marker}</Marker>"),
                None => "<IsTruncated>false</IsTruncated>".to_owned(),
            };
            ok_iam(action, &format!("<Users>{members}</Users>{paging}"))
        }
        "ListAccessKeys" => {
            let name = params.get("UserName").cloned().unwrap_or_default();
            let Some(user) = state.users.get(&name) else {
                return no_such_entity(&format!("The user with name {name} cannot be found."));
            };
            let mut members = String::new();
            for key in &user.keys {
                let _ = write!(
                    members,
                    "<member><UserName>{}</UserName><AccessKeyId>{}</AccessKeyId><Status>{}</Status><CreateDate>{}</CreateDate></member>",
                    escape(&name),
                    key.id,
                    if key.active { "Active" } else { "Inactive" },
                    iso8601(key.created)
                );
            }
            ok_iam(
                action,
                &format!("<AccessKeyMetadata>{members}</AccessKeyMetadata><IsTruncated>false</IsTruncated>"),
            )
        }
        "ListUserTags" => {
            let name = params.get("UserName").cloned().unwrap_or_default();
            let Some(user) = state.users.get(&name) else {
                return no_such_entity(&format!("The user with name {name} cannot be found."));
            };
            let mut members = String::new();
            for (key, value) in &user.tags {
                let _ = write!(
                    members,
                    "<member><Key>{}</Key><Value>{}</Value></member>",
                    escape(key),
                    escape(value)
                );
            }
            ok_iam(
                action,
                &format!("<Tags>{members}</Tags><IsTruncated>false</IsTruncated>"),
            )
        }
        "UpdateAccessKey" => {
            let name = params.get("UserName").cloned().unwrap_or_default();
            let id = params.get("AccessKeyId").cloned().unwrap_or_default();
            let active = params.get("Status").map(String::as_str) == Some("Active");
            let Some(key) = state
                .users
                .get_mut(&name)
                .and_then(|user| user.keys.iter_mut().find(|key| key.id == id))
            else {
                return no_such_entity("The access key cannot be found.");
            };
            key.active = active;
            ok_iam(action, "")
        }
        "GetAccessKeyLastUsed" => {
            let id = params.get("AccessKeyId").cloned().unwrap_or_default();
            let found = state.key(&id);
            let Some((name, key)) = found else {
                return no_such_entity("The access key cannot be found.");
            };
            let used = match key.last_used {
                Some(at) => format!(
                    "<LastUsedDate>{}</LastUsedDate><ServiceName>s3</ServiceName><Region>us-east-1</Region>",
                    iso8601(at)
                ),
                None => "<ServiceName>N/A</ServiceName><Region>N/A</Region>".to_owned(),
            };
            ok_iam(
                action,
                &format!(
                    "<UserName>{}</UserName><AccessKeyLastUsed>{used}</AccessKeyLastUsed>",
                    escape(name)
                ),
            )
        }
        "GetAccountSummary" => ok_iam(
            action,
            &format!(
                "<SummaryMap><entry><key>Users</key><value>{}</value></entry><entry><key>AccountAccessKeysPresent</key><value>{}</value></entry><entry><key>AccountMFAEnabled</key><value>0</value></entry></SummaryMap>",
                state.users.len(),
                u8::from(state.root_keys_active)
            ),
        ),
        "GenerateCredentialReport" => {
            let now = now();
            let (report, answer) = match state.report.clone() {
                Report::Absent | Report::Expired => (
                    Report::InProgress {
                        polls_left: state.report_polls,
                    },
                    "STARTED",
                ),
                Report::InProgress { polls_left: 0 } => {
                    state.report_csv = credential_report_csv(state);
                    (Report::Complete { generated: now }, "COMPLETE")
                }
                Report::InProgress { polls_left } => (
                    Report::InProgress {
                        polls_left: polls_left - 1,
                    },
                    "INPROGRESS",
                ),
                // AWS starts a new report only when the current one is over four hours old.
                Report::Complete { generated } if now - generated > 4 * 3600 => (
                    Report::InProgress {
                        polls_left: state.report_polls,
                    },
                    "STARTED",
                ),
                complete @ Report::Complete { .. } => (complete, "COMPLETE"),
            };
            state.report = report;
            ok_iam(
                action,
                &format!("<State>{answer}</State><Description>No report exists. Starting a new report generation task</Description>"),
            )
        }
        "GetCredentialReport" => match state.report {
            Report::Absent => error(
                StatusCode::GONE,
                "ReportNotPresent",
                "Credential report not present",
            ),
            Report::Expired => error(StatusCode::GONE, "ReportExpired", "Credential report expired"),
            Report::InProgress { .. } => error(
                StatusCode::NOT_FOUND,
                "ReportInProgress",
                "Credential report generation is in progress",
            ),
            Report::Complete { generated } => {
                let csv = &state.report_csv;
                ok_iam(
                    action,
                    &format!(
                        "<Content>{}</Content><ReportFormat>text/csv</ReportFormat><GeneratedTime>{}</GeneratedTime>",
                        base64(csv.as_bytes()),
                        iso8601(generated)
                    ),
                )
            }
        },
        other => error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("Could not find operation {other}"),
        ),
    }
}

/// The report's CSV, as AWS writes it: the root row first, `N/A` for absent values.
pub fn credential_report_csv(state: &State) -> String {
    let mut csv = String::from("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n");
    let account = &state.account_id;
    let root_key = if state.root_keys_active {
        format!("true,{},N/A,N/A,N/A", iso8601(1_600_000_000))
    } else {
        "false,N/A,N/A,N/A,N/A".to_owned()
    };
    let _ = writeln!(
        csv,
        "<root_account>,arn:aws:iam::{account}:root,{},not_supported,{},not_supported,not_supported,true,{root_key},false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        iso8601(1_500_000_000),
        iso8601(1_700_000_000)
    );
    for (name, user) in &state.users {
        let slot = |key: Option<&FakeKey>| match key {
            Some(key) => format!(
                "{},{},{},{},{}",
                if key.active { "true" } else { "false" },
                iso8601(key.created),
                key.last_used.map_or("N/A".to_owned(), iso8601),
                if key.last_used.is_some() {
                    "us-east-1"
                } else {
                    "N/A"
                },
                if key.last_used.is_some() { "s3" } else { "N/A" }
            ),
            None => "false,N/A,N/A,N/A,N/A".to_owned(),
        };
        let _ = writeln!(
            csv,
            "{name},arn:aws:iam::{account}:user{}{name},{},false,N/A,N/A,N/A,false,{},{},false,N/A,false,N/A",
            user.path,
            iso8601(1_600_000_000),
            slot(user.keys.first()),
            slot(user.keys.get(1)),
        );
    }
    csv
}

fn ok_iam(action: &str, result: &str) -> Response<Body> {
    xml_response(
        StatusCode::OK,
        format!(
            "<{action}Response xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>fake-0000</RequestId></ResponseMetadata></{action}Response>"
        ),
    )
}

fn ok_sts(action: &str, result: &str) -> Response<Body> {
    xml_response(
        StatusCode::OK,
        format!(
            "<{action}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>fake-0000</RequestId></ResponseMetadata></{action}Response>"
        ),
    )
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let kind = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    xml_response(
        status,
        format!(
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>fake-0000</RequestId></ErrorResponse>",
            escape(message)
        ),
    )
}

fn no_such_entity(message: &str) -> Response<Body> {
    error(StatusCode::NOT_FOUND, "NoSuchEntity", message)
}

fn xml_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", "text/xml".parse().unwrap());
    response
}

/// Parses `application/x-www-form-urlencoded`.
fn parse_form(body: &str) -> BTreeMap<String, String> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn hex(text: &str) -> String {
    text.bytes().take(8).map(|b| format!("{b:02X}")).collect()
}

/// Markers are opaque to clients; this one is the next user's name, hex-encoded.
fn encode_marker(name: &str) -> String {
    format!(
        "m{}",
        name.bytes().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn decode_marker(marker: &str) -> Option<String> {
    let hex = marker.strip_prefix('m')?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn iso8601(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rem = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn iso8601_and_base64_are_right() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_709_209_815), "2024-02-29T12:30:15Z");
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        assert_eq!(percent_decode("a%2Bb%3D%40c+d"), "a+b=@c d");
        assert_eq!(
            decode_marker(&encode_marker("x+y@z")).as_deref(),
            Some("x+y@z")
        );
    }
}
