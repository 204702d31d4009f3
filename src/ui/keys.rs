//! The key map. Key handling and the help overlay both read this one table,
//! so they never disagree.

use crossterm::event::{KeyCode, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiAction {
    Start,
    Stop,
    Kill,
    StartAll,
    StopAll,
    NextService,
    PrevService,
    ToggleMergedLog,
    Restart,
    Clean,
    Quit,
    QuitAndStop,
    Help,
    FocusNext,
    FocusPrev,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Follow,
    ToggleFollow,
    Search,
    NextMatch,
    PrevMatch,
    CycleLevel,
    OnlyMatching,
    PrettyJson,
    Select,
    Copy,
    CopyAll,
    ToggleTemporal,
    OpenUi,
    Zoom,
    Reload,
    ToggleWatch,
    JumpToFailure,
    Workflows,
}

pub struct Binding {
    pub keys: &'static [KeyCode],
    pub label: &'static str,
    pub help: &'static str,
    pub action: UiAction,
    /// The footer's short form; `None` keeps the binding out of the footer.
    pub footer: Option<&'static str>,
}

pub const KEYMAP: &[Binding] = &[
    Binding {
        keys: &[KeyCode::Char('s')],
        label: "s",
        help: "start selected (and what it needs)",
        action: UiAction::Start,
        footer: Some("s start"),
    },
    Binding {
        keys: &[KeyCode::Char('t')],
        label: "t",
        help: "stop selected + dependents (TERM→KILL)",
        action: UiAction::Stop,
        footer: Some("t stop"),
    },
    Binding {
        keys: &[KeyCode::Char('S')],
        label: "S",
        help: "start the whole stack",
        action: UiAction::StartAll,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('T')],
        label: "T",
        help: "stop the whole stack, dependents first",
        action: UiAction::StopAll,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('F')],
        label: "F",
        help: "next stuck workflow: its worker's log at the failure",
        action: UiAction::JumpToFailure,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('W')],
        label: "W",
        help: "restart on change off / on (watch)",
        action: UiAction::ToggleWatch,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('L')],
        label: "L",
        help: "reload the config file (as a save does)",
        action: UiAction::Reload,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char(']')],
        label: "]",
        help: "select the next service",
        action: UiAction::NextService,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('[')],
        label: "[",
        help: "select the previous service",
        action: UiAction::PrevService,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('a')],
        label: "a",
        help: "all services' log / selected's log",
        action: UiAction::ToggleMergedLog,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('k')],
        label: "k",
        help: "force kill selected's group (y/n)",
        action: UiAction::Kill,
        footer: Some("k kill"),
    },
    Binding {
        keys: &[KeyCode::Char('r')],
        label: "r",
        help: "restart",
        action: UiAction::Restart,
        footer: Some("r restart"),
    },
    Binding {
        keys: &[KeyCode::Char('c')],
        label: "c",
        help: "clean stale state (shows what, y/n)",
        action: UiAction::Clean,
        footer: Some("c clean"),
    },
    Binding {
        keys: &[KeyCode::Tab, KeyCode::Right],
        label: "Tab →",
        help: "next panel",
        action: UiAction::FocusNext,
        footer: Some("Tab focus"),
    },
    Binding {
        keys: &[KeyCode::BackTab, KeyCode::Left],
        label: "⇧Tab ←",
        help: "previous panel",
        action: UiAction::FocusPrev,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Up, KeyCode::Char('K')],
        label: "↑",
        help: "scroll up",
        action: UiAction::Up,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Down, KeyCode::Char('J')],
        label: "↓",
        help: "scroll down",
        action: UiAction::Down,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::PageUp],
        label: "PgUp",
        help: "page up",
        action: UiAction::PageUp,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::PageDown],
        label: "PgDn",
        help: "page down",
        action: UiAction::PageDown,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Home, KeyCode::Char('g')],
        label: "Home g",
        help: "oldest line",
        action: UiAction::Top,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::End, KeyCode::Char('G')],
        label: "End G",
        help: "newest line, follow",
        action: UiAction::Follow,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('f')],
        label: "f",
        help: "pause / follow the log",
        action: UiAction::ToggleFollow,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('/')],
        label: "/",
        help: "search the log",
        action: UiAction::Search,
        footer: Some("/ search"),
    },
    Binding {
        keys: &[KeyCode::Char('n')],
        label: "n",
        help: "next (older) match",
        action: UiAction::NextMatch,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('N')],
        label: "N",
        help: "previous (newer) match",
        action: UiAction::PrevMatch,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('z')],
        label: "z",
        help: "zoom the focused panel / back",
        action: UiAction::Zoom,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('w')],
        label: "w",
        help: "Temporal inside: queues, pollers",
        action: UiAction::ToggleTemporal,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('e')],
        label: "e",
        help: "workflows (cancel/terminate/reset)",
        action: UiAction::Workflows,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('o')],
        label: "o",
        help: "open Temporal's web UI",
        action: UiAction::OpenUi,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('&')],
        label: "&",
        help: "only lines matching the search",
        action: UiAction::OnlyMatching,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('l')],
        label: "l",
        help: "minimum level: all/info/warn/error",
        action: UiAction::CycleLevel,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('p')],
        label: "p",
        help: "JSON lines pretty or raw",
        action: UiAction::PrettyJson,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('v')],
        label: "v",
        help: "select lines (↑↓ PgUp PgDn extend)",
        action: UiAction::Select,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('y')],
        label: "y",
        help: "copy selection or bottom line",
        action: UiAction::Copy,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('Y')],
        label: "Y",
        help: "copy every line shown",
        action: UiAction::CopyAll,
        footer: None,
    },
    Binding {
        keys: &[KeyCode::Char('?')],
        label: "?",
        help: "this help",
        action: UiAction::Help,
        footer: Some("? help"),
    },
    Binding {
        keys: &[KeyCode::Char('q')],
        label: "q",
        help: "quit, leave services running",
        action: UiAction::Quit,
        footer: Some("q quit"),
    },
    Binding {
        keys: &[KeyCode::Char('Q')],
        label: "Q",
        help: "quit and stop every service",
        action: UiAction::QuitAndStop,
        footer: Some("Q quit+stop"),
    },
];

pub fn lookup(code: KeyCode, mods: KeyModifiers) -> Option<UiAction> {
    if mods.contains(KeyModifiers::CONTROL) {
        // Raw mode turns Ctrl-C into a key: treat it as the gentle quit.
        return matches!(code, KeyCode::Char('c')).then_some(UiAction::Quit);
    }
    KEYMAP
        .iter()
        .find(|b| b.keys.contains(&code))
        .map(|b| b.action)
}

/// The footer's short hints, generated from [`KEYMAP`] like the help.
pub fn hints() -> String {
    KEYMAP
        .iter()
        .filter_map(|b| b.footer)
        .collect::<Vec<_>>()
        .join("  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_footer_comes_from_the_key_map_and_names_real_keys() {
        let h = hints();
        for b in KEYMAP.iter().filter(|b| b.footer.is_some()) {
            let f = b.footer.unwrap();
            assert!(h.contains(f), "{f} missing from {h}");
            let key = f.split_whitespace().next().unwrap();
            assert!(
                b.label.split_whitespace().any(|l| l == key),
                "{f} vs {}",
                b.label
            );
        }
        assert!(h.starts_with("s start  t stop"), "{h}");
    }
}
