//! The command line, in the Prometheus exporter-toolkit style (`--web.listen-address`).
//!
//! The flags are built from the settings table ([`crate::config::settings`]): each flag's name,
//! help text and shown default come from there, so `--help` cannot disagree with the
//! configuration. Flags stay raw text: [`crate::config`] validates them with the other layers.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgAction, ArgMatches, Command as ClapCommand};

use crate::audit::{MinIdle, Options as RemediateOptions, OutputFormat, MIN_IDLE_TEXT};
use crate::config::settings::{self, FlagScope};
use crate::config::{Overrides, CONFIG_FILE_ENV};

/// What the user asked for.
#[derive(Debug)]
pub struct Cli {
    /// The config file and flag values, for [`crate::Config::load`].
    pub overrides: Overrides,
    /// What to run.
    pub command: Command,
}

/// The commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The exporter (no subcommand).
    Serve,
    /// `check`: audit once and exit with the verdict.
    Check {
        /// `--output`.
        output: OutputFormat,
    },
    /// `remediate`: plan (and with `--apply`, make) the control's remediation.
    Remediate(RemediateOptions),
    /// `--version`: print [`version`] and exit.
    Version,
}

/// What `--version` prints, in node_exporter's shape: the version, branch and revision, then
/// the build date, the compiler and the platform. Without git at build time (a tarball) the
/// branch and revision are `unknown`.
pub fn version() -> String {
    format!(
        "iam-key-exporter, version {} (branch: {}, revision: {})\n  build date:       {}\n  \
         rust version:     {}\n  platform:         {}/{}\n",
        env!("CARGO_PKG_VERSION"),
        option_env!("BUILD_GIT_BRANCH").unwrap_or("unknown"),
        option_env!("BUILD_GIT_REVISION").unwrap_or("unknown"),
        option_env!("BUILD_DATE").unwrap_or("unknown"),
        option_env!("BUILD_RUSTC_VERSION").unwrap_or("unknown"),
        std::env::consts::OS,
        std::env::consts::ARCH,
    )
}

const CONFIG_FILE: &str = "config.file";
const OUTPUT: &str = "output";
const APPLY: &str = "apply";
const MIN_IDLE: &str = "min-idle";
const VERSION: &str = "version";

/// The clap command, with every flag from the settings table.
pub(crate) fn command() -> ClapCommand {
    let config_file = Arg::new(CONFIG_FILE)
        .long(CONFIG_FILE)
        .env(CONFIG_FILE_ENV)
        .value_name("PATH")
        .value_parser(clap::value_parser!(PathBuf))
        .help("Configuration file, TOML or YAML by extension.")
        .global(true);
    let output = Arg::new(OUTPUT)
        .long(OUTPUT)
        .value_name("FORMAT")
        .value_parser(PossibleValuesParser::new(OutputFormat::NAMES))
        .default_value(OutputFormat::Table.as_str())
        .help("Output format: `table` for people, `json` for pipelines.");
    let mut check = ClapCommand::new("check")
        .about(
            "Audit once and exit: 0 when every user has at most one active key (or is exempt), \
             1 when some user has more, 2 on error",
        )
        .arg(output.clone());
    let mut remediate = ClapCommand::new("remediate")
        .about(
            "For each user with more than one active key and no exemption: keep the active key \
             used most recently (if younger than 90 days) and make the others inactive, never \
             deleting and never touching a key used within --min-idle. A dry run unless \
             --apply. Exit: 0 nothing left to do, 1 something planned, refused or failed, \
             2 error",
        )
        .arg(output)
        .arg(
            Arg::new(APPLY)
                .long(APPLY)
                .action(ArgAction::SetTrue)
                .help("Make the changes (UpdateAccessKey --status Inactive), then list each user's keys again to confirm."),
        )
        .arg(
            Arg::new(MIN_IDLE)
                .long(MIN_IDLE)
                .value_name("DURATION")
                .value_parser(MinIdle::parse)
                .default_value(MIN_IDLE_TEXT)
                .help("Never deactivate a key used more recently than this."),
        );
    // clap's own version flag prints one line; this one prints `version()`.
    let version = Arg::new(VERSION)
        .long(VERSION)
        .short('V')
        .action(ArgAction::SetTrue)
        .help("Print the version, revision, branch, build date, compiler and platform.");
    let mut root = ClapCommand::new("iam-key-exporter")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_version_flag(true)
        .about(env!("CARGO_PKG_DESCRIPTION"))
        .arg(version)
        .arg(config_file);
    for setting in settings::all() {
        match setting.flag {
            Some(settings::Flag {
                scope: FlagScope::Daemon,
                ..
            }) => root = root.arg(flag(setting)),
            Some(settings::Flag {
                scope: FlagScope::Global,
                ..
            }) => {
                root = root.arg(flag(setting));
                check = check.arg(flag(setting));
                remediate = remediate.arg(flag(setting));
            }
            None => {}
        }
    }
    root.subcommand(check).subcommand(remediate)
}

