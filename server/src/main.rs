use clap::Parser;
use server::cli::{run, Cli};

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("partner-ledger: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let code = runtime.block_on(run(Cli::parse()));
    // By now requests have drained and the database is flushed. The runtime is not dropped:
    // dropping the tasks it still holds (Leptos's reactive owners among them) was seen to
    // deadlock inside reactive_graph once, which kept a stopped server from exiting.
    std::mem::forget(runtime);
    code
}
