//! The configuration as a whole: layering, origins, every problem at once.

use super::*;
use std::io::Write;

/// The exporter's port, from the range the Prometheus wiki keeps for exporters.
const DEFAULT_PORT: u16 = 10027;

use crate::arn::account_id_from_role_arn;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// A config file that lives as long as the value: its path is `.0.path()`.
struct TempFile(tempfile::TempPath);

fn file(extension: &str, contents: &str) -> TempFile {
    let mut named = tempfile::Builder::new()
        .suffix(&format!(".{extension}"))
        .tempfile()
        .unwrap();
    named.write_all(contents.as_bytes()).unwrap();
    TempFile(named.into_temp_path())
}

impl TempFile {
    fn overrides(&self) -> Overrides {
        Overrides {
            config_file: Some(self.0.to_path_buf()),
            ..Overrides::default()
        }
    }
}

fn load(overrides: &Overrides, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    Config::load_from(overrides, vars)
}

fn errors(result: Result<Config, ConfigError>) -> Vec<KeyError> {
    match result {
        Err(ConfigError::Invalid(errors)) => errors,
        other => panic!("expected invalid configuration, got {other:?}"),
    }
}

#[test]
fn defaults_apply_when_nothing_is_given() {
    let config = load(&Overrides::default(), &[]).unwrap();
    assert_eq!(
        config.web.listen_address,
        SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT))
    );
    assert_eq!(config.web.telemetry_path, "/metrics");
    assert_eq!(config.refresh.interval, Duration::from_secs(300));
    assert_eq!(config.collector.source, SourceKind::Api);
    assert_eq!(config.collector.concurrency, 4);
    assert!(config.collector.last_used);
    assert_eq!(config.log.format, LogFormat::Logfmt);
    assert_eq!(config.accounts.len(), 1);
    assert_eq!(config.accounts[0].role_arn, None);
}

/// The documented examples in `config/` load, and say exactly the defaults.
#[test]
fn the_example_files_are_valid_and_match_the_defaults() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let defaults = load(&Overrides::default(), &[]).unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let overrides = Overrides {
            config_file: Some(path.clone()),
            ..Overrides::default()
        };
        let config = load(&overrides, &[])
            .unwrap_or_else(|err| panic!("{} is invalid: {err}", path.display()));
        if path
            .file_stem()
            .is_some_and(|stem| stem == "iam-key-exporter")
        {
            assert_eq!(config, defaults, "{} says the defaults", path.display());
            seen += 1;
        }
    }
    assert_eq!(seen, 2, "the TOML and the YAML example");
}

#[test]
fn file_overrides_defaults_env_overrides_file_and_flags_override_env() {
    let toml = file(
        "toml",
        "[refresh]\ninterval = \"10m\"\n[web]\ntelemetry_path = \"/file\"\nlisten_address = \"127.0.0.1:1\"\n[log]\nlevel = \"warn\"\n",
    );
    let overrides = toml
        .overrides()
        .with_flag(&web::LISTEN_ADDRESS, "127.0.0.1:3");
    let config = load(
        &overrides,
        &[
            ("IAM_KEY_EXPORTER_WEB__TELEMETRY_PATH", "/env"),
            ("IAM_KEY_EXPORTER_WEB__LISTEN_ADDRESS", "127.0.0.1:2"),
        ],
    )
    .unwrap();
    // file only
    assert_eq!(config.refresh.interval, Duration::from_secs(600));
    assert_eq!(config.log.level, LogLevel::Warn);
    // env over file
    assert_eq!(config.web.telemetry_path, "/env");
    // flag over env over file
    assert_eq!(config.web.listen_address, "127.0.0.1:3".parse().unwrap());
}

#[test]
fn yaml_files_are_read_by_extension() {
    let yaml = file(
        "yaml",
        "collector:\n  concurrency: 8\n  last_used: false\naccounts:\n  - role_arn: arn:aws:iam::111111111111:role/audit\n",
    );
    let overrides = yaml.overrides();
    let config = load(&overrides, &[]).unwrap();
    assert_eq!(config.collector.concurrency, 8);
    assert!(!config.collector.last_used);
    assert_eq!(
        config.accounts[0].account_id.as_deref(),
        Some("111111111111")
    );
}

