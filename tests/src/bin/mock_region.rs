//! `mock-region`: an OpenAI-compatible mock of one regional LLM deployment.
//!
//! Prints `listening on 127.0.0.1:PORT` as its first stdout line. See
//! `llm_router_e2e::mock` for the API, fault modes and control endpoints.

use std::io::Write;

use clap::Parser;
use llm_router_e2e::mock::{serve, MockConfig, MockState};

#[derive(Parser, Debug)]
#[command(
    name = "mock-region",
    about = "OpenAI-compatible mock of one regional LLM deployment"
)]
struct Args {
    /// Port on 127.0.0.1 (0 = pick a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Region this deployment reports (response text, `x-mock-region`, stats).
    #[arg(long)]
    region: String,
    /// Reject requests for any other model with 400 `model_not_found`.
    #[arg(long)]
    expect_model: Option<String>,
    /// Deployment name (`x-mock-name`); defaults to the region.
    #[arg(long)]
    name: Option<String>,
    /// Default number of streamed content chunks.
    #[arg(long, default_value_t = 5)]
    chunks: u32,
    /// Default delay between streamed chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Exit when stdin reaches EOF (the harness uses this so a mock never outlives its test process).
    #[arg(long)]
    exit_on_stdin_eof: bool,
}

fn main() {
    let args = Args::parse();
    let cfg = MockConfig {
        name: args.name.clone().unwrap_or_else(|| args.region.clone()),
        region: args.region,
        expect_model: args.expect_model,
        chunks: args.chunks,
        chunk_delay_ms: args.chunk_delay_ms,
    };
    let listener = match std::net::TcpListener::bind(("127.0.0.1", args.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mock-region: cannot bind 127.0.0.1:{}: {e}", args.port);
            std::process::exit(2);
        }
    };
    let addr = listener.local_addr().expect("local_addr");
    listener.set_nonblocking(true).expect("set_nonblocking");
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {addr}");
        let _ = out.flush();
    }
    if args.exit_on_stdin_eof {
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            std::process::exit(0);
        });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        serve(listener, MockState::new(cfg)).await
    });
}
