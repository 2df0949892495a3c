//! `llm-router`: the command line. Parsing arguments and printing live here; the work is in
//! the library (`config`, `translate`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use llm_router::{config, translate};

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
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Validate { config } => {
            let Some(loaded) = load(&config) else { return ExitCode::from(1) };
            print!("{}", config::summary(&loaded.config));
            ExitCode::SUCCESS
        }
        Command::Render { config, filter_wasm, port, admin_port, listen_address, region, ca_file } => {
            let Some(loaded) = load(&config) else { return ExitCode::from(1) };
            // Envoy resolves a relative path from its own working directory: make it absolute.
            let wasm = std::path::absolute(&filter_wasm).unwrap_or(filter_wasm);
            if !wasm.is_file() {
                eprintln!(
                    "warning: {} does not exist yet; build it with `cargo build -p llm-router-filter --target wasm32-wasip1 --profile wasm`",
                    wasm.display()
                );
            }
            let opts = translate::Options {
                filter_wasm: wasm.display().to_string(),
                port,
                listen_address,
                admin_port,
                region,
                ca_file,
            };
            print!("{}", translate::render_yaml(&loaded.config, &opts));
            ExitCode::SUCCESS
        }
    }
}

/// Loads a config; prints warnings, or every error, to stderr.
fn load(path: &std::path::Path) -> Option<config::Loaded> {
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
