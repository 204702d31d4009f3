//! `Stack`: every service of a config file, checked as a whole — the
//! profiles selected, replicas expanded into their copies, dependencies
//! that can be met — with the dependency graph that was checked before
//! anything may start.

use std::sync::Arc;

use anyhow::{Context, Result};

use super::service::{Ctx, ServiceSpec, REPLICA_VAR};
use crate::config::graph::{Condition, Graph, Node};
use crate::config::{ServiceConfig, Settings};

/// A service that runs depends on one left out by the profiles selected:
/// say which profile would bring it in.
fn check_profiles(
    settings: &Settings,
    file: &str,
    selected: &impl Fn(&ServiceConfig) -> bool,
) -> Result<()> {
    for (name, c) in settings.services.iter().filter(|(_, c)| selected(c)) {
        for dep in c.depends_on.keys() {
            let Some((_, d)) = settings.services.iter().find(|(n, _)| n == dep) else {
                continue; // the graph names unknown dependencies
            };
            if !selected(d) {
                anyhow::bail!(
                    "{file}[services.{name}] depends on {dep}, which runs only with --profile {}; select one of its profiles or drop the dependency",
                    d.profiles.join(" or --profile ")
                );
            }
        }
    }
    Ok(())
}

/// Every service of the config, in the order written (Temporal first), with
/// the dependency graph that was checked before anything may start.
#[derive(Debug, Clone)]
pub struct Stack {
    pub settings: Settings,
    pub services: Vec<Arc<Ctx>>,
    pub graph: Graph,
    /// Services run as replicas: the name in the file, and its copies.
    pub groups: Vec<(String, Vec<String>)>,
}

impl Stack {
    pub fn new(settings: Settings) -> Result<Self> {
        let file = settings
            .config_path
            .as_ref()
            .map(|p| format!("config {}: ", p.display()))
            .unwrap_or_default();
        let (specs, groups) = specs_of(&settings, &file)?;
        if specs.is_empty() {
            anyhow::bail!(
                "{file}Temporal is turned off and no [services.NAME] is declared: there is nothing to run"
            );
        }
        check_completed(&specs, &file)?;
        let graph = Graph::new(
            specs
                .iter()
                .map(|s| Node {
                    name: s.name.clone(),
                    depends_on: s.depends_on.clone(),
                    ports: s.ports.iter().map(|p| p.port).collect(),
                })
                .collect(),
        )
        .map_err(|e| anyhow::anyhow!("{file}{e}"))?;
        let services = specs
            .into_iter()
            .map(|spec| {
                Arc::new(Ctx {
                    settings: settings.clone(),
                    spec,
                })
            })
            .collect();
        Ok(Self {
            settings,
            services,
            graph,
            groups,
        })
    }

    /// Names as written by people: a replicated service's name stands for
    /// each of its copies.
    pub fn expand(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .flat_map(|n| match self.groups.iter().find(|(g, _)| g == n) {
                Some((_, members)) => members.clone(),
                None => vec![n.clone()],
            })
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Ctx>> {
        self.services.iter().find(|c| c.spec.name == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.services.iter().map(|c| c.spec.name.as_str()).collect()
    }

    /// Checks that every name is a service (or a replicated one), with the
    /// known ones when not.
    pub fn check_names(&self, names: &[String]) -> Result<()> {
        for n in names {
            if self.groups.iter().any(|(g, _)| g == n) {
                continue;
            }
            if self.get(n).is_none() {
                anyhow::bail!(
                    "no service named {n:?} (this stack has: {})",
                    self.names().join(", ")
                );
            }
        }
        Ok(())
    }
}

/// A replicated service's name and its copies' names.
type Group = (String, Vec<String>);

/// Every service the profiles select, in the order written (Temporal
/// first), a replicated one as its copies; a dependency on a replicated
/// service is one on each copy.
fn specs_of(settings: &Settings, file: &str) -> Result<(Vec<ServiceSpec>, Vec<Group>)> {
    let mut specs = Vec::new();
    if settings.enabled {
        specs.push(ServiceSpec::temporal(settings));
    }
    let selected = |c: &ServiceConfig| {
        c.profiles.is_empty() || c.profiles.iter().any(|p| settings.profiles.contains(p))
    };
    check_profiles(settings, file, &selected)?;
    for n in settings.scale.keys() {
        if !settings.services.iter().any(|(s, c)| s == n && selected(c)) {
            anyhow::bail!("{file}no service named {n:?} to scale");
        }
    }
    let mut groups = vec![];
    for (name, c) in settings.services.iter().filter(|(_, c)| selected(c)) {
        let replicas = settings.scale.get(name).copied().or(c.replicas);
        let names = copies(settings, file, name, c, replicas)?;
        for (i, one) in names.iter().enumerate() {
            settings
                .state
                .prepare_service_dir(one)
                .with_context(|| format!("{file}[services.{name}]: its state directory"))?;
            let mut spec = ServiceSpec::from_config(one, c, settings)
                .with_context(|| format!("{file}[services.{name}]"))?;
            if replicas.is_some() {
                spec.env.push((REPLICA_VAR.into(), (i + 1).to_string()));
            }
            specs.push(spec);
        }
        if replicas.is_some() {
            groups.push((name.clone(), names));
        }
    }
    for s in &mut specs {
        s.depends_on = std::mem::take(&mut s.depends_on)
            .into_iter()
            .flat_map(|(dep, cond)| match groups.iter().find(|(g, _)| *g == dep) {
                Some((_, members)) => members.iter().map(|m| (m.clone(), cond)).collect(),
                None => vec![(dep, cond)],
            })
            .collect();
    }
    Ok((specs, groups))
}

/// The names a service runs under: its own, or NAME-1 … NAME-N.
fn copies(
    settings: &Settings,
    file: &str,
    name: &str,
    c: &ServiceConfig,
    replicas: Option<u32>,
) -> Result<Vec<String>> {
    let Some(n) = replicas else {
        return Ok(vec![name.to_string()]);
    };
    super::check_replicas(n, !c.ports.is_empty(), c.port_ready())
        .with_context(|| format!("{file}[services.{name}]"))?;
    let names: Vec<String> = (1..=n).map(|i| format!("{name}-{i}")).collect();
    if let Some(one) = names
        .iter()
        .find(|one| settings.services.iter().any(|(s, _)| s == *one))
    {
        anyhow::bail!(
            "{file}[services.{name}] replica {one} has the name of another service; rename one of them"
        );
    }
    Ok(names)
}

/// `"completed"` only on a task: anything else never completes.
fn check_completed(specs: &[ServiceSpec], file: &str) -> Result<()> {
    for s in specs {
        for (dep, cond) in &s.depends_on {
            let not_task = specs
                .iter()
                .find(|d| &d.name == dep)
                .is_some_and(|d| d.task.is_none());
            if *cond == Condition::Completed && not_task {
                anyhow::bail!(
                    "{file}[services.{}] depends_on.{dep} = \"completed\": {dep} is not a task, so it never completes; use \"ready\" or \"started\", or give {dep} kind = \"task\"",
                    s.name
                );
            }
        }
    }
    Ok(())
}
