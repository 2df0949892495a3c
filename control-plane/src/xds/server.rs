//! The tonic glue: one task per ADS stream moves requests and snapshots into the sans-IO
//! connection and its responses out. Errors become `tonic::Status` here only.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, info, warn};

use super::cache::{CacheReader, ProxyHandle};
use super::delta::DeltaConnection;
use super::snapshot::Snapshot;
use super::sotw::{ProtocolError, SotwConnection};
use super::{short_type, Event, Observer};

/// Responses buffered per stream before the connection task waits for the client.
const STREAM_BUFFER: usize = 16;

/// The ADS service.
#[derive(Clone)]
pub struct AdsService {
    cache: CacheReader,
    observer: Arc<dyn Observer>,
}

impl AdsService {
    pub fn new(cache: CacheReader, observer: Arc<dyn Observer>) -> AdsService {
        AdsService { cache, observer }
    }

    pub fn into_server(self) -> AggregatedDiscoveryServiceServer<AdsService> {
        // Thousands of clusters make large responses: allow them (the default is 4 MiB).
        AggregatedDiscoveryServiceServer::new(self)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(256 << 20)
    }
}

/// PEM files for mTLS on the xDS port.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    /// When set, clients must present a certificate signed by this CA.
    pub client_ca: Option<std::path::PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("reading {what} {path}: {source}")]
    Read { what: &'static str, path: String, source: std::io::Error },
    #[error("xDS TLS configuration: {0}")]
    Tls(tonic::transport::Error),
    #[error("xDS server on {addr}: {source}")]
    Transport { addr: SocketAddr, source: tonic::transport::Error },
    #[error(
        "binding the xDS address {addr}: {source} (is another control plane running? choose another with --xds-addr)"
    )]
    Bind { addr: SocketAddr, source: std::io::Error },
}

fn read(what: &'static str, path: &std::path::Path) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|source| ServeError::Read { what, path: path.display().to_string(), source })
}

/// Builds the tonic server (with TLS when asked).
pub fn server_builder(tls: Option<&TlsFiles>) -> Result<Server, ServeError> {
    let mut builder =
        Server::builder().http2_keepalive_interval(Some(std::time::Duration::from_secs(30))).tcp_nodelay(true);
    if let Some(t) = tls {
        let identity = Identity::from_pem(read("--xds-tls-cert", &t.cert)?, read("--xds-tls-key", &t.key)?);
        let mut cfg = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &t.client_ca {
            cfg = cfg.client_ca_root(Certificate::from_pem(read("--xds-client-ca", ca)?));
        }
        builder = builder.tls_config(cfg).map_err(ServeError::Tls)?;
    }
    Ok(builder)
}

/// Serves ADS on an already bound listener until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: AdsService,
    tls: Option<&TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    serve_routes(listener, tonic::service::Routes::new(service.into_server()), tls, shutdown).await
}

/// Serves ADS and the other gRPC services in `routes` (the rate limit service) on one
/// listener, with the same TLS and client-certificate rules for all of them.
pub async fn serve_routes(
    listener: tokio::net::TcpListener,
    routes: tonic::service::Routes,
    tls: Option<&TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr: SocketAddr::from(([127, 0, 0, 1], 0)), source })?;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    server_builder(tls)?
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|source| ServeError::Transport { addr, source })
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

fn peer<T>(req: &Request<T>) -> String {
    req.remote_addr().map(|a| a.to_string()).unwrap_or_else(|| "unknown".into())
}

/// Applies one connection's events: registry, metrics, logs.
fn record(events: Vec<Event>, proxy: &ProxyHandle, node: &str, observer: &dyn Observer) {
    for e in events {
        match e {
            Event::Ack { type_url, version } => {
                debug!(node, r#type = short_type(&type_url), version, "ACK");
                proxy.acked(&type_url, &version);
                observer.acked(&type_url);
            }
            Event::Nack { type_url, version, detail } => {
                warn!(
                    node,
                    r#type = short_type(&type_url),
                    version,
                    error = %detail,
                    "Envoy rejected a config (NACK); it keeps its last accepted one"
                );
                proxy.nacked(&type_url, &version, &detail);
                observer.nacked(&type_url);
            }
        }
    }
}

/// What one ADS stream's task needs from its sans-IO connection: state of the world and
/// delta differ in their messages, not in how a stream is driven.
trait AdsProtocol: Send + 'static {
    type Request: prost::Message + Default + Send + 'static;
    type Response: Send + 'static;
    /// `sotw` or `delta`, for the proxy registry, metrics and logs.
    const KIND: &'static str;
    fn on_request(&mut self, req: Self::Request) -> Result<(Vec<Self::Response>, Vec<Event>), ProtocolError>;
    fn on_snapshot(&mut self, snapshot: Arc<Snapshot>) -> Vec<Self::Response>;
    fn node_id(&self) -> Option<&str>;
    /// Logs a push; returns its type URL and how many resources it carries.
    fn log_push(node: &str, r: &Self::Response) -> (String, usize);
}

impl AdsProtocol for SotwConnection {
    type Request = DiscoveryRequest;
    type Response = DiscoveryResponse;
    const KIND: &'static str = "sotw";

