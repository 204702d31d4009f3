//! What the dashboard's event loop works with besides the UI model: who
//! supervises (we, or the supervisor we are attached to, or nobody yet),
//! the supervisor's view of every service, and our inspector.
//!
//! The dashboard never half-supervises. It supervises (it holds the lock:
//! an inspector, actors, coordinator and socket of its own), or it is
//! attached (the supervisor's view and history come over the socket, our
//! keys go back as commands; we only inspect), or, for the moments between
//! (a supervisor that just left or is just starting), it watches: every
//! second it supervises if the lock is free, else attaches once the socket
//! answers.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::service::Stack;
use crate::control::{Attached, Served, Verb};
use crate::supervisor::inspector::Inspector;
use crate::supervisor::stack::{self, unsupervised_views};
use crate::supervisor::{StackCommand, StackHandle};
use crate::ui::{App, Entry};
use crate::view::ServiceView;

/// Our own supervision: the stack and its socket.
pub(super) struct Supervising {
    pub handle: StackHandle,
    pub server: Option<Served>,
}

pub(super) struct Session {
    pub stack: Stack,
    pub inspector: Inspector,
    /// The supervisor's view of every service: our coordinator writes it,
    /// or we copy in the one of the supervisor we are attached to.
    pub views: watch::Sender<Vec<ServiceView>>,
    pub attached: Option<Attached>,
    pub ours: Option<Supervising>,
    pub socket: PathBuf,
    /// `Q` while attached: the stop of the stack asked for, until when.
    pub stop_deadline: Option<Instant>,
    pub stop_failed: bool,
    /// The supervisor we are attached to reloaded: read our file again.
    pub stale: bool,
}

impl Session {
    pub fn new(stack: Stack, inspector: Inspector, views: watch::Sender<Vec<ServiceView>>) -> Self {
        Self {
            socket: stack.settings.state.socket_path(),
            stack,
            inspector,
            views,
            attached: None,
            ours: None,
            stop_deadline: None,
            stop_failed: false,
            stale: false,
        }
    }

    /// Supervises, if the supervisor lock is free (and serves the socket).
    pub fn supervise(&mut self, autostart: bool) -> bool {
        let spawned = stack::spawn(
            self.stack.clone(),
            autostart,
            self.inspector.clone(),
            self.views.clone(),
        );
        let Ok(handle) = spawned else {
            return false;
        };
        let server = crate::control::serve_attached(&self.stack, &handle);
        self.ours = Some(Supervising { handle, server });
        true
    }

    /// A key's command: to the supervisor we are attached to, or to ours.
    pub fn command(&self, app: &mut App, cmd: StackCommand) {
        if let Some(ours) = &self.ours {
            if ours.handle.commands.try_send(cmd).is_err() {
                app.notice = Some("supervisor busy; try again".into());
            }
            return;
        }
        let Some(a) = &self.attached else {
            app.notice = Some("nobody supervises yet (a supervisor is starting or just left); try again in a second".into());
            return;
        };
        if let Some(why) = self.other_config() {
            app.notice = Some(format!("watching only: {why}; L makes it run this one"));
            return;
        }
        let sent = match &cmd {
            StackCommand::Service(name, c) => match Verb::of(*c) {
                Some(v) => a.command(v, Some(name)),
                // Refresh: our own inspection.
                None => {
                    self.inspector.refresh_all();
                    true
                }
            },
            StackCommand::StartAll => a.command(Verb::Start, None),
            StackCommand::StopAll | StackCommand::Shutdown { stop: true } => {
                a.command(Verb::Stop, None)
            }
            _ => {
                self.inspector.refresh_all();
                true
            }
        };
        if !sent {
            app.notice = Some("the supervisor does not take commands now; try again".into());
        }
    }

    /// The services as shown: the supervisor's view and our inspection.
    pub fn entries(&self) -> Vec<Entry> {
        // The supervisor runs another file: nobody supervises ours.
        if self.other_config().is_some() {
            return self
                .stack
                .services
                .iter()
                .map(|c| {
                    let name = &c.spec.name;
                    Entry::new(
                        ServiceView::unsupervised(name),
                        self.inspector.seen_of(name),
                    )
                })
                .collect();
        }
        let views = self.views.borrow();
        views
            .iter()
            .map(|v| Entry::new(v.clone(), self.inspector.seen_of(&v.name)))
            .collect()
    }

    /// The supervisor we were attached to went away: its decisions no
    /// longer hold. We supervise if its lock is free (our actors adopt
    /// what runs), or watch until we can.
    pub fn detach(&mut self, app: &mut App) {
        if let Some(a) = self.attached.take() {
            tracing::warn!(
                "the supervisor (PID {}) left; this dashboard supervises if nobody else does",
                a.supervisor.pid
            );
        }
        app.attached_to = None;
        self.views.send_replace(unsupervised_views(&self.stack));
        self.supervise(false);
        self.inspector.refresh_all();
    }

