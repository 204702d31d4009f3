//! `env_file` in the config: one dotenv file or several, each a path or
//! `{ path, optional }`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One env file, or several.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum EnvFiles {
    One(EnvFile),
    Many(Vec<EnvFile>),
}

impl Default for EnvFiles {
    fn default() -> Self {
        EnvFiles::Many(vec![])
    }
}

impl EnvFiles {
    pub fn list(&self) -> &[EnvFile] {
        match self {
            EnvFiles::One(f) => std::slice::from_ref(f),
            EnvFiles::Many(v) => v,
        }
    }
}

/// An env file: a path, or `{ path, optional }` (a missing optional file
/// is skipped; any other is an error).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum EnvFile {
    Path(PathBuf),
    Entry {
        path: PathBuf,
        #[serde(default)]
        optional: bool,
    },
}

impl EnvFile {
    pub fn path(&self) -> &Path {
        match self {
            EnvFile::Path(p) | EnvFile::Entry { path: p, .. } => p,
        }
    }
    pub fn optional(&self) -> bool {
        matches!(self, EnvFile::Entry { optional: true, .. })
    }
}
