//! The one-screen summary printed by `llm-router validate`. Never shows secret values.

use std::fmt::Write;

use super::{Config, Secret};

fn secs(v: f64) -> String {
    format!("{v}s")
}

fn dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// Strategy, failure handling, health checks, each model group with its deployments, zones.
pub fn summary(cfg: &Config) -> String {
    let r = &cfg.router;
    let mut out = String::new();
    let _ = writeln!(out, "strategy: {}", r.strategy.name());
    let _ = writeln!(
        out,
        "retries: {}  allowed_fails: {}  cooldown: {}",
        r.num_retries,
        r.allowed_fails,
        secs(r.cooldown_time_s)
    );
    match r.health_check_interval_s {
        Some(i) => {
            let t = r.health_check_timeout_s.map(secs).unwrap_or_else(|| "-".into());
            let _ = writeln!(out, "health checks: every {}, timeout {t}", secs(i));
        }
        None => out.push_str("health checks: off\n"),
    }
    if r.timeout_s.is_some() || r.stream_timeout_s.is_some() {
        let show = |v: Option<f64>| v.map(secs).unwrap_or_else(|| "-".into());
        let _ = writeln!(out, "timeouts: request {}, first byte {}", show(r.timeout_s), show(r.stream_timeout_s));
    }
    if let Some(allowed) = &r.allowed_regions {
        let _ = writeln!(out, "allowed regions: {}", allowed.join(", "));
    }
    if let Some(g) = &r.gateway_region {
        let _ = writeln!(out, "gateway region: {g}");
    }
    match &cfg.master_key {
        Some(Secret::Env(var)) => {
            let _ = writeln!(out, "master key: required (from ${var})");
        }
        Some(Secret::Literal(_)) => out.push_str("master key: required (literal in config)\n"),
        None => {}
    }

    let rows: Vec<[String; 7]> = cfg
        .deployments
        .iter()
        .map(|d| {
            let default_port = if d.endpoint.tls { 443 } else { 80 };
            let host = if d.endpoint.port == default_port {
                d.endpoint.host.clone()
            } else {
                format!("{}:{}", d.endpoint.host, d.endpoint.port)
            };
            [
                d.id.clone(),
                d.provider.to_string(),
                dash(&d.region).to_string(),
                dash(&d.zone).to_string(),
                d.priority.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                d.weight.to_string(),
                host,
            ]
        })
        .collect();
    let header = ["id", "provider", "region", "zone", "priority", "weight", "endpoint"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; 7]| {
        let mut s = String::from("    ");
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                let _ = write!(s, "{cell:<w$}  ");
            }
        }
        s.push('\n');
        s
    };

    let groups = cfg.model_groups();
    let _ = writeln!(out, "model groups: {}", groups.len());
    for g in groups {
        let members: Vec<usize> = (0..cfg.deployments.len()).filter(|&i| cfg.deployments[i].model_name == g).collect();
        let plural = if members.len() == 1 { "" } else { "s" };
        let _ = writeln!(out, "  {g} ({} deployment{plural})", members.len());
        out.push_str(&line(header));
        for i in members {
            let row = &rows[i];
            out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5], &row[6]]));
        }
        if let Some((_, to)) = r.fallbacks.iter().find(|(from, _)| from == g) {
            let _ = writeln!(out, "    fallbacks: {}", to.join(", "));
        }
    }
    let zones = if cfg.zones.is_empty() { "(none)".to_string() } else { cfg.zones.join(", ") };
    let _ = writeln!(out, "zones: {zones}");
    out
}
