//! The stack's dependency decisions, with no I/O: which services exist and
//! what they need (refused before anything is spawned when it makes no
//! sense), in which order they start and stop, and which may spawn now.
//! See `docs/stack.md`.

use std::collections::{BTreeSet, HashMap};

/// What a dependent needs of a dependency before it may be spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Its process runs.
    Started,
    /// It passed its readiness check.
    Ready,
    /// A task that ran to completion (exited with a success code).
    Completed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub depends_on: Vec<(String, Condition)>,
    /// Fixed ports it listens on (checked before spawning).
    pub ports: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("service {0:?} is declared twice")]
    Duplicate(String),
    #[error(
        "service {service:?} depends on {dep:?}, which is not a service (known: {known}); \
         fix depends_on or declare [services.{dep}]"
    )]
    Unknown {
        service: String,
        dep: String,
        known: String,
    },
    #[error("dependency cycle: {}; remove one of these depends_on entries", .0.join(" → "))]
    Cycle(Vec<String>),
    #[error(
        "port {port} is claimed by both {first:?} and {second:?}; give one of them another port"
    )]
    PortTwice {
        port: u16,
        first: String,
        second: String,
    },
    #[error("no service named {0:?} (known: {1})")]
    NoSuchService(String, String),
}

/// Where a service is, as far as starting its dependents goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// Not running, and asked to start.
    Waiting,
    Starting,
    Running {
        ready: bool,
    },
    /// Will not get there without a human (crash loop, not ready in time,
    /// blocked itself): the text says why.
    Failed(String),
    /// Not running and not asked to start.
    Stopped,
    /// A task that ran to completion: it meets every condition.
    Completed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Every dependency meets its condition.
    Spawn,
    /// Dependencies not there yet, by name.
    Wait(Vec<String>),
    /// A dependency failed or is not asked to start: it never will be.
    Blocked(String),
}

#[derive(Debug, Clone)]
pub struct Graph {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
}

