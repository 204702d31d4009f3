//! The control socket's protocol, typed both ways: a client sends one
//! [`Request`] a line and reads [`Reply`] lines; the server reads the same
//! types. The wire format (newline-delimited JSON) is in
//! `docs/supervisor.md`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::config::diff::Diff;
use crate::lifecycle::StartOutcome;
use crate::supervisor::history::HistoryEvent;
use crate::supervisor::reload::ConfigStatus;
use crate::supervisor::Command;
use crate::view::ServiceView;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    Hello,
    Events,
    /// The supervisor's view of every service, once (`Reply::Snapshot`).
    View,
    Subscribe {
        /// Also the supervisor's view of every service, whenever it changes.
        #[serde(default)]
        snapshots: bool,
    },
    Shutdown,
    Start {
        services: Vec<String>,
        /// Past this (ms since the epoch) the client no longer waits: a
        /// supervisor that reads the request only then drops it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline_ms: Option<u64>,
    },
    /// The client does `command` to `services` itself: recorded in the
    /// history (who asked is the peer's PID, never the client's word).
    Requested {
        command: String,
        services: Vec<String>,
    },
    /// Run the config file as it is now (with `config`/`profiles`: that
    /// file, those profiles, from now on): `Reply::Reloaded`, or an error
    /// naming the file, service and key (the stack runs on as it was).
    Reload {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config: Option<std::path::PathBuf>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profiles: Option<Vec<String>>,
    },
    /// `local scale`: `service` runs `replicas` copies from now on
    /// (`Reply::Reloaded`, or an error; nothing changes then).
    Scale {
        service: String,
        replicas: u32,
    },
    /// For one service, or (start and stop only) the whole stack.
    Command {
        command: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
    },
}

/// One reply line. Which one it is shows by its keys (the wire format has
/// no tag): the order below is the order they are told apart in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    Event {
        event: HistoryEvent,
    },
    Snapshot {
        snapshot: Vec<ServiceView>,
    },
    Result {
        result: StartResult,
    },
    Reloaded {
        ok: bool,
        reloaded: Diff,
    },
    Hello {
        ok: bool,
        supervisor: SupervisorSummary,
    },
    /// The end of a stream of replies (`events`, `start`).
    Done {
        ok: bool,
        done: bool,
    },
    Error {
        ok: bool,
        error: String,
    },
    Ok {
        ok: bool,
    },
}

impl Reply {
    pub fn error(e: impl fmt::Display) -> Self {
        Reply::Error {
            ok: false,
            error: e.to_string(),
        }
    }

    pub fn ok() -> Self {
        Reply::Ok { ok: true }
    }

    pub fn done(ok: bool) -> Self {
        Reply::Done { ok, done: true }
    }

    /// The line to send.
    pub fn line(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"ok\":false,\"error\":\"unserialisable reply: {e}\"}}"))
    }
}

/// What `hello` and `status --json` say about the supervisor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SupervisorSummary {
    pub pid: i32,
    pub since: String,
    pub attached_clients: usize,
    /// The file it runs (and the last reload's trouble).
    #[serde(default)]
    pub config: ConfigStatus,
}

impl SupervisorSummary {
    /// Why a client with `stack` should not take this supervisor for its
    /// own: it runs another file or other profiles (with what to do).
    pub fn runs_other(&self, stack: &crate::config::service::Stack) -> Option<String> {
        let ours = ConfigStatus::of(stack);
        if ours.path == self.config.path && ours.profiles == self.config.profiles {
            return None;
        }
        let describe = |c: &ConfigStatus| {
            let file = c
                .path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "no config file".into());
            if c.profiles.is_empty() {
                file
            } else {
                format!("{file} with --profile {}", c.profiles.join(","))
            }
        };
        Some(format!(
            "the supervisor (PID {}) runs {}, not {}; `stigmer local reload` with this --config (and --profile) makes it run this one, or use its --config",
            self.pid,
            describe(&self.config),
            describe(&ours)
        ))
    }
}

