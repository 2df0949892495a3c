//! The one-screen summary printed by `llm-router validate`. Never shows secret values.

use std::fmt::Write;

use super::{deployment_timeouts, router_timeouts, Config, Reach, Secret};

fn secs(v: f64) -> String {
    format!("{v}s")
}

/// Where requests go, in a few words: `eu-west-1`, `eu. profile (8 regions)`, `any region`.
fn reach(r: &Reach) -> String {
    match r {
        Reach::Unknown => "-".into(),
        Reach::Region(r) => r.clone(),
        Reach::Profile { geography, regions: Some(list), .. } => {
            format!("{geography}. profile ({} regions)", list.len())
        }
        Reach::Profile { geography, regions: None, .. } => format!("{geography}. profile: any region"),
        Reach::Global => "any region".into(),
    }
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
    let limits = router_timeouts(r);
    let _ = writeln!(
        out,
        "timeouts: stream {} (first event, and each gap), answer {} (whole, retries included)",
        secs(limits.stream_s),
        secs(limits.answer_s)
    );
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

    let rows: Vec<[String; 8]> = cfg
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
                reach(&d.reach),
                dash(&d.zone).to_string(),
                d.priority.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                d.weight.to_string(),
                host,
            ]
        })
        .collect();
    let header = ["id", "provider", "region", "reaches", "zone", "priority", "weight", "endpoint"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; 8]| {
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
        for &i in &members {
            let row = &rows[i];
            out.push_str(&line(row.each_ref().map(String::as_str)));
        }
        // Deployments with limits of their own.
        let own = members
            .iter()
            .map(|&i| &cfg.deployments[i])
            .filter(|d| d.timeout_s.is_some() || d.stream_timeout_s.is_some());
        for d in own {
            let t = deployment_timeouts(r, d);
            let _ = writeln!(out, "    timeouts of {}: stream {}, answer {}", d.id, secs(t.stream_s), secs(t.answer_s));
        }
        if let Some((_, to)) = r.fallbacks.iter().find(|(from, _)| from == g) {
            let _ = writeln!(out, "    fallbacks: {}", to.join(", "));
        }
    }
    let zones = if cfg.zones.is_empty() { "(none)".to_string() } else { cfg.zones.join(", ") };
    let _ = writeln!(out, "zones: {zones}");
    out
}
