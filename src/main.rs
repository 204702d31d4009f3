use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = stigmer::cli::Cli::parse();
    match stigmer::cli::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            stigmer::errln!("stigmer: {e:#}");
            ExitCode::FAILURE
        }
    }
}