impl Graph {
    pub fn new(nodes: Vec<Node>) -> Result<Self, GraphError> {
        let mut index = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            if index.insert(n.name.clone(), i).is_some() {
                return Err(GraphError::Duplicate(n.name.clone()));
            }
        }
        let g = Self { nodes, index };
        for n in &g.nodes {
            for (dep, _) in &n.depends_on {
                if !g.index.contains_key(dep) {
                    return Err(GraphError::Unknown {
                        service: n.name.clone(),
                        dep: dep.clone(),
                        known: g.known(),
                    });
                }
            }
        }
        if let Some(cycle) = g.find_cycle() {
            return Err(GraphError::Cycle(cycle));
        }
        let mut claimed: HashMap<u16, &str> = HashMap::new();
        for n in &g.nodes {
            for p in &n.ports {
                if let Some(first) = claimed.insert(*p, &n.name) {
                    return Err(GraphError::PortTwice {
                        port: *p,
                        first: first.to_string(),
                        second: n.name.clone(),
                    });
                }
            }
        }
        Ok(g)
    }

    fn known(&self) -> String {
        let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        names.join(", ")
    }

    fn deps(&self, i: usize) -> impl Iterator<Item = (usize, Condition)> + '_ {
        self.nodes[i]
            .depends_on
            .iter()
            .filter_map(|(d, c)| self.index.get(d).map(|j| (*j, *c)))
    }

    /// A cycle as names, first repeated at the end (`a → b → a`), if any.
    fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        fn visit(
            g: &Graph,
            i: usize,
            marks: &mut [Mark],
            path: &mut Vec<usize>,
        ) -> Option<Vec<usize>> {
            marks[i] = Mark::Open;
            path.push(i);
            for (j, _) in g.deps(i) {
                match marks[j] {
                    Mark::Open => {
                        let from = path.iter().position(|k| *k == j).unwrap_or(0);
                        let mut cycle = path[from..].to_vec();
                        cycle.push(j);
                        return Some(cycle);
                    }
                    Mark::New => {
                        if let Some(c) = visit(g, j, marks, path) {
                            return Some(c);
                        }
                    }
                    Mark::Done => {}
                }
            }
            path.pop();
            marks[i] = Mark::Done;
            None
        }
        let mut marks = vec![Mark::New; self.nodes.len()];
        for i in 0..self.nodes.len() {
            if marks[i] == Mark::New {
                if let Some(c) = visit(self, i, &mut marks, &mut Vec::new()) {
                    return Some(c.into_iter().map(|k| self.nodes[k].name.clone()).collect());
                }
            }
        }
        None
    }

    /// Start order: each level depends only on earlier levels, so a level
    /// starts in parallel. Names sorted within a level. Stop is the reverse.
    pub fn levels(&self) -> Vec<Vec<&str>> {
        let mut depth = vec![0usize; self.nodes.len()];
        // The graph is acyclic: relaxing |nodes| times settles every depth.
        for _ in 0..self.nodes.len() {
            for i in 0..self.nodes.len() {
                let d = self.deps(i).map(|(j, _)| depth[j] + 1).max().unwrap_or(0);
                depth[i] = d;
            }
        }
        let top = depth.iter().copied().max().map_or(0, |m| m + 1);
        let mut levels: Vec<Vec<&str>> = vec![vec![]; top];
        for (i, n) in self.nodes.iter().enumerate() {
            levels[depth[i]].push(&n.name);
        }
        for l in &mut levels {
            l.sort_unstable();
        }
        levels
    }

    fn lookup(&self, names: &[&str]) -> Result<Vec<usize>, GraphError> {
        names
            .iter()
            .map(|n| {
                self.index
                    .get(*n)
                    .copied()
                    .ok_or_else(|| GraphError::NoSuchService(n.to_string(), self.known()))
            })
            .collect()
    }

    fn closure(&self, start: Vec<usize>, next: impl Fn(usize) -> Vec<usize>) -> BTreeSet<String> {
        let mut seen = vec![false; self.nodes.len()];
        let mut todo = start;
        while let Some(i) = todo.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                todo.extend(next(i));
            }
        }
        (0..self.nodes.len())
            .filter(|i| seen[*i])
            .map(|i| self.nodes[i].name.clone())
            .collect()
    }

    /// `start NAME…`: the named services and, transitively, what they need.
    pub fn with_dependencies(&self, names: &[&str]) -> Result<BTreeSet<String>, GraphError> {
        let start = self.lookup(names)?;
        Ok(self.closure(start, |i| self.deps(i).map(|(j, _)| j).collect()))
    }

    /// `stop NAME…`: the named services and, transitively, what needs them.
    pub fn with_dependents(&self, names: &[&str]) -> Result<BTreeSet<String>, GraphError> {
        let start = self.lookup(names)?;
        Ok(self.closure(start, |i| {
            (0..self.nodes.len())
                .filter(|k| self.deps(*k).any(|(j, _)| j == i))
                .collect()
        }))
    }

    /// Whether `name` may stop now: everything that depends on it, however
    /// indirectly, is down (`down`). Dependents stop first.
    pub fn may_stop(&self, name: &str, down: impl Fn(&str) -> bool) -> bool {
        self.with_dependents(&[name])
            .unwrap_or_default()
            .iter()
            .filter(|d| d.as_str() != name)
            .all(|d| down(d))
    }

    /// For every `Waiting` service: spawn now, wait (for whom), or blocked
    /// (why). A dependency that is `Stopped` while its dependent waits blocks
    /// it too: it is not asked to start (`start NAME` includes dependencies).
    pub fn decide(&self, units: &HashMap<String, Unit>) -> Vec<(String, Decision)> {
        let unit = |name: &str| units.get(name).cloned().unwrap_or(Unit::Stopped);
        let mut blocked: HashMap<&str, String> = HashMap::new();
        let mut out = Vec::new();
        for level in self.levels() {
            for name in level {
                let i = self.index[name];
                let own = unit(name);
                if let Unit::Failed(why) = &own {
                    blocked.insert(name, format!("{name} failed: {why}"));
                }
                if own != Unit::Waiting {
                    continue;
                }
                let mut wait = Vec::new();
                let mut why_blocked = None;
                for (j, cond) in self.deps(i) {
                    let dep = self.nodes[j].name.as_str();
                    if let Some(why) = blocked.get(dep) {
                        why_blocked.get_or_insert_with(|| why.clone());
                        continue;
                    }
                    let met = match (unit(dep), cond) {
                        (Unit::Completed, _) => true,
                        // A task is done only once it has exited.
                        (Unit::Running { .. } | Unit::Starting, Condition::Completed) => false,
                        (Unit::Running { ready: true }, _) => true,
                        (Unit::Running { ready: false } | Unit::Starting, Condition::Started) => {
                            true
                        }
                        (Unit::Stopped, _) => {
                            why_blocked.get_or_insert_with(|| {
                                format!("{dep} is not running and not being started")
                            });
                            false
                        }
                        _ => false,
                    };
                    if !met {
                        wait.push(dep.to_string());
                    }
                }
                let decision = match why_blocked {
                    Some(why) => {
                        let why = format!("{name} not started: {why}");
                        blocked.insert(name, why.clone());
                        Decision::Blocked(why)
                    }
                    None if wait.is_empty() => Decision::Spawn,
                    None => Decision::Wait(wait),
                };
                out.push((name.to_string(), decision));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, deps: &[(&str, Condition)], ports: &[u16]) -> Node {
        Node {
            name: name.into(),
            depends_on: deps.iter().map(|(d, c)| (d.to_string(), *c)).collect(),
            ports: ports.to_vec(),
        }
    }

    /// temporal ← api (ready) ← worker (ready on temporal, started on api); web alone.
    fn example() -> Graph {
        use Condition::*;
        Graph::new(vec![
            node("worker", &[("temporal", Ready), ("api", Started)], &[]),
            node("api", &[("temporal", Ready)], &[8080]),
            node("temporal", &[], &[7233, 8233, 7243]),
            node("web", &[], &[3000]),
        ])
        .unwrap()
    }

    #[test]
    fn levels_start_independent_services_together_and_dependencies_first() {
        let g = example();
        assert_eq!(
            g.levels(),
            vec![vec!["temporal", "web"], vec!["api"], vec!["worker"]]
        );
    }

    #[test]
    fn a_service_stops_only_once_everything_that_needs_it_is_down() {
        let g = example();
        let down = |set: &'static [&'static str]| move |n: &str| set.contains(&n);
        assert!(g.may_stop("worker", down(&[])), "nothing needs it");
        assert!(g.may_stop("web", down(&[])));
        assert!(!g.may_stop("api", down(&[])), "worker still up");
        assert!(g.may_stop("api", down(&["worker"])));
        assert!(
            !g.may_stop("temporal", down(&["api"])),
            "worker needs it too"
        );
        assert!(g.may_stop("temporal", down(&["api", "worker"])));
    }

    #[test]
    fn bad_graphs_are_refused_naming_what_to_fix() {
        use Condition::*;
        let err = Graph::new(vec![
            node("a", &[("b", Ready)], &[]),
            node("b", &[("c", Started)], &[]),
            node("c", &[("a", Ready)], &[]),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            GraphError::Cycle(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        assert!(err.to_string().contains("a → b → c → a"), "{err}");

        let err = Graph::new(vec![node("a", &[("a", Ready)], &[])]).unwrap_err();
        assert!(err.to_string().contains("a → a"), "{err}");

        let err = Graph::new(vec![node("api", &[("tempral", Ready)], &[])]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("\"tempral\"") && msg.contains("known: api"),
            "{msg}"
        );

        let err = Graph::new(vec![
            node("temporal", &[], &[7233, 8233]),
            node("api", &[], &[8233]),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            GraphError::PortTwice {
                port: 8233,
                first: "temporal".into(),
                second: "api".into()
            }
        );
        assert!(matches!(
            Graph::new(vec![node("a", &[], &[]), node("a", &[], &[])]),
            Err(GraphError::Duplicate(_))
        ));
    }

    #[test]
    fn start_takes_dependencies_and_stop_takes_dependents() {
        let g = example();
        let names = |s: BTreeSet<String>| s.into_iter().collect::<Vec<_>>();
        assert_eq!(
            names(g.with_dependencies(&["worker"]).unwrap()),
            vec!["api", "temporal", "worker"]
        );
        assert_eq!(names(g.with_dependencies(&["web"]).unwrap()), vec!["web"]);
        assert_eq!(
            names(g.with_dependents(&["api"]).unwrap()),
            vec!["api", "worker"],
            "stop api stops what depends on it and nothing else"
        );
        assert_eq!(
            names(g.with_dependents(&["temporal"]).unwrap()),
            vec!["api", "temporal", "worker"]
        );
        assert!(matches!(
            g.with_dependents(&["nope"]),
            Err(GraphError::NoSuchService(..))
        ));
    }

    fn units(list: &[(&str, Unit)]) -> HashMap<String, Unit> {
        list.iter()
            .map(|(n, u)| (n.to_string(), u.clone()))
            .collect()
    }

    #[test]
    fn dependents_spawn_only_once_their_conditions_hold() {
        let g = example();
        let mut u = units(&[
            ("temporal", Unit::Starting),
            ("api", Unit::Waiting),
            ("worker", Unit::Waiting),
            ("web", Unit::Waiting),
        ]);
        assert_eq!(
            g.decide(&u),
            vec![
                ("web".into(), Decision::Spawn),
                ("api".into(), Decision::Wait(vec!["temporal".into()])),
                (
                    "worker".into(),
                    Decision::Wait(vec!["temporal".into(), "api".into()])
                ),
            ]
        );
        u.insert("temporal".into(), Unit::Running { ready: true });
        u.insert("api".into(), Unit::Starting);
        u.insert("web".into(), Unit::Running { ready: false });
        assert_eq!(
            g.decide(&u),
            vec![("worker".into(), Decision::Spawn)],
            "worker needs api only started"
        );
    }

    #[test]
    fn a_failed_dependency_blocks_its_dependents_transitively_with_the_reason() {
        let g = example();
        let u = units(&[
            ("temporal", Unit::Failed("not ready after 60s".into())),
            ("api", Unit::Waiting),
            ("worker", Unit::Waiting),
            ("web", Unit::Waiting),
        ]);
        let d = g.decide(&u);
        assert_eq!(
            d[0],
            ("web".into(), Decision::Spawn),
            "independent: unaffected"
        );
        let Decision::Blocked(why) = &d[1].1 else {
            panic!("{d:?}")
        };
        assert!(
            why.contains("api not started") && why.contains("temporal failed: not ready after 60s"),
            "{why}"
        );
        let Decision::Blocked(why) = &d[2].1 else {
            panic!("{d:?}")
        };
        assert!(
            why.contains("worker not started") && why.contains("temporal failed"),
            "{why}"
        );
    }

    #[test]
    fn a_crashed_dependency_leaves_running_dependents_alone() {
        let g = example();
        // temporal restarting: api and worker keep running; nothing to decide.
        let u = units(&[
            ("temporal", Unit::Starting),
            ("api", Unit::Running { ready: true }),
            ("worker", Unit::Running { ready: true }),
            ("web", Unit::Stopped),
        ]);
        assert!(g.decide(&u).is_empty());
    }
}
