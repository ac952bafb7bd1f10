use clap::Parser;
use quire_server::cli::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match Cli::parse().run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("quire: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
