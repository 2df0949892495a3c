//! State-of-the-world ADS, one connection, sans-IO: requests and snapshots in, responses and
//! events out. No async, no clock: [`server`](super::server) moves the bytes, this decides.
//!
//! Per type URL, the rules (after go-control-plane's and ezbake's):
//! - A request whose `response_nonce` is not the last one sent for its type is stale and is
//!   ignored (Envoy will send a current one).
//! - A request carrying the last nonce is an ACK, or a NACK when it has `error_detail`; the
//!   NACKed version is not sent again: the next snapshot is.
//! - A response goes out only while the client has a request open (it sent one we have not
//!   answered), so a snapshot that changes while a response waits for its ACK goes out when
//!   the ACK comes.
//! - LDS and CDS are wildcard (an empty name list or `*`): all resources of the type. Other
//!   types carry the named resources the snapshot has.
//! - A reconnecting client states the version it has; when the snapshot is still at it,
//!   nothing is resent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::protobuf::Any;

use super::snapshot::{is_wildcard_type, Snapshot, PUSH_ORDER};
use super::Event;

#[derive(Debug, Default)]
struct TypeState {
    names: BTreeSet<String>,
    wildcard: bool,
    /// The client has a request we have not answered.
    open: bool,
    /// Nonce of the last response of this type.
    last_nonce: Option<String>,
    /// The last response still waits for its ACK or NACK.
    awaiting_ack: bool,
    /// Version and names of the last response.
    sent: Option<(String, BTreeSet<String>)>,
    /// The version the client says it has.
    client_version: String,
}

/// One SotW ADS stream.
#[derive(Debug, Default)]
pub struct SotwConnection {
    node_id: Option<String>,
    snapshot: Option<Arc<Snapshot>>,
    types: BTreeMap<String, TypeState>,
    nonce: u64,
}

/// What a request did.
#[derive(Debug, Default, PartialEq)]
pub struct Output {
    pub responses: Vec<DiscoveryResponse>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("a discovery request without type_url (ADS needs one on every request)")]
    MissingTypeUrl,
}

impl SotwConnection {
    pub fn new(snapshot: Option<Arc<Snapshot>>) -> SotwConnection {
        SotwConnection { snapshot, ..Default::default() }
    }

    /// The node id from the first request that had one.
    pub fn node_id(&self) -> Option<&str> {
        self.node_id.as_deref()
    }

    pub fn on_request(&mut self, req: DiscoveryRequest) -> Result<Output, ProtocolError> {
        if req.type_url.is_empty() {
            return Err(ProtocolError::MissingTypeUrl);
        }
        if self.node_id.is_none() {
            if let Some(node) = &req.node {
                self.node_id = Some(node.id.clone());
            }
        }
        let mut out = Output::default();
        let type_url = req.type_url.clone();
        let st = self.types.entry(type_url.clone()).or_default();
        let nonce = req.response_nonce.as_str();
        if !nonce.is_empty() && st.last_nonce.is_some() && st.last_nonce.as_deref() != Some(nonce) {
            return Ok(out); // stale
        }
        if nonce.is_empty() {
            // First request of this type on this stream (or a client that lost track).
            st.client_version = req.version_info.clone();
            if !req.version_info.is_empty() && req.error_detail.is_none() {
                // A reconnecting client states what it runs: as good as an ACK of it.
                out.events.push(Event::Ack { type_url: type_url.clone(), version: req.version_info.clone() });
            }
            if let Some(detail) = &req.error_detail {
                // Envoy reports a rejected config it got on a previous stream.
                out.events.push(Event::Nack {
                    type_url: type_url.clone(),
                    version: String::new(),
                    detail: detail.message.clone(),
                });
            }
        } else if st.awaiting_ack {
            st.awaiting_ack = false;
            let sent_version = st.sent.as_ref().map(|(v, _)| v.clone()).unwrap_or_default();
            match &req.error_detail {
                Some(detail) => out.events.push(Event::Nack {
                    type_url: type_url.clone(),
                    version: sent_version,
                    detail: detail.message.clone(),
                }),
                None => out.events.push(Event::Ack { type_url: type_url.clone(), version: req.version_info.clone() }),
            }
            st.client_version = req.version_info.clone();
        }
        let star = req.resource_names.iter().any(|n| n == "*");
        st.wildcard = is_wildcard_type(&type_url) && (req.resource_names.is_empty() || star);
        st.names = req.resource_names.into_iter().filter(|n| n != "*").collect();
        st.open = true;
        if let Some(r) = self.respond(&type_url) {
            out.responses.push(r);
        }
        Ok(out)
    }

    /// A new snapshot: responses for every type whose content changed and has a request open.
    pub fn on_snapshot(&mut self, snapshot: Arc<Snapshot>) -> Vec<DiscoveryResponse> {
        self.snapshot = Some(snapshot);
        let mut order: Vec<String> = PUSH_ORDER.iter().map(|s| s.to_string()).collect();
        order.extend(self.types.keys().filter(|t| !PUSH_ORDER.contains(&t.as_str())).cloned());
        order.iter().filter_map(|t| self.respond(t)).collect()
    }