/// A setting's flag, its help line stating the default.
fn flag(setting: &'static settings::Setting) -> Arg {
    let settings::Flag {
        name, value_name, ..
    } = setting.flag.expect("only settings with a flag");
    let default = setting.default.unwrap_or("unset");
    Arg::new(name)
        .long(name)
        .value_name(value_name)
        .help(format!("{} [default: {default}]", setting.help))
        .action(ArgAction::Set)
}

impl Cli {
    /// Parses the process's arguments.
    pub fn parse() -> Result<Cli, clap::Error> {
        Self::parse_from(std::env::args_os())
    }

    /// Parses `args` (the program name first).
    pub fn parse_from(
        args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    ) -> Result<Cli, clap::Error> {
        let matches = command().try_get_matches_from(args)?;
        let (command, sub) = match matches.subcommand() {
            Some(("check", sub)) => {
                let output = sub
                    .get_one::<String>(OUTPUT)
                    .and_then(|name| OutputFormat::parse(name))
                    .unwrap_or(OutputFormat::Table);
                (Command::Check { output }, Some(sub))
            }
            Some(("remediate", sub)) => {
                let options = RemediateOptions {
                    apply: sub.get_flag(APPLY),
                    min_idle: sub
                        .get_one::<MinIdle>(MIN_IDLE)
                        .cloned()
                        .unwrap_or_default(),
                    output: sub
                        .get_one::<String>(OUTPUT)
                        .and_then(|name| OutputFormat::parse(name))
                        .unwrap_or(OutputFormat::Table),
                };
                (Command::Remediate(options), Some(sub))
            }
            _ if matches.get_flag(VERSION) => (Command::Version, None),
            _ => (Command::Serve, None),
        };
        let mut overrides = Overrides {
            config_file: matches.get_one::<PathBuf>(CONFIG_FILE).cloned(),
            ..Overrides::default()
        };
        for setting in settings::all() {
            let Some(name) = setting.flag_name() else {
                continue;
            };
            let value = sub
                .and_then(|sub| flag_value(sub, name))
                .or_else(|| flag_value(&matches, name));
            if let Some(value) = value {
                overrides = overrides.with_flag(setting, value);
            }
        }
        Ok(Cli { overrides, command })
    }
}

