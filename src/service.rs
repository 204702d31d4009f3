//! `ServiceSpec`: what one supervised program is. Temporal is the built-in
//! one; nothing below the spec knows it is Temporal.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{RestartPolicy, Settings};
use crate::ports::PortRole;

pub use crate::process::identity::TAG_VAR;

#[derive(Debug, Clone)]
pub struct PortSpec {
    pub role: PortRole,
    pub port: u16,
}

#[derive(Debug, Clone)]
pub struct Readiness {
    pub port: u16,
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub program: Result<PathBuf, String>,
    pub args: Vec<String>,
    pub ports: Vec<PortSpec>,
    pub readiness: Readiness,
    pub grace: Duration,
    pub ready_timeout: Duration,
    pub restart: RestartPolicy,
    /// `name:<state-dir hash>:` — every process started for this state dir
    /// carries a tag beginning with this.
    pub tag_prefix: String,
}

impl ServiceSpec {
    pub fn temporal(s: &Settings) -> Self {
        Self {
            name: "temporal".into(),
            program: s.program.clone(),
            args: s.args.clone(),
            ports: vec![
                PortSpec {
                    role: PortRole::Grpc,
                    port: s.grpc_port,
                },
                PortSpec {
                    role: PortRole::Ui,
                    port: s.ui_port,
                },
                PortSpec {
                    role: PortRole::Http,
                    port: s.http_port,
                },
            ],
            readiness: Readiness {
                port: s.http_port,
                path: "/api/v1/cluster-info".into(),
            },
            grace: s.grace,
            ready_timeout: s.ready_timeout,
            restart: s.restart,
            tag_prefix: format!(
                "temporal:{:016x}:",
                fnv1a(s.state.root().to_string_lossy().as_bytes())
            ),
        }
    }

    pub fn port(&self, role: PortRole) -> Option<u16> {
        self.ports.iter().find(|p| p.role == role).map(|p| p.port)
    }

    /// A fresh tag value for one start.
    pub fn new_tag(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        format!(
            "{}{:x}-{:x}",
            self.tag_prefix,
            now.as_nanos() as u64,
            std::process::id()
        )
    }
}

/// Stable across builds and versions (unlike `DefaultHasher`), so a newer
/// stigmer still recognises processes an older one started.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}
