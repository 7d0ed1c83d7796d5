use std::process::ExitCode;

use podrun::cli;
use podrun::logging;

fn main() -> ExitCode {
    // Run as `podrun-cni` (a symlink, the name container runtimes call a CNI plugin by): the
    // CNI protocol, no command line; stdout carries only the result.
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if std::path::Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n == "podrun-cni")
    {
        return ExitCode::from(cli::cni::run_plugin().clamp(0, 255) as u8);
    }
    let cli = cli::parse();
    if cli.version {
        return match cli::print_version() {
            Err(e) if !e.is_stdout_closed() => {
                eprintln!("podrun: {e}");
                ExitCode::from(1)
            }
            _ => ExitCode::SUCCESS,
        };
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
        // The reader of the output went away (`| head -1`): nothing to say.
        Err(e) if e.is_stdout_closed() => ExitCode::SUCCESS,
        Err(e) => {
            if g.log.is_some() {
                tracing::error!("{e}");
            }
            eprintln!("podrun: {e}");
            ExitCode::from(1)
        }
    }
}
