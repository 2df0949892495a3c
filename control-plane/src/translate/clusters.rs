//! Clusters: one per deployment — its endpoint, its upstream filter chain (the wasm filter
//! in the upstream role, then the deployment's auth), TLS, and LiteLLM's cooldown and health
//! checks as Envoy sees them — and the empty cluster a request without a plan ends in.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use super::envoy::{duration, extend_object, socket_address};
use super::filter::{upstream_config, upstream_filter};
use super::upstream_auth::upstream_auth;
use super::{cluster_name, Options, NO_ROUTE_CLUSTER};
use crate::config::{Config, Deployment, Endpoint, RouterSettings, TlsVerify};

const DEFAULT_CONNECT_TIMEOUT_S: f64 = 5.0;
/// Active health checks' timeout when `health_check_timeout` is not given (seconds).
const DEFAULT_HEALTH_CHECK_TIMEOUT_S: f64 = 5.0;

/// Every deployment's cluster and then the no-route cluster; and the secrets the clusters'
/// auth filters refer to, each once.
pub(super) fn clusters_and_secrets(cfg: &Config, opts: &Options) -> (Vec<Value>, Vec<Value>) {
    let mut clusters = Vec::with_capacity(cfg.deployments.len() + 1);
    let mut secrets = Vec::new();
    let Ok(()) = for_each_cluster(cfg, opts, |part| {
        match part {
            ClusterPart::Deployment(inputs) => clusters.push(inputs.build()),
            ClusterPart::NoRoute(c) => clusters.push(c),
            ClusterPart::Secret(s) => secrets.push(s),
        }
        Ok::<(), std::convert::Infallible>(())
    });
    (clusters, secrets)
}

/// What [`for_each_cluster`] hands out, in order.
pub(super) enum ClusterPart<'a> {
    /// A deployment's cluster, to build (or to take from an earlier build of equal inputs).
    Deployment(ClusterInputs<'a>),
    /// A secret that the auth filters of the cluster just handed out refer to.
    Secret(Value),
    /// The cluster a request without a plan ends in.
    NoRoute(Value),
}

/// Everything a deployment's cluster is made of besides the router settings and the options:
/// the cluster is a function of these, so equal inputs make an equal cluster.
pub(super) struct ClusterInputs<'a> {
    cfg: &'a Config,
    opts: &'a Options,
    pub deployment: &'a Deployment,
    /// Deployments in its model group.
    pub group_size: usize,
    /// Its auth filters, with any credential already read from the environment or a file.
    pub auth_filters: Vec<Value>,
}

impl ClusterInputs<'_> {
    pub(super) fn build(self) -> Value {
        deployment_cluster(self.cfg, self.deployment, self.opts, self.group_size, self.auth_filters)
    }
}

/// Hands `f` each deployment's cluster inputs, each followed by the secrets its auth uses that
/// no earlier cluster used, then the no-route cluster: one at a time, so that the xDS build
/// can encode each and let it go (10,000 clusters as JSON at once take hundreds of MB). Stops
/// at the first error of `f`.
pub(super) fn for_each_cluster<'a, E>(
    cfg: &'a Config,
    opts: &'a Options,
    mut f: impl FnMut(ClusterPart<'a>) -> Result<(), E>,
) -> Result<(), E> {
    let group_sizes = group_sizes(cfg);
    let mut secret_names = HashSet::new();
    for d in &cfg.deployments {
        let auth = upstream_auth(d, opts.secret_mode, opts.vertex.get(&d.id));
        let group_size = group_sizes.get(d.model_name.as_str()).copied().unwrap_or(1);
        f(ClusterPart::Deployment(ClusterInputs { cfg, opts, deployment: d, group_size, auth_filters: auth.filters }))?;
        // Deployments of one Vertex service account share its token secret. (A set, not a
        // scan of the list: a config may hold thousands of keys.)
        for secret in auth.secrets {
            if secret_names.insert(secret["name"].as_str().unwrap_or_default().to_string()) {
                f(ClusterPart::Secret(secret))?;
            }
        }
    }
    f(ClusterPart::NoRoute(no_route_cluster()))
}

/// Deployments per model group, counted once (a scan per deployment is quadratic).
fn group_sizes(cfg: &Config) -> HashMap<&str, usize> {
    let mut sizes = HashMap::new();
    for d in &cfg.deployments {
        *sizes.entry(d.model_name.as_str()).or_default() += 1;
    }
    sizes
}

fn no_route_cluster() -> Value {
    json!({
        "name": NO_ROUTE_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": NO_ROUTE_CLUSTER, "endpoints": []},
    })
}

fn deployment_cluster(
    cfg: &Config,
    d: &Deployment,
    opts: &Options,
    group_size: usize,
    auth_filters: Vec<Value>,
) -> Value {
    let r = &cfg.router;
    let upstream = upstream_filter(d, r, group_size == 1, opts);
    let mut cluster = base_cluster(d, upstream, auth_filters);
    if d.endpoint.tls {
        cluster["transport_socket"] = upstream_tls(&d.endpoint, &d.tls_verify, opts);
    }
    // A group's only deployment is never ejected (LiteLLM never cools it down either).
    if group_size > 1 && r.cooldown_time_s > 0.0 {
        cluster["outlier_detection"] = outlier_detection(r);
    }
    if let Some(interval) = r.health_check_interval_s {
        cluster["health_checks"] = health_checks(r, interval, d);
    }
    cluster
}