#[test]
fn numbers_from_the_environment_are_accepted_where_text_is_expected() {
    let config = load(
        &Overrides::default(),
        &[("IAM_KEY_EXPORTER_COLLECTOR__CONCURRENCY", "16")],
    )
    .unwrap();
    assert_eq!(config.collector.concurrency, 16);
}

#[test]
fn a_bad_duration_names_the_key_the_value_and_what_is_allowed() {
    let errors = errors(load(
        &Overrides::default(),
        &[("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "-3")],
    ));
    assert_eq!(errors.len(), 1);
    let message = errors[0].to_string();
    assert!(message.contains("`refresh.interval`"), "{message}");
    assert!(message.contains("`-3`"), "{message}");
    assert!(message.contains("`5m`"), "{message}");
    assert!(
        message.contains("IAM_KEY_EXPORTER_REFRESH__INTERVAL"),
        "{message}"
    );
}

#[test]
fn absurd_durations_are_refused_instead_of_overflowing_later() {
    let errors = errors(load(
        &Overrides::default(),
        &[
            ("IAM_KEY_EXPORTER_REFRESH__INTERVAL", "1000000years"),
            ("IAM_KEY_EXPORTER_REFRESH__TIMEOUT", "0s"),
        ],
    ));
    assert_eq!(errors.len(), 2);
    assert!(
        errors[0].to_string().contains("at most 30 days"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_bad_flag_is_named_as_the_origin() {
    let overrides = Overrides::default().with_flag(&log::FORMAT, "xml");
    let message = errors(load(&overrides, &[]))[0].to_string();
    assert!(message.contains("`log.format`"), "{message}");
    assert!(message.contains("--log.format"), "{message}");
    assert!(message.contains("`xml`"), "{message}");
}

#[test]
fn unknown_keys_are_rejected_with_the_allowed_ones() {
    let toml = file("toml", "[web]\nlisten_adress = \":1\"\n");
    let overrides = toml.overrides();
    let message = errors(load(&overrides, &[]))[0].to_string();
    assert!(message.contains("`web.listen_adress`"), "{message}");
    assert!(message.contains("listen_address"), "{message}");
}

#[test]
fn unknown_environment_variables_with_the_prefix_are_rejected() {
    let message = errors(load(
        &Overrides::default(),
        &[("IAM_KEY_EXPORTER_REFRESH__INTERVALL", "5m")],
    ))[0]
        .to_string();
    assert!(message.contains("refresh.intervall"), "{message}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let errors = errors(load(
        &Overrides::default(),
        &[
            ("IAM_KEY_EXPORTER_COLLECTOR__CONCURRENCY", "0"),
            ("IAM_KEY_EXPORTER_WEB__TELEMETRY_PATH", "metrics"),
            ("IAM_KEY_EXPORTER_COLLECTOR__LAST_USED", "yes"),
        ],
    ));
    let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "web.telemetry_path",
            "collector.concurrency",
            "collector.last_used"
        ]
    );
}

#[test]
fn a_missing_config_file_is_an_error_not_silence() {
    let overrides = Overrides {
        config_file: Some(PathBuf::from("/nonexistent/iam-key-exporter.toml")),
        ..Overrides::default()
    };
    let err = load(&overrides, &[]).unwrap_err();
    assert!(matches!(err, ConfigError::File { .. }), "{err}");
    assert!(err.to_string().contains("cannot be read"), "{err}");
}

#[test]
fn an_unknown_file_extension_says_which_are_allowed() {
    let ini = file("ini", "x=1");
    let overrides = ini.overrides();
    let err = load(&overrides, &[]).unwrap_err().to_string();
    assert!(err.contains(".toml"), "{err}");
}

#[test]
fn a_malformed_file_is_reported_with_its_format() {
    let toml = file("toml", "[web\n");
    let overrides = toml.overrides();
    let err = load(&overrides, &[]).unwrap_err().to_string();
    assert!(err.contains("TOML"), "{err}");
}

/// A syntax error names the file, the line and the column, never an empty key.
#[test]
fn a_toml_syntax_error_names_the_file_line_and_column() {
    let toml = file("toml", "[refresh]\ninterval = 5m\n");
    let err = load(&toml.overrides(), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::File { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&toml.0.display().to_string()), "{text}");
    assert!(
        text.contains("TOML: syntax error at line 2, column 13: expected"),
        "{text}"
    );
    assert!(!text.contains("``"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

/// The problems of `[[accounts]]` and `[[exemptions]]` entries name the file they are in.
#[test]
fn list_entries_problems_name_their_file() {
    let toml = file(
        "toml",
        "[[accounts]]\nrole_arn = \"nope\"\ncolour = 1\n[[exemptions]]\naccount = \"x\"\n",
    );
    let errors = errors(load(&toml.overrides(), &[]));
    // As figment names a file (relative to the working directory when that is shorter).
    let origin = format!(
        "TOML file `{}`",
        figment::Source::File(toml.0.to_path_buf())
    );
    for key in [
        "accounts.0.colour",
        "accounts.0.role_arn",
        "exemptions.0.account",
        "exemptions.0.user",
    ] {
        let error = errors.iter().find(|e| e.key == key).expect(key);
        assert_eq!(error.origin.as_deref(), Some(origin.as_str()), "{error}");
    }
}

#[test]
fn role_arns_give_the_account_id() {
    assert_eq!(
        account_id_from_role_arn("arn:aws:iam::123456789012:role/path/audit").as_deref(),
        Some("123456789012")
    );
    assert_eq!(
        account_id_from_role_arn("arn:aws-cn:iam::123456789012:role/a").as_deref(),
        Some("123456789012")
    );
    assert_eq!(account_id_from_role_arn("arn:aws:iam::123:role/a"), None);
    assert_eq!(
        account_id_from_role_arn("arn:aws:iam::123456789012:user/a"),
        None
    );
}

#[test]
fn an_unknown_key_does_not_hide_the_other_problems_of_the_file() {
    let toml = file(
        "toml",
        "[web]\nlisten_adress = \":1\"\n[refresh]\ninterval = \"-3\"\n[nope]\nx = 1\n",
    );
    let keys: Vec<String> = errors(load(
        &toml.overrides(),
        &[("IAM_KEY_EXPORTER_COLLECTOR__CONCURRENCY", "0")],
    ))
    .into_iter()
    .map(|e| e.key)
    .collect();
    assert_eq!(
        keys,
        [
            "nope",
            "web.listen_adress",
            "refresh.interval",
            "collector.concurrency"
        ]
    );
}

#[test]
fn a_malformed_environment_variable_name_is_an_error_not_silence() {
    for name in [
        "IAM_KEY_EXPORTER_WEB__",
        "IAM_KEY_EXPORTER_",
        "IAM_KEY_EXPORTER_WEB____X",
    ] {
        let errors = errors(load(&Overrides::default(), &[(name, "1")]));
        assert_eq!(errors.len(), 1, "{name}: {errors:?}");
        let message = errors[0].to_string();
        assert!(message.contains(name), "{message}");
        assert!(
            message.contains("IAM_KEY_EXPORTER_REFRESH__INTERVAL"),
            "{message}"
        );
    }
}

#[test]
fn a_section_given_as_a_value_and_a_list_given_as_a_value_are_refused() {
    let toml = file("toml", "web = 5\n[refresh]\ninterval = [1, 2]\n");
    let messages: Vec<String> = errors(load(&toml.overrides(), &[]))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages
        .iter()
        .any(|m| m.contains("`web`") && m.contains("section")));
    assert!(messages
        .iter()
        .any(|m| m.contains("`refresh.interval`") && m.contains("a list")));
}

#[test]
fn a_yaml_key_given_twice_is_refused_as_toml_refuses_it() {
    let yaml = file("yaml", "refresh:\n  interval: 1m\n  interval: 2m\n");
    let err = load(&yaml.overrides(), &[]).unwrap_err().to_string();
    assert!(err.contains("duplicate"), "{err}");
    let toml = file("toml", "[refresh]\ninterval = \"1m\"\ninterval = \"2m\"\n");
    assert!(load(&toml.overrides(), &[]).is_err());
}

#[test]
fn deeply_nested_brackets_are_refused_at_once_not_parsed() {
    let deep = format!("x: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let yaml = file("yaml", &deep);
    let started = std::time::Instant::now();
    let err = load(&yaml.overrides(), &[]).unwrap_err().to_string();
    assert!(err.contains("levels deep"), "{err}");
    // Not a timing test: the scan is linear; this only says it did not hand the text on.
    assert!(started.elapsed() < Duration::from_secs(5));
    // Brackets inside strings and comments do not count.
    let fine = file("yaml", "# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\nweb:\n  telemetry_path: \"/[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"\n");
    assert!(load(&fine.overrides(), &[]).is_ok());
}

#[test]
fn oversized_files_and_values_are_refused_before_they_are_parsed() {
    let big = file("toml", &format!("# {}\n", "x".repeat(2 * 1024 * 1024)));
    let err = load(&big.overrides(), &[]).unwrap_err().to_string();
    assert!(err.contains("at most 1048576 bytes"), "{err}");
    let long = "1".repeat(100_000);
    let errors = errors(load(
        &Overrides::default(),
        &[("IAM_KEY_EXPORTER_REFRESH__INTERVAL", long.as_str())],
    ));
    assert!(
        errors[0].to_string().contains("at most 65536"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_role_arn_without_a_role_name_is_refused() {
    for arn in [
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/path/",
        "arn:aws:iam::123456789012:role/bad name",
    ] {
        assert_eq!(account_id_from_role_arn(arn), None, "{arn}");
    }
}

#[test]
fn a_telemetry_path_must_be_one_a_client_can_ask_for_as_written() {
    for path in ["/métriques", "/a b", "/50%", "/m?x"] {
        let errors = errors(load(
            &Overrides::default(),
            &[("IAM_KEY_EXPORTER_WEB__TELEMETRY_PATH", path)],
        ));
        assert_eq!(errors[0].key, "web.telemetry_path", "{path}");
    }
    let config = load(
        &Overrides::default(),
        &[(
            "IAM_KEY_EXPORTER_WEB__TELEMETRY_PATH",
            "/iam-key-exporter/metrics",
        )],
    )
    .unwrap();
    assert_eq!(config.web.telemetry_path, "/iam-key-exporter/metrics");
}

#[test]
fn a_rate_cap_that_would_time_out_queued_requests_is_refused() {
    let errors = errors(load(
        &Overrides::default(),
        &[
            ("IAM_KEY_EXPORTER_AWS__MAX_REQUESTS_PER_SECOND", "1"),
            ("IAM_KEY_EXPORTER_AWS__ATTEMPT_TIMEOUT", "5s"),
            ("IAM_KEY_EXPORTER_COLLECTOR__CONCURRENCY", "8"),
        ],
    ));
    assert_eq!(errors[0].key, "collector.concurrency");
    assert!(errors[0].to_string().contains("at most 5"), "{}", errors[0]);
    assert!(load(
        &Overrides::default(),
        &[("IAM_KEY_EXPORTER_AWS__MAX_REQUESTS_PER_SECOND", "1")],
    )
    .is_ok());
}

#[test]
fn with_discovery_an_entry_for_the_own_account_is_refused_as_a_duplicate() {
    let toml = file(
        "toml",
        "[organizations]\nenabled = true\n[[accounts]]\n[[accounts]]\naccount_id = \"222222222222\"\n",
    );
    let errors = errors(load(&toml.overrides(), &[]));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key, "accounts.0");
    let toml = file("toml", "[organizations]\nenabled = true\n");
    let config = load(&toml.overrides(), &[]).unwrap();
    assert!(
        config.accounts.is_empty(),
        "the organization brings its accounts"
    );
}

#[test]
fn the_same_account_twice_is_rejected() {
    let toml = file(
        "toml",
        "[[accounts]]\nrole_arn = \"arn:aws:iam::111111111111:role/a\"\n[[accounts]]\naccount_id = \"111111111111\"\nrole_arn = \"arn:aws:iam::111111111111:role/b\"\n",
    );
    let overrides = toml.overrides();
    let message = errors(load(&overrides, &[]))[0].to_string();
    assert!(message.contains("listed twice"), "{message}");
}

#[test]
fn exemptions_load_with_every_field_and_expired_ones_are_kept() {
    let toml = file(
        "toml",
        r#"
[[exemptions]]
account = "111111111111"
user = "vendor-acme"
reason = "cut-over"
owner = "payments"
expires = "2020-01-01"

[[exemptions]]
account = "*"
user_pattern = "ci-*"
reason = "migration"
owner = "platform"
expires = "2020-01-01T12:00:00Z"
"#,
    );
    let config = load(&toml.overrides(), &[]).unwrap();
    assert_eq!(config.exemptions.len(), 2);
    assert_eq!(
        config.exemptions[0].account.as_deref(),
        Some("111111111111")
    );
    assert_eq!(
        config.exemptions[0].user,
        UserMatch::Name("vendor-acme".to_owned())
    );
    assert_eq!(config.exemptions[0].expires, 1_577_836_800);
    assert_eq!(config.exemptions[1].account, None);
    assert_eq!(
        config.exemptions[1].user,
        UserMatch::Pattern("ci-*".to_owned())
    );
    assert_eq!(config.exemptions[1].expires, 1_577_880_000);
}

/// Each broken entry names its key, what was given and what would be right.
#[test]
fn a_broken_exemption_is_refused_with_what_is_wrong() {
    let toml = file(
        "toml",
        r#"
[[exemptions]]
account = "12345"
user = "a"
user_pattern = "b*"
reason = "r"
expires = "2099-01-01"
colour = "red"

[[exemptions]]
account = "111111111111"
"#,
    );
    let messages: Vec<String> = errors(load(&toml.overrides(), &[]))
        .iter()
        .map(ToString::to_string)
        .collect();
    let all = messages.join("\n");
    // Each entry's problem names the file it is in (issue 23: it named none).
    let source = figment::Source::File(toml.0.to_path_buf());
    let missing = |key: &str| format!("`{key}` (from TOML file `{source}`): missing");
    for expected in [
        "`exemptions.0.colour`",
        "`exemptions.0.account`",
        "a 12-digit AWS account ID, or `*`",
        "give `user` or `user_pattern`, not both",
        &missing("exemptions.0.owner"),
        "`exemptions.0.expires`",
        "at most 90 days from now (`collector.max_exemption`), so no later than 20",
        &missing("exemptions.1.user"),
        &missing("exemptions.1.reason"),
        &missing("exemptions.1.expires"),
    ] {
        assert!(all.contains(expected), "`{expected}` not in:\n{all}");
    }
    // A longer allowance is one setting away.
    let toml = file(
        "toml",
        "[collector]\nmax_exemption = \"366d\"\n[[exemptions]]\naccount = \"*\"\nuser = \"a\"\nreason = \"r\"\nowner = \"o\"\nexpires = \"2020-01-01\"\n",
    );
    assert_eq!(
        load(&toml.overrides(), &[])
            .unwrap()
            .collector
            .max_exemption
            .as_secs(),
        366 * 86_400
    );
}

/// A value a typo away from an allowed one is answered with it; a value far from any is not.
#[test]
fn a_mistyped_choice_is_answered_with_the_one_meant() {
    let near = |format: &str| {
        errors(load(
            &Overrides::default(),
            &[("IAM_KEY_EXPORTER_LOG__FORMAT", format)],
        ))[0]
            .to_string()
    };
    assert!(
        near("jsn").contains("got `jsn`; did you mean `json`?"),
        "{}",
        near("jsn")
    );
    assert!(
        near("LOGFMTT").contains("did you mean `logfmt`?"),
        "{}",
        near("LOGFMTT")
    );
    assert!(!near("xml").contains("did you mean"), "{}", near("xml"));
}
