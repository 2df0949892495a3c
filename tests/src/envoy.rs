//! [`Envoy`]: a real Envoy process for one test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::http::Req;
use crate::{envoy_bin, file_tail, TempDir};

/// How long [`Envoy::start`] waits for `/ready` to answer `LIVE`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

fn unique_base_id() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    // Distinct across concurrent test processes (pid) and instances within one (counter).
    (std::process::id() % 100_000) * 100 + N.fetch_add(1, Ordering::Relaxed) % 100
}

/// A running Envoy. Killed on Drop; when the current thread is panicking (a
/// failed test), Drop first prints the last 50 log lines and keeps the temp dir.
///
/// Runs `envoy -c <tmp>/envoy.yaml --base-id <unique> --disable-hot-restart
/// --concurrency 2 -l <level> --log-path <tmp>/envoy.log` (level: `$ENVOY_LOG_LEVEL`,
/// default `warning`); stdout/stderr go to `<tmp>/envoy.stdout|stderr`.
pub struct Envoy {
    child: Option<Child>,
    dir: TempDir,
    admin_port: u16,
}

impl Envoy {
    /// Writes `config_yaml` to a temp dir, starts Envoy and waits (≤ 30 s) until
    /// `GET http://127.0.0.1:{admin_port}/ready` answers 200 `LIVE`. The config must
    /// put the admin listener on `127.0.0.1:{admin_port}`. Panics with the log tail
    /// if Envoy exits or never gets ready.
    pub fn start(config_yaml: &str, admin_port: u16) -> Envoy {
        Self::start_args(config_yaml, admin_port, &[])
    }

    /// Like [`Envoy::start`] with extra command-line arguments (e.g. `["--component-log-level", "wasm:debug"]`).
    pub fn start_args(config_yaml: &str, admin_port: u16, extra_args: &[&str]) -> Envoy {
        match Self::launch(config_yaml, admin_port, extra_args) {
            Ok(e) => e,
            Err((msg, dir)) => {
                let mut dir = dir;
                dir.keep();
                panic!("{msg}\n(files kept in {})", dir.path().display())
            }
        }
    }

    /// Like [`Envoy::start_args`] but returns the failure (with the log tail) instead of panicking,
    /// for tests that expect Envoy to reject a config.
    pub fn try_start(config_yaml: &str, admin_port: u16, extra_args: &[&str]) -> Result<Envoy, String> {
        Self::launch(config_yaml, admin_port, extra_args).map_err(|(msg, _dir)| msg)
    }