    /// Once a second while we neither supervise nor are attached: supervise
    /// if the lock is free, attach if a supervisor answers. True when it
    /// just attached.
    pub async fn housekeeping(&mut self, app: &mut App) -> bool {
        if self.attached.is_some() || self.ours.is_some() || self.supervise(false) {
            return false;
        }
        if std::fs::symlink_metadata(&self.socket).is_err() {
            return false;
        }
        let Some(a) = crate::control::attach(&self.socket, Duration::from_millis(200)).await else {
            return false;
        };
        app.attached_to = Some(a.supervisor.pid);
        self.attached = Some(a);
        true
    }

    /// The supervisor we are attached to runs another file (or other
    /// profiles) than ours: we only watch, and say so.
    pub fn other_config(&self) -> Option<String> {
        self.attached.as_ref()?.supervisor.runs_other(&self.stack)
    }

    /// What the header and footer say of the config: the file run, and
    /// the trouble with it (a refused reload, or another file).
    pub fn config_words(&self) -> (Option<String>, Option<String>) {
        let file = self
            .stack
            .settings
            .config_path
            .as_deref()
            .map(|p| p.display().to_string());
        let trouble = match (&self.ours, &self.attached) {
            (Some(o), _) => o.handle.reloader.status.borrow().error.clone(),
            (None, Some(a)) => match &a.supervisor.config.path {
                Some(theirs) if self.other_config().is_some() => Some(format!(
                    "L: make the supervisor (PID {}) run this file; it runs {} (keys only watch)",
                    a.supervisor.pid,
                    theirs.display()
                )),
                _ => self
                    .other_config()
                    .map(|w| format!("L: run this dashboard's file — {w}"))
                    .or_else(|| a.supervisor.config.error.clone()),
            },
            (None, None) => None,
        };
        (file, trouble)
    }

    /// The stack changed: our coordinator reloaded it, or the supervisor
    /// we are attached to did (then we read our file again, as it does).
    /// True when we took a new stack.
    pub fn follow_stack(&mut self) -> bool {
        if let Some(o) = self.ours.as_mut() {
            if !o.handle.stack.has_changed().unwrap_or(false) {
                return false;
            }
            self.stack = o.handle.stack.borrow_and_update().clone();
            return true;
        }
        if self.attached.is_none() || self.other_config().is_some() {
            return false;
        }
        let theirs: Vec<String> = self.views.borrow().iter().map(|v| v.name.clone()).collect();
        if !self.stale && theirs == self.stack.names() {
            return false;
        }
        self.stale = false;
        let origin = self.stack.settings.origin.clone();
        match crate::config::Settings::resolve(origin).and_then(Stack::new) {
            Ok(s) => {
                self.inspector.follow(&s);
                self.stack = s;
                true
            }
            Err(e) => {
                tracing::warn!(
                    "the supervisor reloaded, but this dashboard cannot read the config: {e:#}"
                );
                false
            }
        }
    }

    /// Each service's facts for the screen.
    pub fn infos(&self) -> Vec<crate::ui::Info> {
        self.stack
            .services
            .iter()
            .map(|c| crate::ui::Info::of(c))
            .collect()
    }

    /// `L`: the config file run as it is now — by us, or by the supervisor
    /// we are attached to (this dashboard's file and profiles).
    pub fn reload(&self, app: &mut App) {
        if let Some(o) = &self.ours {
            let r = o.handle.reloader.clone();
            tokio::spawn(async move {
                let _ = r.reload(None, None).await; // its outcome is an event
            });
            app.notice = Some("reloading the config…".into());
        } else if let Some(a) = &self.attached {
            a.reload(&self.stack);
            app.notice = Some("asked the supervisor to reload the config…".into());
        } else {
            app.notice = Some("nobody supervises yet; try again in a second".into());
        }
    }

    /// Asks the supervisor we are attached to who it is now (after a
    /// reload, it may run another file).
    pub async fn recheck(&mut self) {
        let Some(a) = self.attached.as_mut() else {
            return;
        };
        if let Some(mut c) =
            crate::control::Client::connect(&self.socket, Duration::from_millis(300)).await
        {
            if let Some(s) = c.hello().await {
                a.supervisor = s;
            }
        }
    }

    /// `Q` while attached is done once the supervisor says all stopped.
    pub fn all_stopped(&self) -> bool {
        self.views.borrow().iter().all(|v| v.phase.idle())
    }
}
