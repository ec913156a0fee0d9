//! Test and benchmark support for `iam-key-exporter`, shared by `tests/` and `benches/`
//! without `#[path]` tricks: a faithful fake IAM endpoint (with STS's `AssumeRole` and
//! CloudTrail's `LookupEvents`), a minimal HTTP client, and a parser for the metrics page. Not
//! part of the product.

pub mod fake_iam;
pub mod http;
pub mod scrape;

pub use fake_iam::{
    FakeIam, FakeKey, FakeUser, Fault, FaultKind, Lookup, Report, State, TrailRecord, TrailResource,
};
pub use http::{get, request, send, try_request, Response};
pub use scrape::{Sample, Scrape};
