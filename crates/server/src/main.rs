use std::time::Duration;

use clap::Parser;
use quire_server::cli::Cli;

/// How long tasks still running when a command ends (abandoned requests, blocking work such
/// as password hashing) may hold the process up.
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(250);

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("quire: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(Cli::parse().run());
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("quire: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
