//! A private tmux server for the real-terminal tests: `stigmer dash` in a
//! pane, keys by send-keys, the screen by capture-pane.

use std::process::Command;
use std::time::Duration;

use super::{wait_until, Env, STIGMER};

/// A private tmux server (its own socket), killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn new(name: &str) -> Self {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "tmux is missing: run `bash scripts/setup.sh` (installs it)"
        );
        Self {
            socket: format!("stigmer-{name}-{}", std::process::id()),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.socket);
        c
    }

    /// Runs `stigmer dash` for `env` in a 120×40 pane; the pane outlives it
    /// so the restored terminal can be inspected.
    /// Watching only (`--no-start`): the tests press the keys.
    pub fn launch(&self, env: &Env) {
        self.launch_as(env, "dash");
    }

    pub fn launch_as(&self, env: &Env, session: &str) {
        self.launch_with(env, session, "--no-start");
    }

    pub fn launch_with(&self, env: &Env, session: &str, args: &str) {
        self.launch_sized(env, session, args, 120, 40);
    }

    pub fn launch_sized(&self, env: &Env, session: &str, args: &str, w: u16, h: u16) {
        let config = env
            .config
            .as_ref()
            .map(|c| format!("--config {} ", c.display()))
            .unwrap_or_default();
        let line = format!(
            "{STIGMER} --home {} --port {} {config}dash {args}; echo DASH-EXITED $?; sleep 120",
            env.home.display(),
            env.port
        );
        let st = self
            .cmd()
            .args(["new-session", "-d", "-s", session])
            .args(["-x", &w.to_string(), "-y", &h.to_string()])
            .arg(line)
            .env_remove("STIGMER_HOME")
            .status()
            .unwrap();
        assert!(st.success());
    }

    pub fn screen(&self) -> String {
        self.screen_of("dash")
    }

    pub fn screen_of(&self, session: &str) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn keys(&self, keys: &str) {
        self.keys_to("dash", keys);
    }

    pub fn keys_to(&self, session: &str, keys: &str) {
        assert!(self
            .cmd()
            .args(["send-keys", "-t", session, keys])
            .status()
            .unwrap()
            .success());
    }

    pub fn format(&self, f: &str) -> String {
        let out = self
            .cmd()
            .args(["display-message", "-p", "-t", "dash", f])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits (bounded) until the screen satisfies `cond`.
    pub fn wait(&self, what: &str, timeout: Duration, cond: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let ok = wait_until(timeout, || {
            last = self.screen();
            cond(&last)
        });
        assert!(ok, "screen never showed {what} within {timeout:?}:\n{last}");
        last
    }

    pub fn dash_pid(&self) -> i32 {
        self.format("#{pane_pid}")
            .parse::<i32>()
            .ok()
            .and_then(child_of)
            .expect("dash process")
    }
}

/// The stigmer process running under the pane's shell.
fn child_of(shell: i32) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).ok()?;
    text.split_whitespace()
        .filter_map(|p| p.parse().ok())
        .find(|p: &i32| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "stigmer")
        })
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}
