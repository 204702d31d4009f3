//! What a reload changes: the stack as the file says now against the one
//! running, service by service, by name and resolved spec (its command,
//! environment after env files, readiness, ports, policies, dependencies).
//! Pure; the coordinator carries it out (docs/stack.md, "Reloading").

use std::collections::BTreeSet;

use super::service::Stack;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diff {
    /// In the file now, not running before: started if `autostart`.
    pub added: Vec<String>,
    /// Gone from the file (or left out by the profiles now): stopped.
    pub removed: Vec<String>,
    /// Resolved differently (`ServiceSpec::runs_same`): stopped, then
    /// started again if it ran.
    pub changed: Vec<String>,
    /// Exactly as before: left alone, same PIDs.
    pub unchanged: Vec<String>,
}

impl Diff {
    pub fn of(old: &Stack, new: &Stack) -> Self {
        let mut d = Diff::default();
        for c in &new.services {
            let name = c.spec.name.clone();
            match old.get(&name) {
                None => d.added.push(name),
                Some(o) if !o.spec.runs_same(&c.spec) => d.changed.push(name),
                Some(_) => d.unchanged.push(name),
            }
        }
        d.removed = old
            .services
            .iter()
            .map(|c| c.spec.name.clone())
            .filter(|n| new.get(n).is_none())
            .collect();
        d
    }

    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// What must stop before the new stack takes over.
    pub fn retiring(&self) -> BTreeSet<String> {
        self.removed.iter().chain(&self.changed).cloned().collect()
    }

    /// One line for people: `added c; changed worker; removed b`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = [
            ("added", &self.added),
            ("changed", &self.changed),
            ("removed", &self.removed),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(w, v)| format!("{w} {}", v.join(", ")))
        .collect();
        if parts.is_empty() {
            "nothing changed".into()
        } else {
            parts.join("; ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, Settings};

    fn stack(dir: &std::path::Path, toml: &str) -> Stack {
        let cfg = dir.join("stigmer.toml");
        std::fs::write(&cfg, toml).unwrap();
        let ov = Overrides {
            config: Some(cfg),
            home: Some(dir.join("home")),
            ..Default::default()
        };
        Stack::new(Settings::resolve(ov).unwrap()).unwrap()
    }

    #[test]
    fn a_service_is_added_removed_changed_or_left_alone() {
        let dir = std::env::temp_dir().join(format!("stigmer-diff-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let head = "[temporal]\nenabled = false\n";
        let old = stack(
            &dir,
            &format!(
                "{head}[services.a]\ncommand = [\"sleep\", \"100\"]\n\
                 [services.b]\ncommand = [\"sleep\", \"100\"]\n\
                 [services.c]\ncommand = [\"sleep\", \"100\"]\nenv = {{ X = \"1\" }}\n"
            ),
        );
        let new = stack(
            &dir,
            &format!(
                "{head}[services.a]\ncommand = [\"sleep\", \"100\"]\n\
                 [services.c]\ncommand = [\"sleep\", \"100\"]\nenv = {{ X = \"2\" }}\n\
                 [services.d]\ncommand = [\"sleep\", \"1\"]\n"
            ),
        );
        let d = Diff::of(&old, &new);
        assert_eq!(d.added, ["d"]);
        assert_eq!(d.removed, ["b"]);
        assert_eq!(d.changed, ["c"]);
        assert_eq!(d.unchanged, ["a"]);
        assert_eq!(d.summary(), "added d; changed c; removed b");
        assert_eq!(
            d.retiring().into_iter().collect::<Vec<_>>(),
            ["b", "c"],
            "removed and changed stop"
        );
        // What only decides when it starts is no reason to restart it.
        let deps = stack(
            &dir,
            &format!(
                "{head}[services.a]\ncommand = [\"sleep\", \"100\"]\nautostart = false\ndepends_on = {{ c = \"started\" }}\n\
                 [services.c]\ncommand = [\"sleep\", \"100\"]\nenv = {{ X = \"2\" }}\n\
                 [services.d]\ncommand = [\"sleep\", \"1\"]\n"
            ),
        );
        assert!(
            Diff::of(&new, &deps).is_empty(),
            "{:?}",
            Diff::of(&new, &deps)
        );
        let same = Diff::of(&new, &new);
        assert!(same.is_empty());
        assert_eq!(same.summary(), "nothing changed");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