    fn respond(&mut self, type_url: &str) -> Option<DiscoveryResponse> {
        let snapshot = self.snapshot.clone()?;
        let st = self.types.get_mut(type_url)?;
        if !st.open {
            return None;
        }
        let version = snapshot.type_version(type_url).to_string();
        if version.is_empty() && !st.wildcard {
            return None; // nothing of this type yet
        }
        let names: BTreeSet<String> = if st.wildcard { snapshot.names(type_url) } else { st.names.clone() };
        match &st.sent {
            Some((v, n)) if *v == version && *n == names => return None,
            None if st.client_version == version => {
                // A reconnecting client already has this version.
                st.sent = Some((version, names));
                return None;
            }
            _ => {}
        }
        let resources: Vec<Any> = names
            .iter()
            .filter_map(|n| snapshot.get(type_url, n))
            .map(|r| Any { type_url: type_url.to_string(), value: r.body.clone() })
            .collect();
        self.nonce += 1;
        let nonce = self.nonce.to_string();
        st.open = false;
        st.awaiting_ack = true;
        st.last_nonce = Some(nonce.clone());
        st.sent = Some((version.clone(), names));
        Some(DiscoveryResponse {
            version_info: version,
            resources,
            type_url: type_url.to_string(),
            nonce,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xds::snapshot::tests::snap;
    use crate::xds::snapshot::{CLUSTER, LISTENER, ROUTE};
    use envoy_types::pb::envoy::config::core::v3::Node;
    use envoy_types::pb::google::rpc::Status;

    fn req(type_url: &str, version: &str, nonce: &str, names: &[&str]) -> DiscoveryRequest {
        DiscoveryRequest {
            type_url: type_url.into(),
            version_info: version.into(),
            response_nonce: nonce.into(),
            resource_names: names.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn nack(type_url: &str, version: &str, nonce: &str, names: &[&str]) -> DiscoveryRequest {
        let mut r = req(type_url, version, nonce, names);
        r.error_detail = Some(Status { code: 3, message: "bad cluster".into(), details: vec![] });
        r
    }

    fn v1() -> Arc<Snapshot> {
        Arc::new(snap(&[("a", "1"), ("b", "1")], &[("r", "1"), ("other", "1")]))
    }
    fn v2() -> Arc<Snapshot> {
        Arc::new(snap(&[("a", "2"), ("b", "1")], &[("r", "2"), ("other", "1")]))
    }

    fn one(out: Output) -> DiscoveryResponse {
        assert_eq!(out.responses.len(), 1, "{out:?}");
        out.responses.into_iter().next().expect("one response")
    }

    #[test]
    fn a_wildcard_cds_request_gets_every_cluster() {
        let mut c = SotwConnection::new(Some(v1()));
        let mut r = req(CLUSTER, "", "", &[]);
        r.node = Some(Node { id: "envoy-1".into(), ..Default::default() });
        let resp = one(c.on_request(r).unwrap());
        assert_eq!(resp.resources.len(), 2);
        assert_eq!(resp.version_info, v1().type_version(CLUSTER));
        assert_eq!(resp.type_url, CLUSTER);
        assert_eq!(c.node_id(), Some("envoy-1"));
        let star = one(SotwConnection::new(Some(v1())).on_request(req(CLUSTER, "", "", &["*"])).unwrap());
        assert_eq!(star.resources.len(), 2);
    }

    #[test]
    fn named_types_get_only_the_names_asked_for() {
        let mut c = SotwConnection::new(Some(v1()));
        let resp = one(c.on_request(req(ROUTE, "", "", &["r", "missing"])).unwrap());
        assert_eq!(resp.resources.len(), 1);
        assert_eq!(resp.resources[0].value, b"1");
    }

    #[test]
    fn an_ack_is_reported_and_nothing_is_resent() {
        let mut c = SotwConnection::new(Some(v1()));
        let resp = one(c.on_request(req(CLUSTER, "", "", &[])).unwrap());
        let out = c.on_request(req(CLUSTER, &resp.version_info, &resp.nonce, &[])).unwrap();
        assert!(out.responses.is_empty());
        assert_eq!(out.events, vec![Event::Ack { type_url: CLUSTER.into(), version: resp.version_info }]);
    }

    #[test]
    fn a_nack_is_reported_with_envoys_detail_and_the_version_is_not_resent() {
        let mut c = SotwConnection::new(Some(v1()));
        let resp = one(c.on_request(req(CLUSTER, "", "", &[])).unwrap());
        let out = c.on_request(nack(CLUSTER, "", &resp.nonce, &[])).unwrap();
        assert!(out.responses.is_empty(), "the rejected version is not sent again");
        assert_eq!(
            out.events,
            vec![Event::Nack { type_url: CLUSTER.into(), version: resp.version_info, detail: "bad cluster".into() }]
        );
        // The next snapshot goes out.
        let next = c.on_snapshot(v2());
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].version_info, v2().type_version(CLUSTER));
    }

    #[test]
    fn a_stale_nonce_is_ignored() {
        let mut c = SotwConnection::new(Some(v1()));
        let first = one(c.on_request(req(CLUSTER, "", "", &[])).unwrap());
        c.on_request(req(CLUSTER, &first.version_info, &first.nonce, &[])).unwrap();
        let second = c.on_snapshot(v2());
        assert_eq!(second.len(), 1);
        // A late request carrying the first nonce: neither an ACK of the second nor a trigger.
        let out = c.on_request(nack(CLUSTER, "", &first.nonce, &[])).unwrap();
        assert_eq!(out, Output::default());
        let ack = c.on_request(req(CLUSTER, &second[0].version_info, &second[0].nonce, &[])).unwrap();
        assert_eq!(ack.events.len(), 1);
    }

    #[test]
    fn a_snapshot_during_a_pending_ack_goes_out_when_the_ack_arrives() {
        let mut c = SotwConnection::new(Some(v1()));
        let first = one(c.on_request(req(CLUSTER, "", "", &[])).unwrap());
        assert!(c.on_snapshot(v2()).is_empty(), "no request open: wait for the ACK");
        let out = c.on_request(req(CLUSTER, &first.version_info, &first.nonce, &[])).unwrap();
        assert_eq!(out.events.len(), 1, "the ACK of the first version");
        let resp = one(out);
        assert_eq!(resp.version_info, v2().type_version(CLUSTER));
        assert_ne!(resp.nonce, first.nonce);
    }

    #[test]
    fn an_unchanged_type_is_not_pushed_again() {
        let mut c = SotwConnection::new(Some(v1()));
        let l = one(c.on_request(req(LISTENER, "", "", &[])).unwrap());
        c.on_request(req(LISTENER, &l.version_info, &l.nonce, &[])).unwrap();
        let cds = one(c.on_request(req(CLUSTER, "", "", &[])).unwrap());
        c.on_request(req(CLUSTER, &cds.version_info, &cds.nonce, &[])).unwrap();
        let pushed = c.on_snapshot(v2());
        assert_eq!(pushed.iter().map(|r| r.type_url.as_str()).collect::<Vec<_>>(), vec![CLUSTER]);
    }

    #[test]
    fn a_reconnecting_client_at_the_current_version_gets_nothing_until_a_change() {
        let version = v1().type_version(CLUSTER).to_string();
        let mut c = SotwConnection::new(Some(v1()));
        let out = c.on_request(req(CLUSTER, &version, "", &[])).unwrap();
        assert!(out.responses.is_empty());
        assert_eq!(
            out.events,
            vec![Event::Ack { type_url: CLUSTER.into(), version: version.clone() }],
            "it runs that version"
        );
        assert_eq!(c.on_snapshot(v2()).len(), 1);
        // A client at an older version gets the current one at once.
        let mut old = SotwConnection::new(Some(v2()));
        assert_eq!(one(old.on_request(req(CLUSTER, &version, "", &[])).unwrap()).resources.len(), 2);
    }

    #[test]
    fn changing_the_names_of_a_named_type_sends_the_new_set() {
        let mut c = SotwConnection::new(Some(v1()));
        let r = one(c.on_request(req(ROUTE, "", "", &["r"])).unwrap());
        let out = c.on_request(req(ROUTE, &r.version_info, &r.nonce, &["r", "other"])).unwrap();
        assert_eq!(one(out).resources.len(), 2);
    }

    #[test]
    fn nothing_is_sent_before_the_first_snapshot() {
        let mut c = SotwConnection::new(None);
        assert!(c.on_request(req(CLUSTER, "", "", &[])).unwrap().responses.is_empty());
        assert_eq!(c.on_snapshot(v1()).len(), 1);
    }

    #[test]
    fn a_request_without_type_url_is_a_protocol_error() {
        let mut c = SotwConnection::new(Some(v1()));
        assert_eq!(c.on_request(req("", "", "", &[])), Err(ProtocolError::MissingTypeUrl));
    }

    #[test]
    fn responses_follow_push_order_clusters_first() {
        let mut c = SotwConnection::new(None);
        c.on_request(req(ROUTE, "", "", &["r"])).unwrap();
        c.on_request(req(LISTENER, "", "", &[])).unwrap();
        c.on_request(req(CLUSTER, "", "", &[])).unwrap();
        let types: Vec<String> = c.on_snapshot(v1()).into_iter().map(|r| r.type_url).collect();
        assert_eq!(types, vec![CLUSTER.to_string(), LISTENER.to_string(), ROUTE.to_string()]);
    }
}
