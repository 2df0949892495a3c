//! Who can fetch what from `serve`'s xDS port (the threat model in docs/xds.md, "Who can
//! fetch secrets"). `serve` runs in this process; a plain ADS client plays a stranger on the
//! network, with certificates made here by rcgen.
//!
//! - Without TLS, any client that can connect gets every secret it names: that is why the xDS
//!   port binds 127.0.0.1 unless told otherwise.
//! - With mTLS (`--xds-client-ca`), a client without a certificate from that CA gets nothing.
//! - Whoever is let in gets only secrets it names, and only those a cluster refers to.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{data_source, Node};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{secret, Secret};
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use llm_router::serve::{self, ServeOptions};
use llm_router::translate::{Options, SecretMode};
use llm_router::xds::server::TlsFiles;
use llm_router::xds::snapshot::{CLUSTER, SECRET};
use prost::Message as _;
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use tokio::sync::{mpsc, oneshot};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const API_KEY: &str = "sk-xds-access-test-4c1d";
const SECRET_NAME: &str = "llm-router-key-d1";

/// A running `serve` with one OpenAI deployment whose key is an SDS secret.
struct Serve {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Serve {
    async fn start(dir: &Path, tls: Option<TlsFiles>) -> Serve {
        std::env::set_var("XDS_ACCESS_TEST_KEY", API_KEY);
        let config = dir.join("litellm.yaml");
        std::fs::write(
            &config,
            "model_list:\n  - model_name: g\n    litellm_params:\n      model: openai/gpt-4o\n      \
             api_base: http://127.0.0.1:1/v1\n      api_key: os.environ/XDS_ACCESS_TEST_KEY\n      \
             region_name: us-west-2\n    model_info:\n      id: d1\n",
        )
        .expect("write config");
        let opts = ServeOptions {
            config,
            translate: Options {
                filter_wasm: "/x/llm_router_filter.wasm".into(),
                secret_mode: SecretMode::Inline,
                ..Default::default()
            },
            xds_addr: "127.0.0.1:0".parse().expect("addr"),
            metrics_addr: "127.0.0.1:0".parse().expect("addr"),
            tls,
            debounce: Duration::from_millis(50),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready) = oneshot::channel();
        let task = tokio::spawn(serve::run(
            opts,
            async move {
                let _ = stopped.await;
            },
            move |addr| {
                let _ = ready_tx.send(addr);
            },
        ));
        let addr = tokio::time::timeout(Duration::from_secs(10), ready).await.expect("serve ready").expect("ready");
        Serve { addr, stop: Some(stop), task }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }
}

fn request(type_url: &str, names: &[&str]) -> DiscoveryRequest {
    DiscoveryRequest {
        node: Some(Node { id: "stranger".into(), cluster: "llm-router".into(), ..Default::default() }),
        type_url: type_url.into(),
        resource_names: names.iter().map(|n| n.to_string()).collect(),
        ..Default::default()
    }
}

/// What a client gets on one ADS stream after asking for the clusters and then for `names`
/// secrets: the secrets' values by name, or the error that ended the attempt.
async fn fetch_secrets(channel: Channel, names: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut client = AggregatedDiscoveryServiceClient::new(channel);
    let (tx, rx) = mpsc::channel(4);
    tx.send(request(CLUSTER, &[])).await.map_err(|e| e.to_string())?;
    tx.send(request(SECRET, names)).await.map_err(|e| e.to_string())?;
    let mut stream = client
        .stream_aggregated_resources(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(|s| format!("refused: {s}"))?
        .into_inner();
    let mut out = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(2), stream.message()).await;
        let response: DiscoveryResponse = match next {
            Err(_) => break, // nothing more is coming
            Ok(Err(status)) => return Err(format!("stream error: {status}")),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(r))) => r,
        };
        if response.type_url == SECRET {
            for any in &response.resources {
                let s = Secret::decode(any.value.as_slice()).map_err(|e| e.to_string())?;
                let value = match s.r#type {
                    Some(secret::Type::GenericSecret(g)) => match g.secret.and_then(|d| d.specifier) {
                        Some(data_source::Specifier::InlineString(v)) => v,
                        other => format!("{other:?}"),
                    },
                    other => format!("{other:?}"),
                };
                out.push((s.name, value));
            }
            break;
        }
    }
    drop(tx);
    Ok(out)
}

