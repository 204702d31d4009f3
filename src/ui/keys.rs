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
}

pub struct Binding {
    pub keys: &'static [KeyCode],
    pub label: &'static str,
    pub help: &'static str,
    pub action: UiAction,
}

pub const KEYMAP: &[Binding] = &[
    Binding {
        keys: &[KeyCode::Char('s')],
        label: "s",
        help: "start selected (and what it needs)",
        action: UiAction::Start,
    },
    Binding {
        keys: &[KeyCode::Char('t')],
        label: "t",
        help: "stop selected + dependents (TERM→KILL)",
        action: UiAction::Stop,
    },
    Binding {
        keys: &[KeyCode::Char('S')],
        label: "S",
        help: "start the whole stack",
        action: UiAction::StartAll,
    },
    Binding {
        keys: &[KeyCode::Char('T')],
        label: "T",
        help: "stop the whole stack, dependents first",
        action: UiAction::StopAll,
    },
    Binding {
        keys: &[KeyCode::Char(']')],
        label: "]",
        help: "select the next service",
        action: UiAction::NextService,
    },
    Binding {
        keys: &[KeyCode::Char('[')],
        label: "[",
        help: "select the previous service",
        action: UiAction::PrevService,
    },
    Binding {
        keys: &[KeyCode::Char('a')],
        label: "a",
        help: "all services' log / selected's log",
        action: UiAction::ToggleMergedLog,
    },
    Binding {
        keys: &[KeyCode::Char('k')],
        label: "k",
        help: "force kill selected's group (y/n)",
        action: UiAction::Kill,
    },
    Binding {
        keys: &[KeyCode::Char('r')],
        label: "r",
        help: "restart",
        action: UiAction::Restart,
    },
    Binding {
        keys: &[KeyCode::Char('c')],
        label: "c",
        help: "clean stale state (shows what, y/n)",
        action: UiAction::Clean,
    },
    Binding {
        keys: &[KeyCode::Tab, KeyCode::Right],
        label: "Tab →",
        help: "next panel",
        action: UiAction::FocusNext,
    },
    Binding {
        keys: &[KeyCode::BackTab, KeyCode::Left],
        label: "⇧Tab ←",
        help: "previous panel",
        action: UiAction::FocusPrev,
    },
    Binding {
        keys: &[KeyCode::Up, KeyCode::Char('K')],
        label: "↑",
        help: "scroll up",
        action: UiAction::Up,
    },
    Binding {
        keys: &[KeyCode::Down, KeyCode::Char('J')],
        label: "↓",
        help: "scroll down",
        action: UiAction::Down,
    },
    Binding {
        keys: &[KeyCode::PageUp],
        label: "PgUp",
        help: "page up",
        action: UiAction::PageUp,
    },
    Binding {
        keys: &[KeyCode::PageDown],
        label: "PgDn",
        help: "page down",
        action: UiAction::PageDown,
    },
    Binding {
        keys: &[KeyCode::Home, KeyCode::Char('g')],
        label: "Home g",
        help: "oldest line",
        action: UiAction::Top,
    },
    Binding {
        keys: &[KeyCode::End, KeyCode::Char('G')],
        label: "End G",
        help: "newest line, follow",
        action: UiAction::Follow,
    },
    Binding {
        keys: &[KeyCode::Char('f')],
        label: "f",
        help: "pause / follow the log",
        action: UiAction::ToggleFollow,
    },
    Binding {
        keys: &[KeyCode::Char('/')],
        label: "/",
        help: "search the log",
        action: UiAction::Search,
    },
    Binding {
        keys: &[KeyCode::Char('n')],
        label: "n",
        help: "next (older) match",
        action: UiAction::NextMatch,
    },
    Binding {
        keys: &[KeyCode::Char('N')],
        label: "N",
        help: "previous (newer) match",
        action: UiAction::PrevMatch,
    },
    Binding {
        keys: &[KeyCode::Char('?')],
        label: "?",
        help: "this help",
        action: UiAction::Help,
    },
    Binding {
        keys: &[KeyCode::Char('q')],
        label: "q",
        help: "quit, leave services running",
        action: UiAction::Quit,
    },
    Binding {
        keys: &[KeyCode::Char('Q')],
        label: "Q",
        help: "quit and stop every service",
        action: UiAction::QuitAndStop,
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

/// The footer's short hints.
pub fn hints() -> &'static str {
    "s start  t stop  k kill  r restart  c clean  / search  Tab focus  ? help  q quit  Q quit+stop"
}
