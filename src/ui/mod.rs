//! The dashboard (filled in by the dashboard work).
use anyhow::Result;
use std::process::ExitCode;

pub async fn run_dash(_ov: crate::config::Overrides) -> Result<ExitCode> {
    anyhow::bail!("the dashboard is not built yet")
}