async fn plain_channel(addr: SocketAddr) -> Result<Channel, String> {
    Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())
}

async fn tls_channel(addr: SocketAddr, ca: &str, identity: Option<(&str, &str)>) -> Result<Channel, String> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Endpoint::from_shared(format!("https://{addr}"))
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))
}

/// A CA and the certificates it signs, as PEM.
struct Pki {
    ca: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let ca = params.self_signed(&key).expect("ca").pem();
        Pki { ca, issuer: Issuer::new(params, key) }
    }

    /// (certificate, key) for `names`, for a server or a client.
    fn leaf(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
        params.extended_key_usages = vec![purpose];
        (params.signed_by(&key, &self.issuer).expect("sign").pem(), key.serialize_pem())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tls_any_client_that_can_connect_gets_the_secrets() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), None).await;
    assert!(serve.addr.ip().is_loopback());
    let channel = plain_channel(serve.addr).await.expect("connect");
    let got = fetch_secrets(channel, &[SECRET_NAME]).await.expect("served");
    // This is the threat model, not a wish: on a port without mTLS, the network is the only
    // guard. Hence the loopback default, and mTLS for anything wider.
    assert_eq!(got, vec![(SECRET_NAME.to_string(), API_KEY.to_string())]);
    serve.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mtls_only_a_client_with_a_certificate_from_the_ca_gets_anything() {
    let dir = tempfile::tempdir().expect("dir");
    let fleet = Pki::new("fleet-ca");
    let stranger = Pki::new("stranger-ca");
    let (server_cert, server_key) = fleet.leaf(&["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let (envoy_cert, envoy_key) = fleet.leaf(&["envoy"], ExtendedKeyUsagePurpose::ClientAuth);
    let (other_cert, other_key) = stranger.leaf(&["envoy"], ExtendedKeyUsagePurpose::ClientAuth);
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).expect("write");
        path
    };
    let tls = TlsFiles {
        cert: write("server.pem", &server_cert),
        key: write("server.key", &server_key),
        client_ca: Some(write("fleet-ca.pem", &fleet.ca)),
    };
    let serve = Serve::start(dir.path(), Some(tls)).await;

    let attempts = [
        ("plain HTTP/2, no TLS", plain_channel(serve.addr).await),
        ("TLS without a client certificate", tls_channel(serve.addr, &fleet.ca, None).await),
        ("a certificate from another CA", tls_channel(serve.addr, &fleet.ca, Some((&other_cert, &other_key))).await),
    ];
    for (who, channel) in attempts {
        // The handshake may fail at connect, or (TLS 1.3) on the first request.
        let result = match channel {
            Ok(channel) => fetch_secrets(channel, &[SECRET_NAME]).await,
            Err(e) => Err(e),
        };
        assert!(result.is_err(), "{who} must be refused, got {result:?}");
        assert!(!format!("{result:?}").contains(API_KEY));
    }

    let channel = tls_channel(serve.addr, &fleet.ca, Some((&envoy_cert, &envoy_key))).await.expect("connect");
    let got = fetch_secrets(channel, &[SECRET_NAME]).await.expect("served");
    assert_eq!(got, vec![(SECRET_NAME.to_string(), API_KEY.to_string())]);
    serve.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gets_only_the_secrets_it_names_that_a_cluster_refers_to() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), None).await;
    for names in [&[][..], &["*"][..], &["llm-router-key-nonexistent"][..]] {
        let channel = plain_channel(serve.addr).await.expect("connect");
        let got = fetch_secrets(channel, names).await.expect("served");
        assert!(got.is_empty(), "{names:?}: {got:?}");
    }
    serve.stop().await;
}
