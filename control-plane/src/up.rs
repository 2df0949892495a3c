//! `llm-router up`: the control plane and one Envoy in one command, for a laptop or a demo.
//! `serve` runs in this process; Envoy is a child started with the `bootstrap` config.
//! Ctrl-C (SIGINT) or SIGTERM stops Envoy (SIGTERM, then SIGKILL after 10 s) and then the
//! control plane; if either dies on its own, the other is stopped too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tracing::{info, warn};

use crate::bootstrap::{xds_bootstrap_yaml, BootstrapOptions};
use crate::serve::{self, ServeOptions};

/// The pinned Envoy that `scripts/setup.sh` installs, relative to the workspace.
const PROJECT_ENVOY: &str = ".tools/envoy-1.40.0/envoy";
const WASM_BUILD_OUTPUT: &str = "target/wasm32-wasip1/wasm/llm_router_filter.wasm";

#[derive(Debug, Clone)]
pub struct UpOptions {
    pub serve: ServeOptions,
    pub admin_port: u16,
    pub node_id: String,
    pub delta: bool,
}

/// Places to look for project files: the current directory, then the workspace this binary
/// was built from.
fn project_candidates(rel: &str) -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from(rel)];
    v.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel));
    v
}

/// `$ENVOY_BIN`, else `envoy` on PATH, else the project-local pinned Envoy.
pub fn find_envoy() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("ENVOY_BIN").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!("ENVOY_BIN={} does not exist; point it at an Envoy 1.40 binary or unset it", p.display());
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("envoy");
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    for p in project_candidates(PROJECT_ENVOY) {
        if p.is_file() {
            return Ok(std::path::absolute(&p).unwrap_or(p));
        }
    }
    bail!("Envoy not found: set ENVOY_BIN, put `envoy` on PATH, or run ./scripts/setup.sh (installs Envoy 1.40 into {PROJECT_ENVOY})")
}

/// The workspace's build output of the filter, if it exists.
pub fn default_filter_wasm() -> Option<PathBuf> {
    project_candidates(WASM_BUILD_OUTPUT)
        .into_iter()
        .find(|p| p.is_file())
        .map(|p| std::path::absolute(&p).unwrap_or(p))
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Shutdown signal for `serve` (SIGINT or SIGTERM).
pub async fn shutdown_signal() {
    let which = wait_for_signal().await;
    info!(signal = which, "stopping");
}

async fn stop_envoy(child: &mut tokio::process::Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) with a pid we own (our child, not yet reaped) and a valid signal.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(_) => info!("Envoy stopped"),
        Err(_) => {
            warn!("Envoy did not stop within 10 s of SIGTERM; killing it");
            let _ = child.kill().await;
        }
    }
}

/// Where `up` writes Envoy's bootstrap: a fresh directory only this user can enter (mode 0700,
/// an unpredictable name), so another local user can neither read the bootstrap nor plant one
/// for Envoy to run. Removed when dropped.
pub fn private_workdir() -> anyhow::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("llm-router-up-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    builder.tempdir().context("create a private temporary directory for Envoy's bootstrap")
}

pub async fn run(opts: UpOptions) -> anyhow::Result<()> {
    let envoy = find_envoy()?;
    let workdir = private_workdir()?;

    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<SocketAddr>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut serve_task = tokio::spawn(serve::run(
        opts.serve.clone(),
        async move {
            let _ = stop_rx.await;
        },
        move |addr| {
            let _ = ready_tx.send(addr);
        },
    ));
    let xds_addr = tokio::select! {
        addr = ready_rx => match addr {
            Ok(a) => a,
            Err(_) => return Err(join_error(serve_task.await)),
        },
        res = &mut serve_task => return Err(join_error(res)),
    };

    let boot = BootstrapOptions {
        xds_addr: xds_addr.to_string(),
        node_id: opts.node_id.clone(),
        admin_port: opts.admin_port,
        delta: opts.delta,
        tls: None,
    };
    let boot_path = workdir.path().join("envoy-bootstrap.yaml");
    std::fs::write(&boot_path, xds_bootstrap_yaml(&boot)?).with_context(|| format!("write {}", boot_path.display()))?;
    let mut child = tokio::process::Command::new(&envoy)
        .arg("-c")
        .arg(&boot_path)
        .args(["--disable-hot-restart", "-l", "warning"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start Envoy ({})", envoy.display()))?;
    let t = &opts.serve.translate;
    info!(
        gateway = %format!("http://{}:{}", if t.listen_address == "0.0.0.0" { "127.0.0.1" } else { &t.listen_address }, t.port),
        admin = %format!("http://127.0.0.1:{}", opts.admin_port),
        metrics = %format!("http://{}/metrics", opts.serve.metrics_addr),
        envoy = %envoy.display(),
        pid = child.id().unwrap_or(0),
        "Envoy started; Ctrl-C stops both"
    );

    let outcome: anyhow::Result<()> = tokio::select! {
        _ = shutdown_signal() => Ok(()),
        status = child.wait() => Err(anyhow::anyhow!(
            "Envoy exited ({}); its log is above. The control plane stops too.",
            status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string())
        )),
        res = &mut serve_task => {
            stop_envoy(&mut child).await;
            return Err(join_error(res));
        }
    };
    stop_envoy(&mut child).await;
    let _ = stop_tx.send(());
    match tokio::time::timeout(Duration::from_secs(5), serve_task).await {
        Ok(res) => {
            if let Err(e) = flatten(res) {
                warn!(error = %e, "control plane stopped with an error");
            }
        }
        Err(_) => warn!("the control plane did not stop within 5 s"),
    }
    drop(workdir);
    outcome
}

fn flatten(res: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    match res {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("control plane task failed: {e}")),
    }
}

fn join_error(res: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Error {
    match flatten(res) {
        Ok(()) => anyhow::anyhow!("the control plane stopped before it was ready"),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workdir_is_private_unpredictable_and_removed() {
        let a = private_workdir().expect("a");
        let b = private_workdir().expect("b");
        assert_ne!(a.path(), b.path());
        let name = a.path().file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        assert_ne!(name, format!("llm-router-up-{}", std::process::id()), "not derived from the pid");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(a.path()).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        }
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
    }
}
