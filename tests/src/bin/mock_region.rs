//! `mock-region`: a mock of one regional LLM deployment, speaking one provider's API
//! (`--provider openai|azure|bedrock|anthropic|vertex`, default openai) with its auth.
//!
//! Prints `listening on 127.0.0.1:PORT` as its first stdout line. See
//! `llm_router_e2e::mock` for the APIs, checks, fault modes and control endpoints.

use std::io::Write;

use clap::Parser;
use llm_router_e2e::mock::{serve, AwsCredentials, MockConfig, MockState, Provider};

#[derive(Parser, Debug)]
#[command(
    name = "mock-region",
    about = "Mock of one regional LLM deployment (OpenAI, Azure OpenAI, Bedrock, Anthropic or Vertex API)"
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
    /// The provider API to speak: openai, azure, bedrock, anthropic, vertex.
    #[arg(long, default_value = "openai")]
    provider: Provider,
    /// The API key required: `Authorization: Bearer` (openai), `api-key` (azure),
    /// `x-api-key` (anthropic). Without it, openai requires none and azure/anthropic
    /// accept any non-empty key.
    #[arg(long)]
    api_key: Option<String>,
    /// Bedrock: the access key id whose SigV4 signatures verify (required for bedrock).
    #[arg(long)]
    aws_access_key_id: Option<String>,
    /// Bedrock: its secret access key (required for bedrock).
    #[arg(long)]
    aws_secret_access_key: Option<String>,
    /// Bedrock: the session token required as `x-amz-security-token` (temporary credentials).
    #[arg(long)]
    aws_session_token: Option<String>,
    /// Azure: the one deployment name that exists (others: 404 DeploymentNotFound).
    #[arg(long)]
    azure_deployment: Option<String>,
    /// Vertex: an OAuth2 access token accepted (repeatable; never expires). More tokens,
    /// with expiries, via `POST /_mock/tokens`. With none at all, any bearer token passes.
    #[arg(long)]
    bearer_token: Vec<String>,
    /// Vertex: the one project id that exists (others: 403 PERMISSION_DENIED).
    #[arg(long)]
    vertex_project: Option<String>,
    /// Benchmarks only: do not recompute Bedrock signatures (the gateway is measured, not
    /// the mock's verification).
    #[arg(long)]
    bench_skip_signature_check: bool,
    /// Benchmarks only: one whole event per streamed write, and each write's send time kept
    /// for `GET /_mock/stream_times`.
    #[arg(long)]
    bench_record_stream_times: bool,
}

fn main() {
    let args = Args::parse();
    if args.bench_record_stream_times {
        llm_router_e2e::mock::response::RECORD_STREAM_TIMES.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let aws = match (args.aws_access_key_id, args.aws_secret_access_key) {
        (Some(id), Some(secret)) => {
            Some(AwsCredentials { access_key_id: id, secret_access_key: secret, session_token: args.aws_session_token })
        }
        (None, None) if args.aws_session_token.is_none() => None,
        _ => {
            eprintln!("mock-region: --aws-access-key-id and --aws-secret-access-key go together");
            std::process::exit(2);
        }
    };
    if args.provider == Provider::Bedrock && aws.is_none() {
        eprintln!("mock-region: --provider bedrock needs --aws-access-key-id and --aws-secret-access-key");
        std::process::exit(2);
    }
    let cfg = MockConfig {
        name: args.name.clone().unwrap_or_else(|| args.region.clone()),
        region: args.region,
        expect_model: args.expect_model,
        chunks: args.chunks,
        chunk_delay_ms: args.chunk_delay_ms,
        provider: args.provider,
        api_key: args.api_key,
        aws,
        azure_deployment: args.azure_deployment,
        bearer_tokens: args.bearer_token,
        vertex_project: args.vertex_project,
        skip_signature_check: args.bench_skip_signature_check,
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
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        serve(listener, MockState::new(cfg)).await
    });
}