/// One service's result of a start handed to the supervisor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartResult {
    pub name: String,
    pub outcome: Option<StartOutcome>,
    pub error: Option<String>,
}

/// The commands a client may ask for, by the one word each has on the
/// wire (and in the history: `requested: restart by PID n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Start,
    Stop,
    Kill,
    Restart,
    Clean,
    /// Restart on change off, or on again.
    Watch,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::Kill => "kill",
            Verb::Restart => "restart",
            Verb::Clean => "clean",
            Verb::Watch => "watch",
        }
    }

    /// The actor's command for it.
    pub fn command(self) -> Command {
        match self {
            Verb::Start => Command::Start,
            Verb::Stop => Command::Stop,
            Verb::Kill => Command::Kill,
            Verb::Restart => Command::Restart,
            Verb::Clean => Command::Clean,
            Verb::Watch => Command::ToggleWatch,
        }
    }

    /// The word for an actor's command, when a client may ask for it.
    pub fn of(c: Command) -> Option<Verb> {
        Some(match c {
            Command::Start => Verb::Start,
            Command::Stop => Verb::Stop,
            Command::Kill => Verb::Kill,
            Command::Restart => Verb::Restart,
            Command::Clean => Verb::Clean,
            Command::ToggleWatch => Verb::Watch,
            _ => return None,
        })
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Verb {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Verb::Start,
            Verb::Stop,
            Verb::Kill,
            Verb::Restart,
            Verb::Clean,
            Verb::Watch,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| format!("unknown command {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_told_apart_by_their_keys_and_round_trip() {
        let cases = [
            (r#"{"ok":true,"done":true}"#, Reply::done(true)),
            (r#"{"ok":false,"error":"no"}"#, Reply::error("no")),
            (r#"{"ok":true}"#, Reply::ok()),
            (
                r#"{"ok":true,"supervisor":{"pid":7,"since":"t","attached_clients":1,"config":{"path":"/s.toml","profiles":[]}}}"#,
                Reply::Hello {
                    ok: true,
                    supervisor: SupervisorSummary {
                        pid: 7,
                        since: "t".into(),
                        attached_clients: 1,
                        config: ConfigStatus {
                            path: Some("/s.toml".into()),
                            ..Default::default()
                        },
                    },
                },
            ),
            (
                r#"{"ok":true,"reloaded":{"added":["c"],"removed":[],"changed":[],"unchanged":["a"]}}"#,
                Reply::Reloaded {
                    ok: true,
                    reloaded: Diff {
                        added: vec!["c".into()],
                        unchanged: vec!["a".into()],
                        ..Default::default()
                    },
                },
            ),
            (
                r#"{"result":{"name":"api","outcome":null,"error":"boom"}}"#,
                Reply::Result {
                    result: StartResult {
                        name: "api".into(),
                        outcome: None,
                        error: Some("boom".into()),
                    },
                },
            ),
        ];
        for (line, want) in cases {
            let got: Reply = serde_json::from_str(line).unwrap();
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{line}");
            let back: Reply = serde_json::from_str(&got.line()).unwrap();
            assert_eq!(format!("{back:?}"), format!("{want:?}"));
            assert_eq!(got.line(), line, "the wire form is kept");
        }
    }

    #[test]
    fn requests_keep_their_wire_form_and_verbs_have_one_word_each() {
        let r = Request::Command {
            command: Verb::Restart.to_string(),
            service: Some("api".into()),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"op":"command","command":"restart","service":"api"}"#
        );
        assert_eq!(
            serde_json::to_string(&Request::Hello).unwrap(),
            r#"{"op":"hello"}"#
        );
        for v in [
            Verb::Start,
            Verb::Stop,
            Verb::Kill,
            Verb::Restart,
            Verb::Clean,
        ] {
            assert_eq!(v.as_str().parse::<Verb>(), Ok(v));
            assert_eq!(Verb::of(v.command()), Some(v));
        }
        assert!("reboot"
            .parse::<Verb>()
            .unwrap_err()
            .contains("unknown command"));
    }
}
