//! `[web]`: the HTTP server's settings.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::settings::{duration, optional, whole, Bad, Flag, FlagScope, Setting, DURATION};

/// The HTTP server's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WebConfig {
    /// Where to listen; `:10027` means every IPv4 interface.
    pub listen_address: SocketAddr,
    /// Path of the metrics page.
    pub telemetry_path: String,
    /// How long a client may take to send its request headers; slow clients cannot hold
    /// connections open forever.
    pub header_read_timeout: Duration,
    /// Connections held open at once; at the cap a new connection closes the oldest, so no
    /// set of clients can hold every slot.
    pub max_connections: usize,
    /// How long a client may take to read the answers to what it asked (pipelined requests
    /// included), from the last request it sent.
    pub write_timeout: Duration,
    /// The exporter-toolkit web configuration file (TLS, basic authentication); `None`: plain
    /// HTTP without authentication. Checked here to exist; read by the server, which re-reads
    /// it when it changes.
    pub config_file: Option<PathBuf>,
}

pub(crate) const LISTEN_ADDRESS: Setting = Setting {
    key: "web.listen_address",
    flag: Some(Flag {
        name: "web.listen-address",
        scope: FlagScope::Daemon,
        value_name: "ADDRESS",
    }),
    default: Some(":10027"),
    help: "Address to listen on for the metrics page.",
    expected: "an address like `:10027`, `127.0.0.1:10027` or `[::]:10027`",
    list: false,
    apply: |text, d| {
        d.web.listen_address = parse_listen_address(text).ok_or(Bad::Whole)?;
        Ok(())
    },
};

pub(crate) const TELEMETRY_PATH: Setting = Setting {
    key: "web.telemetry_path",
    flag: Some(Flag {
        name: "web.telemetry-path",
        scope: FlagScope::Daemon,
        value_name: "PATH",
    }),
    default: Some("/metrics"),
    help: "Path under which to expose metrics.",
    expected: "a path like `/metrics`: ASCII, starting with `/`, without spaces, `?`, `#` or `%`, and not `/`, `/-/healthy` or `/-/ready`",
    list: false,
    apply: |text, d| {
        d.web.telemetry_path = parse_telemetry_path(text).ok_or(Bad::Whole)?;
        Ok(())
    },
};

pub(crate) const CONFIG_FILE: Setting = Setting {
    key: "web.config_file",
    flag: Some(Flag {
        name: "web.config.file",
        scope: FlagScope::Daemon,
        value_name: "FILE",
    }),
    default: None,
    help: "Web configuration file that turns on TLS and basic authentication; unset: plain HTTP, no authentication.",
    expected: "the path of a readable web configuration file (YAML, exporter-toolkit format)",
    list: false,
    apply: |text, d| {
        d.web.config_file = config_file(text)?;
        Ok(())
    },
};

pub(crate) const HEADER_READ_TIMEOUT: Setting = Setting {
    key: "web.header_read_timeout",
    flag: None,
    default: Some("10s"),
    help: "A client that has not sent its request headers after this long, or a kept-alive connection idle this long, is disconnected.",
    expected: DURATION,
    list: false,
    apply: |text, d| {
        d.web.header_read_timeout = duration(text)?;
        Ok(())
    },
};

pub(crate) const MAX_CONNECTIONS: Setting = Setting {
    key: "web.max_connections",
    flag: None,
    default: Some("64"),
    help: "Connections held open at once.",
    expected: "a whole number from 1 to 10000",
    list: false,
    apply: |text, d| {
        d.web.max_connections = whole(text, 1, 10_000)? as usize;
        Ok(())
    },
};

pub(crate) const WRITE_TIMEOUT: Setting = Setting {
    key: "web.write_timeout",
    flag: None,
    default: Some("30s"),
    help: "A client that has not read the answers to its requests after this long is disconnected.",
    expected: DURATION,
    list: false,
    apply: |text, d| {
        d.web.write_timeout = duration(text)?;
        Ok(())
    },
};

/// The section's settings, in the order of the README's table and the example files.
pub(crate) const SETTINGS: &[&Setting] = &[
    &LISTEN_ADDRESS,
    &TELEMETRY_PATH,
    &CONFIG_FILE,
    &HEADER_READ_TIMEOUT,
    &MAX_CONNECTIONS,
    &WRITE_TIMEOUT,
];

/// Placeholders only: every field is set from its setting's default before use.
impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen_address: SocketAddr::from(([0, 0, 0, 0], 0)),
            telemetry_path: String::new(),
            header_read_timeout: Duration::ZERO,
            max_connections: 0,
            write_timeout: Duration::ZERO,
            config_file: None,
        }
    }
}

/// Accepts `:PORT` (every IPv4 interface), `HOST:PORT` and `[V6]:PORT`.
pub(crate) fn parse_listen_address(text: &str) -> Option<SocketAddr> {
    if let Some(port) = text.strip_prefix(':') {
        let port = port.parse::<u16>().ok()?;
        return Some(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    // A host name such as `localhost:10027`; resolved once, at start-up.
    text.to_socket_addrs().ok()?.next()
}

/// A path the server can match as given: ASCII without spaces, `?`, `#` or `%` (a client would
/// percent-encode anything else, and the request would never match).
fn parse_telemetry_path(text: &str) -> Option<String> {
    let reserved = ["/", "/-/healthy", "/-/ready"];
    let valid = text.starts_with('/')
        && !reserved.contains(&text)
        && text
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '%'));
    valid.then(|| text.to_owned())
}

/// The web config file must be there at start-up; its content is the server's to check (it
/// re-reads the file when it changes), before the port is bound.
fn config_file(text: &str) -> Result<Option<PathBuf>, Bad> {
    let Some(path) = optional(text).map(PathBuf::from) else {
        return Ok(None);
    };
    let problem = match std::fs::metadata(&path) {
        Ok(metadata) if metadata.is_file() => return Ok(Some(path)),
        Ok(_) => "not a file".to_owned(),
        Err(err) => err.to_string(),
    };
    Err(Bad::Message(format!(
        "cannot use `{}`: {problem}; expected {}",
        path.display(),
        CONFIG_FILE.expected
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_in_the_exporter_toolkit_forms_are_understood() {
        assert_eq!(
            parse_listen_address(":10027"),
            Some(SocketAddr::from(([0, 0, 0, 0], 10027)))
        );
        assert_eq!(
            parse_listen_address("[::1]:9"),
            Some("[::1]:9".parse().unwrap())
        );
        assert_eq!(parse_listen_address("10027"), None);
        assert_eq!(parse_listen_address(":99999"), None);
    }
}