    fn on_request(&mut self, req: DiscoveryRequest) -> Result<(Vec<DiscoveryResponse>, Vec<Event>), ProtocolError> {
        SotwConnection::on_request(self, req).map(|out| (out.responses, out.events))
    }
    fn on_snapshot(&mut self, snapshot: Arc<Snapshot>) -> Vec<DiscoveryResponse> {
        SotwConnection::on_snapshot(self, snapshot)
    }
    fn node_id(&self) -> Option<&str> {
        SotwConnection::node_id(self)
    }
    fn log_push(node: &str, r: &DiscoveryResponse) -> (String, usize) {
        debug!(
            node,
            r#type = short_type(&r.type_url),
            version = r.version_info,
            nonce = r.nonce,
            resources = r.resources.len(),
            "push"
        );
        (r.type_url.clone(), r.resources.len())
    }
}

impl AdsProtocol for DeltaConnection {
    type Request = DeltaDiscoveryRequest;
    type Response = DeltaDiscoveryResponse;
    const KIND: &'static str = "delta";

    fn on_request(
        &mut self,
        req: DeltaDiscoveryRequest,
    ) -> Result<(Vec<DeltaDiscoveryResponse>, Vec<Event>), ProtocolError> {
        DeltaConnection::on_request(self, req).map(|out| (out.responses, out.events))
    }
    fn on_snapshot(&mut self, snapshot: Arc<Snapshot>) -> Vec<DeltaDiscoveryResponse> {
        DeltaConnection::on_snapshot(self, snapshot)
    }
    fn node_id(&self) -> Option<&str> {
        DeltaConnection::node_id(self)
    }
    fn log_push(node: &str, r: &DeltaDiscoveryResponse) -> (String, usize) {
        debug!(
            node,
            r#type = short_type(&r.type_url),
            version = r.system_version_info,
            nonce = r.nonce,
            resources = r.resources.len(),
            removed = r.removed_resources.len(),
            "push"
        );
        (r.type_url.clone(), r.resources.len() + r.removed_resources.len())
    }
}

impl AdsService {
    /// Opens one ADS stream: a task moves requests and snapshots into the connection and its
    /// responses out, until either side ends.
    fn open_stream<C: AdsProtocol>(
        &self,
        peer: String,
        mut requests: Streaming<C::Request>,
        make_conn: impl FnOnce(Option<Arc<Snapshot>>) -> C + Send + 'static,
    ) -> BoxStream<C::Response> {
        let (tx, rx) = mpsc::channel::<Result<C::Response, Status>>(STREAM_BUFFER);
        let mut snapshots = self.cache.watch();
        let proxy = self.cache.connect(C::KIND, peer.clone());
        let observer = self.observer.clone();
        observer.connected(C::KIND);
        info!(%peer, protocol = C::KIND, "ADS stream opened");
        tokio::spawn(async move {
            let mut conn = make_conn(snapshots.borrow_and_update().clone());
            let mut node = String::new();
            let reason = loop {
                let responses = tokio::select! {
                    msg = requests.next() => match msg {
                        Some(Ok(req)) => match conn.on_request(req) {
                            Ok((responses, events)) => {
                                if node.is_empty() {
                                    if let Some(id) = conn.node_id() {
                                        node = id.to_string();
                                        proxy.set_node(&node);
                                        info!(%peer, node, "proxy identified");
                                    }
                                }
                                record(events, &proxy, &node, observer.as_ref());
                                responses
                            }
                            Err(e) => {
                                let _ = tx.send(Err(Status::invalid_argument(e.to_string()))).await;
                                break format!("protocol error: {e}");
                            }
                        },
                        Some(Err(status)) => break format!("stream error: {}", status.message()),
                        None => break "closed by the proxy".to_string(),
                    },
                    changed = snapshots.changed() => {
                        if changed.is_err() { break "control plane shutting down".to_string(); }
                        let snap = snapshots.borrow_and_update().clone();
                        match snap { Some(s) => conn.on_snapshot(s), None => Vec::new() }
                    }
                };
                for r in responses {
                    let (type_url, count) = C::log_push(&node, &r);
                    observer.pushed(&type_url, count);
                    if tx.send(Ok(r)).await.is_err() {
                        break;
                    }
                }
                if tx.is_closed() {
                    break "closed by the proxy".to_string();
                }
            };
            info!(%peer, node, reason, "ADS stream closed");
            observer.disconnected(C::KIND);
            drop(proxy);
        });
        Box::pin(ReceiverStream::new(rx))
    }
}

#[tonic::async_trait]
impl AggregatedDiscoveryService for AdsService {
    type StreamAggregatedResourcesStream = BoxStream<DiscoveryResponse>;
    type DeltaAggregatedResourcesStream = BoxStream<DeltaDiscoveryResponse>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let peer = peer(&request);
        Ok(Response::new(self.open_stream(peer, request.into_inner(), SotwConnection::new)))
    }

    async fn delta_aggregated_resources(
        &self,
        request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        let peer = peer(&request);
        Ok(Response::new(self.open_stream(peer, request.into_inner(), DeltaConnection::new)))
    }
}