    fn launch(config_yaml: &str, admin_port: u16, extra_args: &[&str]) -> Result<Envoy, (String, TempDir)> {
        let bin = envoy_bin();
        let dir = TempDir::new("llm-router-envoy");
        let config = dir.path().join("envoy.yaml");
        std::fs::write(&config, config_yaml).unwrap_or_else(|e| panic!("write {}: {e}", config.display()));
        let level = std::env::var("ENVOY_LOG_LEVEL").unwrap_or_else(|_| "warning".into());
        let stdout = std::fs::File::create(dir.path().join("envoy.stdout")).expect("create envoy.stdout");
        let stderr = std::fs::File::create(dir.path().join("envoy.stderr")).expect("create envoy.stderr");
        let spawned = Command::new(&bin)
            .arg("-c")
            .arg(&config)
            .arg("--base-id")
            .arg(unique_base_id().to_string())
            .arg("--disable-hot-restart")
            .arg("--concurrency")
            .arg("2")
            .arg("-l")
            .arg(&level)
            .arg("--log-path")
            .arg(dir.path().join("envoy.log"))
            // Tests read the log as they go: Envoy would otherwise write it every 10 s.
            .arg("--file-flush-interval-msec")
            .arg("100")
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) => return Err((format!("spawn {}: {e}", bin.display()), dir)),
        };
        let mut envoy = Envoy { child: Some(child), dir, admin_port };
        let start = Instant::now();
        loop {
            if let Some(Ok(Some(status))) = envoy.child.as_mut().map(|c| c.try_wait()) {
                envoy.child = None;
                let msg = format!(
                    "Envoy exited during startup ({status}); config {}; last log lines:\n{}",
                    config.display(),
                    envoy.log_tail(50)
                );
                return Err((msg, envoy.into_dir()));
            }
            let ready = Req::get(&format!("{}/ready", envoy.admin_url())).timeout(Duration::from_secs(2)).send();
            if let Ok(r) = ready {
                if r.status == 200 && r.text().trim() == "LIVE" {
                    return Ok(envoy);
                }
            }
            if start.elapsed() > READY_TIMEOUT {
                let tail = envoy.log_tail(50);
                envoy.kill();
                let msg = format!(
                    "Envoy not ready on admin port {admin_port} after {READY_TIMEOUT:?}; config {}; last log lines:\n{tail}",
                    config.display()
                );
                return Err((msg, envoy.into_dir()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Takes the temp dir out of a stopped instance (its Drop then does nothing).
    fn into_dir(mut self) -> TempDir {
        self.kill();
        let placeholder = TempDir::detached();
        std::mem::replace(&mut self.dir, placeholder)
    }

    /// Runs `envoy --mode validate -c <config>`; `Ok(output)` if Envoy accepts the config,
    /// `Err(output)` otherwise.
    pub fn validate_config(config_yaml: &str) -> Result<String, String> {
        let dir = TempDir::new("llm-router-envoy-validate");
        let config = dir.path().join("envoy.yaml");
        std::fs::write(&config, config_yaml).expect("write config");
        let out = Command::new(envoy_bin())
            .arg("--mode")
            .arg("validate")
            .arg("-c")
            .arg(&config)
            .arg("--disable-hot-restart")
            .arg("-l")
            .arg("warning")
            .stdin(Stdio::null())
            .output()
            .expect("run envoy --mode validate");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if out.status.success() {
            Ok(text)
        } else {
            Err(text)
        }
    }

    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// `http://127.0.0.1:ADMIN`
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// The temp dir holding `envoy.yaml`, `envoy.log`, `envoy.stdout`, `envoy.stderr`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("envoy.log")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// `GET` an admin path (e.g. `/clusters`, `/stats?filter=...`); panics unless 200.
    pub fn admin_get(&self, path: &str) -> String {
        self.admin("GET", path)
    }

    /// `POST` an admin path (e.g. `/healthcheck/fail`, `/runtime_modify?k=v`); panics unless 200.
    pub fn admin_post(&self, path: &str) -> String {
        self.admin("POST", path)
    }

    fn admin(&self, method: &str, path: &str) -> String {
        let url = format!("{}{}", self.admin_url(), path);
        let r = Req::new(method, &url)
            .timeout(Duration::from_secs(10))
            .send()
            .unwrap_or_else(|e| panic!("Envoy admin {method} {url}: {e}"));
        assert_eq!(r.status, 200, "Envoy admin {method} {url}: {}", r.text());
        r.text()
    }

    /// `GET /stats/prometheus`.
    pub fn stats_prometheus(&self) -> String {
        self.admin_get("/stats/prometheus")
    }

    /// The value of one counter/gauge by its exact Envoy stat name
    /// (e.g. `cluster.us_east.upstream_rq_total`); `None` if it does not exist.
    pub fn stat(&self, name: &str) -> Option<u64> {
        let mut filter = String::from("^");
        for c in name.chars() {
            if c.is_ascii_alphanumeric() || c == '_' {
                filter.push(c);
            } else {
                filter.push_str(&format!("\\x{:02x}", c as u32));
            }
        }
        filter.push('$');
        let text = self.admin_get(&format!("/stats?usedonly&filter={}", urlencode(&filter)));
        let text = if text.trim().is_empty() {
            // `usedonly` hides never-touched stats; ask again for them.
            self.admin_get(&format!("/stats?filter={}", urlencode(&filter)))
        } else {
            text
        };
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(": ")?;
            (k == name).then(|| v.trim().parse().ok()).flatten()
        })
    }

    /// The last `n` lines of `envoy.log` (plus stderr, where startup errors may land).
    pub fn log_tail(&self, n: usize) -> String {
        let log = file_tail(&self.log_path(), n);
        let err = file_tail(&self.dir.path().join("envoy.stderr"), n);
        if err.trim().is_empty() {
            log
        } else {
            format!("{log}\n--- envoy stderr ---\n{err}")
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Kills Envoy (SIGKILL) and waits for it. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Drop for Envoy {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.dir.path().as_os_str().is_empty() {
            eprintln!(
                "==== Envoy (admin port {}) log tail, files kept in {} ====\n{}\n==== end Envoy log ====",
                self.admin_port,
                self.dir.path().display(),
                self.log_tail(50)
            );
        }
        self.kill();
    }
}
