//! `llm-router`: the command line. Parsing arguments and printing live here; the work is in
//! the library (`config`, `servable`, `translate`, `serve`, `bootstrap`, `up`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;

use llm_router::bootstrap::{xds_bootstrap_yaml, BootstrapOptions, ClientTls};
use llm_router::serve::{ServeOptions, DEFAULT_DEBOUNCE};
use llm_router::xds::server::TlsFiles;
use llm_router::{config, servable, telemetry, translate};

#[derive(Parser)]
#[command(name = "llm-router", version, about = "LiteLLM model YAML -> Envoy with the llm-router filter")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a config; print a summary, or every problem as FILE:LINE:COL: message (exit 1).
    Validate {
        #[arg(long)]
        config: PathBuf,
        /// Print the resolved config as one JSON object on stdout (problems included).
        #[arg(long)]
        json: bool,
    },
    /// Print a complete static Envoy config (YAML) that `envoy -c` runs without a control plane.
    Render {
        #[arg(long)]
        config: PathBuf,
        /// Path of llm_router_filter.wasm as Envoy will read it.
        #[arg(long)]
        filter_wasm: PathBuf,
        /// Gateway listener port.
        #[arg(long, default_value_t = 4000)]
        port: u16,
        /// Envoy admin port (bound to 127.0.0.1).
        #[arg(long, default_value_t = 9901)]
        admin_port: u16,
        /// Address the gateway listener binds.
        #[arg(long, default_value = "0.0.0.0")]
        listen_address: String,
        /// The gateway's own region, reported by GET /health.
        #[arg(long)]
        region: Option<String>,
        /// CA bundle for https upstreams.
        #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
        ca_file: String,
    },
    /// The xDS (ADS) control plane: serves Envoys the gateway, watches FILE and pushes changes.
    Serve {
        #[arg(long)]
        config: PathBuf,
        /// Path of llm_router_filter.wasm as the Envoys will read it.
        #[arg(long)]
        filter_wasm: PathBuf,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        cp: ControlPlaneArgs,
        /// TLS certificate (PEM) of the xDS port.
        #[arg(long, requires = "xds_tls_key")]
        xds_tls_cert: Option<PathBuf>,
        /// TLS private key (PEM) of the xDS port.
        #[arg(long, requires = "xds_tls_cert")]
        xds_tls_key: Option<PathBuf>,
        /// CA (PEM) that Envoys' client certificates must chain to: requires mTLS.
        #[arg(long, requires = "xds_tls_cert")]
        xds_client_ca: Option<PathBuf>,
    },
    /// Print the Envoy bootstrap (YAML) that points an Envoy at `serve`.
    Bootstrap {
        /// Where `serve` listens for xDS (HOST:PORT).
        #[arg(long, default_value = "127.0.0.1:18000")]
        xds_addr: String,
        /// This Envoy's node id (shown in the control plane's logs and /status).
        #[arg(long, default_value = "llm-router")]
        node_id: String,
        /// Envoy admin port (bound to 127.0.0.1).
        #[arg(long, default_value_t = 9901)]
        admin_port: u16,
        /// Use incremental (delta) xDS instead of state of the world.
        #[arg(long)]
        delta: bool,
        /// CA (PEM) that signed the control plane's certificate: connect with TLS.
        #[arg(long)]
        xds_tls_ca: Option<String>,
        /// This Envoy's client certificate (PEM), for a control plane that requires mTLS.
        #[arg(long, requires_all = ["xds_tls_ca", "xds_tls_key"])]
        xds_tls_cert: Option<String>,
        /// This Envoy's client key (PEM).
        #[arg(long, requires = "xds_tls_cert")]
        xds_tls_key: Option<String>,
        /// Name the control plane's certificate carries (default: the host of --xds-addr).
        #[arg(long, requires = "xds_tls_ca")]
        xds_tls_server_name: Option<String>,
    },
    /// Compare regional configs (deployment model 2): report, as FILE: message, what differs
    /// beyond regions, endpoints and priorities. Exit 0 consistent, 1 drift, 2 a file does not load.
    Drift {
        /// Two or more LiteLLM YAML files, one per regional gateway.
        #[arg(required = true, num_args = 2..)]
        files: Vec<PathBuf>,
    },
    /// Run `serve` and an Envoy with the filter in one process (a laptop, a demo). Ctrl-C stops both.
    Up {
        #[arg(long)]
        config: PathBuf,
        /// Default: the workspace's build output, target/wasm32-wasip1/wasm/llm_router_filter.wasm.
        #[arg(long)]
        filter_wasm: Option<PathBuf>,
        /// Envoy admin port (bound to 127.0.0.1).
        #[arg(long, default_value_t = 9901)]
        admin_port: u16,
        /// Gateway listener port.
        #[arg(long, default_value_t = 4000)]
        port: u16,
        /// Address the gateway listener binds.
        #[arg(long, default_value = "127.0.0.1")]
        listen_address: String,
        /// The gateway's own region, reported by GET /health.
        #[arg(long)]
        region: Option<String>,
        /// CA bundle for https upstreams.
        #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
        ca_file: String,
        #[command(flatten)]
        cp: ControlPlaneArgs,
        /// Envoy's node id.
        #[arg(long, default_value = "llm-router")]
        node_id: String,
        /// Use incremental (delta) xDS.
        #[arg(long)]
        delta: bool,
    },
}

