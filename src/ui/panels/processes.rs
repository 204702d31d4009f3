//! The process tree: group members, zombies, escaped and orphaned
//! processes, CPU and memory, and the task queues a process polls.

use super::*;

/// Group members as a tree by parent, then escaped and orphaned processes.
pub fn process_rows(app: &App) -> Vec<(ProcEntry, String, &'static str)> {
    let Some(st) = app.status() else {
        return vec![];
    };
    let mut out = Vec::new();
    let members = &st.members;
    let pids: Vec<i32> = members.iter().map(|p| p.pid).collect();
    let mut children: HashMap<i32, Vec<&ProcEntry>> = HashMap::new();
    for p in members {
        children.entry(p.ppid).or_default().push(p);
    }
    fn walk<'a>(
        p: &'a ProcEntry,
        depth: usize,
        children: &HashMap<i32, Vec<&'a ProcEntry>>,
        out: &mut Vec<(ProcEntry, String, &'static str)>,
    ) {
        let prefix = if depth == 0 {
            String::new()
        } else {
            format!("{}└ ", "  ".repeat(depth - 1))
        };
        let reason = if matches!(p.state, 'Z' | 'X') {
            "zombie"
        } else {
            ""
        };
        out.push((p.clone(), prefix, reason));
        if depth < 16 {
            for c in children.get(&p.pid).into_iter().flatten() {
                walk(c, depth + 1, children, out);
            }
        }
    }
    for root in members.iter().filter(|p| !pids.contains(&p.ppid)) {
        walk(root, 0, &children, &mut out);
    }
    for p in &st.escaped {
        out.push((p.clone(), String::new(), "escaped"));
    }
    for p in &st.orphans {
        out.push((p.clone(), String::new(), "orphan"));
    }
    out
}

pub(super) fn draw_processes(app: &App, f: &mut Frame, area: Rect) {
    let rows_data = process_rows(app);
    let n = rows_data.len();
    // PPID is what the tree shows already; drop it when space is short.
    let wide = area.width >= 60;
    let rows: Vec<Row> = rows_data
        .into_iter()
        .skip(app.proc_offset.min(n.saturating_sub(1)))
        .map(|(p, prefix, reason)| {
            let (cpu, mem) = app
                .entry
                .seen
                .usage
                .get(&p.pid)
                .copied()
                .unwrap_or((0.0, p.rss_bytes));
            let mark = match reason {
                "escaped" => Span::styled("ESC ", Style::new().fg(BAD).bold()),
                "orphan" => Span::styled("ORPH", Style::new().fg(BAD).bold()),
                "zombie" => Span::styled("ZOMB", Style::new().fg(WARN).bold()),
                _ => Span::raw(""),
            };
            let mut cells = vec![Span::raw(format!("{prefix}{}", p.pid))];
            if wide {
                cells.push(Span::raw(p.ppid.to_string()));
            }
            cells.extend([
                Span::raw(p.pgid.to_string()),
                Span::raw(p.state.to_string()),
                mark,
                Span::raw(format!("{cpu:.1}")),
                Span::raw(format!("{:.0}M", mem as f64 / 1_048_576.0)),
            ]);
            // The task queues this process polls, from Temporal's pollers.
            let polls = polled_by(app, p.pid);
            if polls.is_empty() {
                cells.push(Span::raw(p.cmd.clone()));
            } else {
                cells.push(Span::styled(
                    format!("⇄ {} · {}", polls.join(", "), p.cmd),
                    Style::new().fg(Color::Cyan),
                ));
            }
            Row::new(cells)
        })
        .collect();
    let mut names = vec!["PID"];
    let mut widths = vec![Constraint::Length(8)];
    if wide {
        names.push("PPID");
        widths.push(Constraint::Length(7));
    }
    names.extend(["PGID", "S", "", "CPU%", "MEM", "COMMAND"]);
    widths.extend([
        Constraint::Length(7),
        Constraint::Length(1),
        Constraint::Length(4),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Fill(1),
    ]);
    let header = Row::new(names).style(Style::new().fg(DIM));
    let empty = n == 0;
    let table = Table::new(rows, widths).header(header).block(block(
        format!("Processes{}", if empty { " · none" } else { "" }),
        app.focus == Focus::Processes,
    ));
    f.render_widget(table, area);
}

/// The task queues process `pid` polls (Temporal's view, tied to PIDs).
pub(super) fn polled_by(app: &App, pid: i32) -> Vec<String> {
    let mut qs: Vec<String> = app
        .temporal
        .iter()
        .flat_map(|t| &t.task_queues)
        .filter(|q| q.pollers.iter().any(|p| p.pid == Some(pid)))
        .map(|q| q.name.clone())
        .collect();
    qs.dedup();
    qs
}
