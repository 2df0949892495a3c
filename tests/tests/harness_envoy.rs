//! Self-test of the Envoy harness with a plain Envoy config (no wasm filter, no
//! control plane): Envoy starts and gets ready, proxies to a mock region, passes
//! SSE through unbuffered, exposes stats, and reports bad configs. Needs Envoy 1.40
//! (`ENVOY_BIN` or `.tools/`), and fails without it.

use std::time::Duration;

use llm_router_e2e::{free_port, post_json, post_json_stream, Envoy, MockRegion};
use serde_json::json;

fn config(listen: u16, admin: u16, upstream: u16) -> String {
    format!(
        r#"
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
  - name: main
    address: {{socket_address: {{address: 127.0.0.1, port_value: {listen}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                route:
                  cluster: mock
                  timeout: 5s
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: mock
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: mock
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {upstream}}}}}}}
"#
    )
}

#[test]
fn envoy_harness_proxies_to_a_mock_region() {
    let m = MockRegion::start("us-east");
    let (listen, admin) = (free_port(), free_port());
    let envoy = Envoy::start(&config(listen, admin, m.port()), admin);
    let url = format!("http://127.0.0.1:{listen}/v1/chat/completions");

    let r = post_json(&url, &json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-mock-region").as_deref(), Some("us-east"));
    assert_eq!(r.header("server").as_deref(), Some("envoy"));

    m.set_mode(json!({"chunk_delay_ms": 100, "chunks": 3}));
    let s = post_json_stream(
        &url,
        &json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        &[],
    );
    assert_eq!(s.status, 200);
    assert!(s.done(), "{}", s.text());
    let first = s.first_chunk_at.unwrap();
    assert!(s.end_at - first >= Duration::from_millis(400), "buffered? first {first:?} end {:?}", s.end_at);

    assert_eq!(envoy.stat("cluster.mock.upstream_rq_200"), Some(2));
    assert!(envoy.stats_prometheus().contains("envoy_cluster_upstream_rq"));
    assert!(envoy.admin_get("/clusters").contains("mock::127.0.0.1"));

    assert!(Envoy::validate_config(&config(listen, admin, m.port())).is_ok());
    let bad = Envoy::validate_config("static_resources: {clusters: [{name: x, type: NOPE}]}").unwrap_err();
    assert!(bad.contains("NOPE"), "{bad}");
    let (l2, a2) = (free_port(), free_port());
    let err = Envoy::try_start(&config(l2, a2, m.port()).replace("STATIC", "NOPE"), a2, &[]).err().unwrap();
    assert!(err.contains("exited during startup"), "{err}");
}