/// The gateway listener as `serve` builds it.
#[derive(clap::Args)]
struct GatewayArgs {
    /// Gateway listener port.
    #[arg(long, default_value_t = 4000)]
    port: u16,
    /// Address the gateway listener binds.
    #[arg(long, default_value = "0.0.0.0")]
    listen_address: String,
    /// The gateway's own region, reported by GET /health.
    #[arg(long)]
    region: Option<String>,
    /// CA bundle for https upstreams.
    #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
    ca_file: String,
}

/// The control plane's own ports.
#[derive(clap::Args)]
struct ControlPlaneArgs {
    /// xDS (ADS, gRPC) listen address.
    #[arg(long, default_value = "127.0.0.1:18000")]
    xds_addr: SocketAddr,
    /// /metrics, /healthz, /readyz and /status listen address.
    #[arg(long, default_value = "127.0.0.1:18001")]
    metrics_addr: SocketAddr,
    /// Quiet time after a change to the config file before it is read (milliseconds).
    #[arg(long, default_value_t = DEFAULT_DEBOUNCE.as_millis() as u64)]
    debounce_ms: u64,
}

fn absolute_wasm(filter_wasm: PathBuf) -> PathBuf {
    // Envoy resolves a relative path from its own working directory: make it absolute.
    let wasm = std::path::absolute(&filter_wasm).unwrap_or(filter_wasm);
    if !wasm.is_file() {
        eprintln!(
            "warning: {} does not exist yet; build it with `cargo build -p llm-router-filter --target wasm32-wasip1 --profile wasm`",
            wasm.display()
        );
    }
    wasm
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            None
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Validate { config, json: false } => validate(&config),
        Command::Validate { config, json: true } => validate_json(&config),
        Command::Render { config, filter_wasm, port, admin_port, listen_address, region, ca_file } => {
            let opts = translate::Options { port, listen_address, admin_port, region, ca_file, ..Default::default() };
            render(&config, filter_wasm, opts)
        }
        Command::Serve { config, filter_wasm, gateway, cp, xds_tls_cert, xds_tls_key, xds_client_ca } => {
            telemetry::init_logging();
            let opts = translate::Options {
                filter_wasm: absolute_wasm(filter_wasm).display().to_string(),
                port: gateway.port,
                listen_address: gateway.listen_address,
                region: gateway.region,
                ca_file: gateway.ca_file,
                // xDS delivers secret values (redacted by /config_dump), not references.
                secret_mode: translate::SecretMode::Inline,
                ..Default::default()
            };
            let tls = match (xds_tls_cert, xds_tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles { cert, key, client_ca: xds_client_ca }),
                _ => None,
            };
            let serve = serve_options(config, opts, &cp, tls);
            block_on(llm_router::serve::run(serve, llm_router::up::shutdown_signal(), |_| {}))
        }
        Command::Bootstrap {
            xds_addr,
            node_id,
            admin_port,
            delta,
            xds_tls_ca,
            xds_tls_cert,
            xds_tls_key,
            xds_tls_server_name,
        } => {
            let tls = xds_tls_ca.map(|ca| ClientTls {
                ca,
                cert_key: xds_tls_cert.zip(xds_tls_key),
                server_name: xds_tls_server_name.unwrap_or_else(|| {
                    llm_router::bootstrap::split_host_port(&xds_addr).map(|(h, _)| h).unwrap_or_default()
                }),
            });
            print_bootstrap(&BootstrapOptions { xds_addr, node_id, admin_port, delta, tls })
        }
        Command::Drift { files } => llm_router::drift::run(&files),
        Command::Up { config, filter_wasm, admin_port, port, listen_address, region, ca_file, cp, node_id, delta } => {
            telemetry::init_logging();
            let Some(wasm) = up_filter_wasm(filter_wasm) else { return ExitCode::from(1) };
            let opts = translate::Options {
                filter_wasm: wasm.display().to_string(),
                port,
                listen_address,
                admin_port,
                region,
                ca_file,
                secret_mode: translate::SecretMode::Inline,
                ..Default::default()
            };
            let up =
                llm_router::up::UpOptions { serve: serve_options(config, opts, &cp, None), admin_port, node_id, delta };
            block_on(llm_router::up::run(up))
        }
    }
}

