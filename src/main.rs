use std::process::ExitCode;

use clap::Parser;

use podrun::cli::{self, Cli};
use podrun::logging;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        cli::print_version();
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        eprintln!("podrun: no command given; see `podrun --help`");
        return ExitCode::from(1);
    };
    let g = cli.global;
    if let Err(e) = logging::init(g.log.as_deref(), g.log_format, g.debug) {
        eprintln!("podrun: cannot open log file: {e}");
        return ExitCode::from(1);
    }
    match cli::dispatch(&g, command) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            if g.log.is_some() {
                tracing::error!("{e}");
            }
            eprintln!("podrun: {e}");
            ExitCode::from(1)
        }
    }
}
