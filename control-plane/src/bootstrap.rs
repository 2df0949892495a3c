//! The Envoy bootstrap of xDS mode: what `llm-router bootstrap` prints and `up` runs.
//! Pure JSON like `translate` (whose admin and stats settings it shares).
//!
//! The Envoy gets everything else from the control plane over one ADS stream: the gateway
//! listener (LDS), its routes (RDS), the router filter's configuration (ECDS) and the clusters
//! (CDS). While the control plane is away, Envoy keeps serving the last config it accepted
//! and reconnects with a short back-off.

use serde_json::{json, Value};

use crate::translate;

pub const XDS_CLUSTER: &str = "llm_router_xds";

/// How an Envoy reaches the control plane.
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapOptions {
    /// `host:port` of `serve`'s xDS address.
    pub xds_addr: String,
    pub node_id: String,
    pub admin_port: u16,
    /// Incremental xDS (`DELTA_GRPC`) instead of state of the world.
    pub delta: bool,
    /// TLS to the control plane: the CA that signed its certificate, and optionally this
    /// Envoy's own certificate and key (for a control plane that requires mTLS).
    pub tls: Option<ClientTls>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientTls {
    pub ca: String,
    pub cert_key: Option<(String, String)>,
    /// The name the control plane's certificate must carry (SNI and SAN check).
    pub server_name: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BootstrapError {
    #[error("--xds-addr {0:?} is not HOST:PORT (for example 127.0.0.1:18000)")]
    BadAddress(String),
}

/// Splits `host:port` (`[v6]:port` too).
pub fn split_host_port(addr: &str) -> Result<(String, u16), BootstrapError> {
    let bad = || BootstrapError::BadAddress(addr.to_string());
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

pub fn xds_bootstrap(b: &BootstrapOptions) -> Result<Value, BootstrapError> {
    let (host, port) = split_host_port(&b.xds_addr)?;
    let opts = translate::Options { admin_port: b.admin_port, ..Default::default() };
    let mut boot = translate::bootstrap_common(&opts);
    boot["node"] = json!({"id": b.node_id, "cluster": "llm-router"});
    boot["dynamic_resources"] = json!({
        "ads_config": {
            "api_type": if b.delta { "DELTA_GRPC" } else { "GRPC" },
            "transport_api_version": "V3",
            "set_node_on_first_message_only": true,
            "grpc_services": [{
                "envoy_grpc": {
                    "cluster_name": XDS_CLUSTER,
                    // Reconnect quickly when the control plane comes back.
                    "retry_policy": {"retry_back_off": {"base_interval": "0.250s", "max_interval": "2s"}},
                },
            }],
        },
        "lds_config": translate::ads_config_source(),
        "cds_config": translate::ads_config_source(),
    });
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    let mut cluster = json!({
        "name": XDS_CLUSTER,
        "type": if is_ip { "STATIC" } else { "STRICT_DNS" },
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": XDS_CLUSTER, "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": host, "port_value": port}},
        }}]}]},
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {
                    "connection_keepalive": {"interval": "15s", "timeout": "5s"},
                }},
            },
        },
    });
    if let Some(tls) = &b.tls {
        let mut ctx = json!({
            "validation_context": {
                "trusted_ca": {"filename": tls.ca},
                "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": tls.server_name}}],
            },
            "alpn_protocols": ["h2"],
        });
        if let Some((cert, key)) = &tls.cert_key {
            ctx["tls_certificates"] = json!([{
                "certificate_chain": {"filename": cert},
                "private_key": {"filename": key},
            }]);
        }
        cluster["transport_socket"] = json!({
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": tls.server_name,
                "common_tls_context": ctx,
            },
        });
    }
    boot["static_resources"] = json!({"clusters": [cluster]});
    Ok(boot)
}

/// The bootstrap as YAML text.
pub fn xds_bootstrap_yaml(b: &BootstrapOptions) -> Result<String, BootstrapError> {
    let header = "# Generated by `llm-router bootstrap`: an Envoy 1.40 that takes its gateway config from\n\
                  # `llm-router serve` over ADS. Run it with `envoy -c THIS_FILE`.\n";
    let yaml = serde_yaml::to_string(&xds_bootstrap(b)?).unwrap_or_default();
    Ok(format!("{header}{}", quote_yaml11_booleans(&yaml)))
}

/// serde_yaml writes YAML 1.2, where `n`, `yes` or `off` are strings; Envoy's parser reads
/// YAML 1.1, where they are booleans (a node id `n` became `false`). Quotes such plain
/// scalars; the bootstrap's real booleans are written `true`/`false` and stay as they are.
fn quote_yaml11_booleans(yaml: &str) -> String {
    const WORDS: [&str; 18] =
        ["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "~", "null"];
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.lines() {
        let quoted = line.rsplit_once(": ").and_then(|(k, v)| WORDS.contains(&v).then(|| format!("{k}: '{v}'")));
        let quoted = quoted.or_else(|| {
            let t = line.trim_start();
            let v = t.strip_prefix("- ")?;
            WORDS.contains(&v).then(|| format!("{}- '{v}'", &line[..line.len() - t.len()]))
        });
        out.push_str(quoted.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> BootstrapOptions {
        BootstrapOptions {
            xds_addr: "127.0.0.1:18000".into(),
            node_id: "n1".into(),
            admin_port: 9901,
            delta: false,
            tls: None,
        }
    }

    #[test]
    fn the_bootstrap_points_at_the_control_plane_over_ads() {
        let b = xds_bootstrap(&opts()).expect("valid");
        assert_eq!(b["node"]["id"], "n1");
        assert_eq!(b["dynamic_resources"]["ads_config"]["api_type"], "GRPC");
        assert_eq!(b["dynamic_resources"]["lds_config"]["ads"], json!({}));
        let addr = &b["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
            ["endpoint"]["address"]["socket_address"];
        assert_eq!(addr["port_value"], 18000);
        assert_eq!(b["admin"]["address"]["socket_address"]["address"], "127.0.0.1");
        assert!(b["stats_config"]["stats_tags"].is_array());
    }

    #[test]
    fn node_ids_that_yaml_1_1_reads_as_booleans_stay_strings() {
        let yaml = xds_bootstrap_yaml(&BootstrapOptions { node_id: "n".into(), ..opts() }).expect("valid");
        assert!(yaml.contains("id: 'n'"), "{yaml}");
        assert!(yaml.contains("set_node_on_first_message_only: true"), "{yaml}");
    }

    #[test]
    fn addresses_are_checked() {
        assert_eq!(split_host_port("[::1]:18000"), Ok(("::1".into(), 18000)));
        assert_eq!(split_host_port("cp.example:1"), Ok(("cp.example".into(), 1)));
        assert!(split_host_port("18000").is_err());
        assert!(split_host_port("host:0").is_err());
    }
}