fn flag_value(matches: &ArgMatches, name: &str) -> Option<String> {
    matches.try_get_one::<String>(name).ok().flatten().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn help(command: &mut ClapCommand) -> String {
        command.render_long_help().to_string()
    }

    /// Every flag's help line says the setting's help text and its default.
    #[test]
    fn the_help_text_states_each_flags_help_and_default() {
        let mut root = command();
        let daemon = help(&mut root);
        let check = help(root.find_subcommand_mut("check").unwrap());
        for setting in settings::all() {
            let Some(settings::Flag { name, scope, .. }) = setting.flag else {
                continue;
            };
            let default = format!("[default: {}]", setting.default.unwrap_or("unset"));
            for (text, expected) in [(&daemon, true), (&check, scope == FlagScope::Global)] {
                let at = text.find(&format!("--{name} <"));
                assert_eq!(at.is_some(), expected, "--{name} in:\n{text}");
                if let Some(at) = at {
                    let entry = &text[at..];
                    let entry = &entry[..entry.find("\n  -").unwrap_or(entry.len())];
                    let flat = entry.split_whitespace().collect::<Vec<_>>().join(" ");
                    assert!(flat.contains(setting.help), "{flat}");
                    assert!(flat.contains(&default), "{flat}");
                }
            }
        }
    }

    #[test]
    fn flags_become_overrides_of_their_keys() {
        let cli = Cli::parse_from([
            "iam-key-exporter",
            "--refresh.interval",
            "1m",
            "--log.level=debug",
        ])
        .unwrap();
        assert_eq!(cli.command, Command::Serve);
        let keys: Vec<(&str, &str)> = cli
            .overrides
            .flags
            .iter()
            .map(|(s, v)| (s.key, v.as_str()))
            .collect();
        assert_eq!(keys, [("refresh.interval", "1m"), ("log.level", "debug")]);
    }

    #[test]
    fn check_takes_the_global_flags_but_not_the_daemons() {
        let cli = Cli::parse_from([
            "iam-key-exporter",
            "check",
            "--output",
            "json",
            "--log.format",
            "json",
        ])
        .unwrap();
        assert_eq!(
            cli.command,
            Command::Check {
                output: OutputFormat::Json
            }
        );
        assert_eq!(cli.overrides.flags.len(), 1);
        let err = Cli::parse_from(["iam-key-exporter", "check", "--web.listen-address", ":1"])
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::parse_from(["iam-key-exporter", "check", "--output", "xml"]).unwrap_err();
        assert!(err.to_string().contains("table"), "{err}");
    }

    #[test]
    fn remediate_is_a_dry_run_unless_told_to_apply() {
        let cli = Cli::parse_from(["iam-key-exporter", "remediate"]).unwrap();
        let Command::Remediate(options) = cli.command else {
            panic!("{:?}", cli.command)
        };
        assert!(!options.apply);
        assert_eq!(
            options.min_idle,
            MinIdle::default(),
            "`24h`, as --help says"
        );
        assert_eq!(options.min_idle.as_str(), "24h", "not humantime's `1day`");
        let cli = Cli::parse_from([
            "iam-key-exporter",
            "remediate",
            "--apply",
            "--min-idle=7d",
            "--output=json",
            "--log.level=warn",
        ])
        .unwrap();
        let Command::Remediate(options) = cli.command else {
            panic!("{:?}", cli.command)
        };
        assert!(options.apply);
        assert_eq!(
            options.min_idle.duration(),
            std::time::Duration::from_secs(7 * 86_400)
        );
        assert_eq!(options.min_idle.as_str(), "7d", "echoed as written");
        assert_eq!(options.output, OutputFormat::Json);
        let err =
            Cli::parse_from(["iam-key-exporter", "remediate", "--min-idle", "soon"]).unwrap_err();
        assert!(err.to_string().contains("24h"), "{err}");
        assert_eq!(err.exit_code(), 2);
    }

    /// `--version` as node_exporter prints it; `-V` the same.
    #[test]
    fn version_names_the_revision_branch_build_date_compiler_and_platform() {
        for flag in ["--version", "-V"] {
            let cli = Cli::parse_from(["iam-key-exporter", flag]).unwrap();
            assert_eq!(cli.command, Command::Version, "{flag}");
        }
        let text = version();
        let lines: Vec<&str> = text.lines().collect();
        let first = format!(
            "iam-key-exporter, version {} (branch: ",
            env!("CARGO_PKG_VERSION")
        );
        assert!(lines[0].starts_with(&first), "{text}");
        assert!(lines[0].contains(", revision: "), "{text}");
        for (line, label) in lines[1..]
            .iter()
            .zip(["build date:", "rust version:", "platform:"])
        {
            assert!(line.trim_start().starts_with(label), "{text}");
            assert!(!line.ends_with(':'), "{text}");
        }
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[3].ends_with(&format!(
            "{}/{}",
            std::env::consts::OS,
            std::env::consts::ARCH
        )));
    }

    /// A mistyped subcommand or `--output` value is answered with the one meant.
    #[test]
    fn a_mistyped_subcommand_or_output_is_answered_with_the_one_meant() {
        let err = Cli::parse_from(["iam-key-exporter", "chek"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("similar subcommand exists: 'check'"),
            "{err}"
        );
        let err = Cli::parse_from(["iam-key-exporter", "remediat"]).unwrap_err();
        assert!(err.to_string().contains("'remediate'"), "{err}");
        let err = Cli::parse_from(["iam-key-exporter", "check", "--output", "jsn"]).unwrap_err();
        assert!(
            err.to_string().contains("similar value exists: 'json'"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 2);
    }
}
