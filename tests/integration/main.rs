//! Integration tests: the exporter as a whole, over real sockets, against a real `moto_server`
//! and, where moto cannot do it, a faithful fake IAM endpoint. One test binary, so the build
//! links once.

use iam_key_exporter_testkit::fake_iam;
mod helpers;
mod moto;
mod organizations;

mod accounts;
mod against_moto;
mod against_the_fake;
mod alerting;
mod aws_failures;
mod binary;
mod broken_answers;
mod creators;
mod detection;
mod docs;
mod events;
mod exemptions;
mod golden;
mod http;
mod kubernetes;
mod last_use;
mod layout;
mod mixin;
mod remediation;
mod web_config;
