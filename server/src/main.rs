use clap::Parser;
use server::cli::{run, Cli};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    run(Cli::parse()).await
}