/// What every deployment's cluster has: its endpoint, its upstream filters, limits, metadata.
fn base_cluster(d: &Deployment, upstream: Value, auth_filters: Vec<Value>) -> Value {
    let e = &d.endpoint;
    let name = cluster_name(d);
    let is_ip = e.host.parse::<std::net::IpAddr>().is_ok();
    let mut endpoint = json!({"address": socket_address(&e.host, e.port)});
    if !is_ip {
        endpoint["hostname"] = json!(e.host);
    }
    // `json!` copies a `Value` it is given field by field: the large parts (the endpoint, the
    // protocol options with the filters) are moved into `null` placeholders instead.
    let mut cluster = json!({
        "name": name,
        "type": if is_ip { "STATIC" } else { "LOGICAL_DNS" },
        "connect_timeout": duration(DEFAULT_CONNECT_TIMEOUT_S),
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": null}]}]},
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": null},
        // Failover sends retries in bursts; Envoy's default of 3 concurrent retries per
        // cluster would turn a region outage into client errors.
        "circuit_breakers": {"thresholds": [{
            "priority": "DEFAULT",
            "max_connections": 100000,
            "max_pending_requests": 100000,
            "max_requests": 100000,
            "max_retries": 100000,
        }]},
        "metadata": {"filter_metadata": {"llm_router": {
            "deployment": d.id,
            "model_name": d.model_name,
            "region": d.region,
            "zone": d.zone,
        }}},
    });
    cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"] = endpoint;
    cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] =
        protocol_options(d, upstream, auth_filters);
    if !is_ip {
        cluster["dns_lookup_family"] = json!("V4_PREFERRED");
    }
    cluster
}

/// The upstream HTTP filters and protocol: HTTP/2 when TLS can negotiate it.
fn protocol_options(d: &Deployment, upstream_filter: Value, auth_filters: Vec<Value>) -> Value {
    // The wasm filter translates the attempt; auth (key injection, SigV4) comes after it, so
    // the signature covers the translated request.
    let http_filters = std::iter::once(upstream_filter)
        .chain(auth_filters)
        .chain(std::iter::once(json!({
            "name": "envoy.filters.http.upstream_codec",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"},
        })))
        .collect::<Vec<_>>();
    let mut options = json!({
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "http_filters": null,
    });
    options["http_filters"] = Value::Array(http_filters);
    let protocol = if d.endpoint.tls {
        json!({"auto_config": {"http_protocol_options": {}, "http2_protocol_options": {}}})
    } else {
        json!({"explicit_http_config": {"http_protocol_options": {}}})
    };
    extend_object(&mut options, &protocol);
    options
}

/// TLS to the provider, verified against `--ca-file` (or the deployment's `ssl_verify` CA
/// bundle) for the endpoint's host name; not verified at all with `ssl_verify: false`.
fn upstream_tls(e: &Endpoint, verify: &TlsVerify, opts: &Options) -> Value {
    let validation = match verify {
        TlsVerify::Verify => json!({
            "trusted_ca": {"filename": opts.ca_file},
            "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": e.host}}],
        }),
        TlsVerify::CaBundle(path) => json!({
            "trusted_ca": {"filename": path},
            "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": e.host}}],
        }),
        TlsVerify::Off => json!({}),
    };
    json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "sni": e.host,
            "common_tls_context": {"validation_context": validation},
        },
    })
}

/// LiteLLM's allowed_fails / cooldown_time as Envoy sees them.
fn outlier_detection(r: &RouterSettings) -> Value {
    let cooldown = duration(r.cooldown_time_s);
    let fails = r.allowed_fails.max(1);
    json!({
        "consecutive_5xx": fails,
        "consecutive_gateway_failure": fails,
        "consecutive_local_origin_failure": fails,
        "enforcing_consecutive_5xx": 100,
        "enforcing_consecutive_gateway_failure": 100,
        "enforcing_consecutive_local_origin_failure": 100,
        "enforcing_success_rate": 0,
        "interval": "1s",
        "base_ejection_time": cooldown,
        "max_ejection_time": cooldown,
        // A single-host cluster must be allowed to eject its only host.
        "max_ejection_percent": 100,
    })
}

/// Active health checks every `interval` seconds (`health_check_interval`).
fn health_checks(r: &RouterSettings, interval: f64, d: &Deployment) -> Value {
    let timeout = r.health_check_timeout_s.unwrap_or(DEFAULT_HEALTH_CHECK_TIMEOUT_S);
    json!([{
        "timeout": duration(timeout),
        "interval": duration(interval),
        "no_traffic_interval": duration(interval),
        "unhealthy_threshold": r.allowed_fails.max(1),
        "healthy_threshold": 1,
        "http_health_check": {
            "host": upstream_config(d).authority,
            "path": "/",
            // Providers answer / with 4xx (no such route, auth): reachable and answering
            // is healthy; 5xx, timeouts and refused connections are not.
            "expected_statuses": [{"start": 200, "end": 500}],
        },
    }])
}