/// `validate`: the summary, or every problem (exit 1).
fn validate(config: &Path) -> ExitCode {
    let Some(loaded) = load(config) else { return ExitCode::from(1) };
    print!("{}", config::summary(&loaded.config));
    ExitCode::SUCCESS
}

/// `validate --json`: the resolved config, or every problem, as one JSON object on stdout;
/// exit 1 when the config is not valid.
fn validate_json(path: &Path) -> ExitCode {
    let result = config::load(path);
    let json = config::json::validate_json(&result);
    println!("{}", serde_json::to_string_pretty(&json).unwrap_or_else(|_| "{}".into()));
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `render`: the static config on stdout; or, when it cannot be served, why (exit 1).
/// `opts.filter_wasm` is set from `filter_wasm` once the config has loaded.
fn render(config: &Path, filter_wasm: PathBuf, mut opts: translate::Options) -> ExitCode {
    let Some(loaded) = load(config) else { return ExitCode::from(1) };
    opts.filter_wasm = absolute_wasm(filter_wasm).display().to_string();
    let servable = servable::check(&loaded.config, &opts);
    for p in &servable.problems {
        eprintln!("{}: {p}", config.display());
    }
    if !servable.is_servable() {
        return ExitCode::from(1);
    }
    for w in &servable.warnings {
        eprintln!("{}: warning: {w}", config.display());
    }
    print!("{}", translate::render_yaml(&loaded.config, &opts));
    ExitCode::SUCCESS
}

/// `bootstrap`: the YAML, or why not (exit 2).
fn print_bootstrap(b: &BootstrapOptions) -> ExitCode {
    match xds_bootstrap_yaml(b) {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `up`'s filter: `--filter-wasm`, else the workspace's build output; None (said why) when
/// neither exists.
fn up_filter_wasm(filter_wasm: Option<PathBuf>) -> Option<PathBuf> {
    match filter_wasm.or_else(llm_router::up::default_filter_wasm) {
        Some(w) => Some(absolute_wasm(w)),
        None => {
            eprintln!(
                "error: no --filter-wasm given and the filter is not built; build it with `cargo build -p llm-router-filter --target wasm32-wasip1 --profile wasm` (or run ./scripts/setup.sh)"
            );
            None
        }
    }
}

/// Runs a command's future on a new runtime; its error, if any, on stderr (exit 1).
fn block_on(command: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let Some(rt) = runtime() else { return ExitCode::from(1) };
    report(rt.block_on(command))
}

fn serve_options(
    config: PathBuf,
    translate: translate::Options,
    cp: &ControlPlaneArgs,
    tls: Option<TlsFiles>,
) -> ServeOptions {
    ServeOptions {
        config,
        translate,
        xds_addr: cp.xds_addr,
        metrics_addr: cp.metrics_addr,
        tls,
        debounce: std::time::Duration::from_millis(cp.debounce_ms),
    }
}

/// Loads a config; prints warnings, or every error, to stderr.
fn load(path: &Path) -> Option<config::Loaded> {
    match config::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            Some(loaded)
        }
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            let errors = diagnostics.iter().filter(|d| d.severity == config::Severity::Error).count();
            eprintln!("{}: {errors} error(s); the config was not loaded", path.display());
            None
        }
    }
}
