//! Incremental (delta) ADS, one connection, sans-IO, like [`sotw`](super::sotw).
//!
//! Per type URL the connection tracks what the client is subscribed to (names, and for LDS
//! and CDS the wildcard) and which version of each resource the client has. Every request
//! and every snapshot yields at most one response per type carrying only what differs:
//! resources whose version the client does not have, and `removed_resources` for names it
//! has that are gone. Subscription changes are processed even on a stale nonce (they are
//! incremental); ACKs and NACKs are matched to the response by nonce. A NACKed resource is
//! not resent until its content changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DeltaDiscoveryResponse, Resource};
use envoy_types::pb::google::protobuf::Any;

use super::snapshot::{is_wildcard_type, Snapshot, PUSH_ORDER};
use super::sotw::ProtocolError;
use super::Event;

#[derive(Debug, Default)]
struct TypeState {
    wildcard: bool,
    subscribed: BTreeSet<String>,
    /// name -> version the client has (as far as we know: what we sent, or what it told us).
    client: BTreeMap<String, String>,
    /// nonce -> type version of responses not yet ACKed or NACKed.
    pending: BTreeMap<String, String>,
    /// A response of this type went out on this stream.
    answered: bool,
}

#[derive(Debug, Default)]
pub struct DeltaConnection {
    node_id: Option<String>,
    snapshot: Option<Arc<Snapshot>>,
    types: BTreeMap<String, TypeState>,
    nonce: u64,
}

#[derive(Debug, Default, PartialEq)]
pub struct Output {
    pub responses: Vec<DeltaDiscoveryResponse>,
    pub events: Vec<Event>,
}

impl DeltaConnection {
    pub fn new(snapshot: Option<Arc<Snapshot>>) -> DeltaConnection {
        DeltaConnection { snapshot, ..Default::default() }
    }

    pub fn node_id(&self) -> Option<&str> {
        self.node_id.as_deref()
    }

    pub fn on_request(&mut self, req: DeltaDiscoveryRequest) -> Result<Output, ProtocolError> {
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
        let first = !self.types.contains_key(&type_url);
        let st = self.types.entry(type_url.clone()).or_default();
        if first {
            st.wildcard = is_wildcard_type(&type_url) && req.resource_names_subscribe.is_empty();
            st.client = req.initial_resource_versions.clone().into_iter().collect();
        }
        for name in &req.resource_names_subscribe {
            if name == "*" {
                st.wildcard = true;
            } else {
                st.subscribed.insert(name.clone());
            }
        }
        for name in &req.resource_names_unsubscribe {
            if name == "*" {
                st.wildcard = false;
            } else {
                st.subscribed.remove(name);
                st.client.remove(name);
            }
        }
        if !req.response_nonce.is_empty() {
            if let Some(version) = st.pending.remove(&req.response_nonce) {
                out.events.push(match &req.error_detail {
                    Some(d) => Event::Nack { type_url: type_url.clone(), version, detail: d.message.clone() },
                    None => Event::Ack { type_url: type_url.clone(), version },
                });
            }
        }
        match self.respond(&type_url) {
            Some(r) => out.responses.push(r),
            None if first && !req.initial_resource_versions.is_empty() => {
                // A reconnecting client that already has everything: it runs this version.
                if let Some(s) = &self.snapshot {
                    out.events.push(Event::Ack {
                        type_url: type_url.clone(),
                        version: s.type_version(&type_url).to_string(),
                    });
                }
            }
            None => {}
        }
        Ok(out)
    }

    pub fn on_snapshot(&mut self, snapshot: Arc<Snapshot>) -> Vec<DeltaDiscoveryResponse> {
        self.snapshot = Some(snapshot);
        let mut order: Vec<String> = PUSH_ORDER.iter().map(|s| s.to_string()).collect();
        order.extend(self.types.keys().filter(|t| !PUSH_ORDER.contains(&t.as_str())).cloned());
        order.iter().filter_map(|t| self.respond(t)).collect()
    }

    fn respond(&mut self, type_url: &str) -> Option<DeltaDiscoveryResponse> {
        let snapshot = self.snapshot.clone()?;
        let st = self.types.get_mut(type_url)?;
        let mut wanted: BTreeSet<String> = st.subscribed.clone();
        if st.wildcard {
            wanted.extend(snapshot.names(type_url));
        }
        let mut resources = Vec::new();
        for name in &wanted {
            if let Some(r) = snapshot.get(type_url, name) {
                if st.client.get(name) != Some(&r.version) {
                    st.client.insert(name.clone(), r.version.clone());
                    resources.push(Resource {
                        name: name.clone(),
                        version: r.version.clone(),
                        resource: Some(Any { type_url: type_url.to_string(), value: r.body.clone() }),
                        ..Default::default()
                    });
                }
            }
        }
        let gone: Vec<String> = st
            .client
            .keys()
            .filter(|n| snapshot.get(type_url, n).is_none() && (st.wildcard || st.subscribed.contains(*n)))
            .cloned()
            .collect();
        for n in &gone {
            st.client.remove(n);
        }
        // A fresh wildcard subscriber waits for a first answer even when there is nothing.
        let must_answer = st.wildcard && !st.answered && st.client.is_empty();
        if resources.is_empty() && gone.is_empty() && !must_answer {
            return None;
        }
        self.nonce += 1;
        let nonce = self.nonce.to_string();
        st.pending.insert(nonce.clone(), snapshot.type_version(type_url).to_string());
        st.answered = true;
        Some(DeltaDiscoveryResponse {
            system_version_info: snapshot.type_version(type_url).to_string(),
            resources,
            type_url: type_url.to_string(),
            removed_resources: gone,
            nonce,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xds::snapshot::tests::snap;
    use crate::xds::snapshot::{CLUSTER, ROUTE};
    use envoy_types::pb::google::rpc::Status;

    fn req(type_url: &str, sub: &[&str], unsub: &[&str], nonce: &str) -> DeltaDiscoveryRequest {
        DeltaDiscoveryRequest {
            type_url: type_url.into(),
            resource_names_subscribe: sub.iter().map(|s| s.to_string()).collect(),
            resource_names_unsubscribe: unsub.iter().map(|s| s.to_string()).collect(),
            response_nonce: nonce.into(),
            ..Default::default()
        }
    }

    fn names(r: &DeltaDiscoveryResponse) -> Vec<&str> {
        r.resources.iter().map(|x| x.name.as_str()).collect()
    }

    fn one(out: Output) -> DeltaDiscoveryResponse {
        assert_eq!(out.responses.len(), 1, "{out:?}");
        out.responses.into_iter().next().expect("one")
    }

    fn v1() -> Arc<Snapshot> {
        Arc::new(snap(&[("a", "1"), ("b", "1")], &[("r", "1")]))
    }

    #[test]
    fn a_wildcard_subscription_gets_everything_then_only_changes() {
        let mut c = DeltaConnection::new(Some(v1()));
        let first = one(c.on_request(req(CLUSTER, &[], &[], "")).unwrap());
        assert_eq!(names(&first), vec!["a", "b"]);
        let out = c.on_request(req(CLUSTER, &[], &[], &first.nonce)).unwrap();
        assert_eq!(
            out.events,
            vec![Event::Ack { type_url: CLUSTER.into(), version: v1().type_version(CLUSTER).into() }]
        );
        assert!(out.responses.is_empty());
        let v2 = Arc::new(snap(&[("a", "2"), ("c", "1")], &[("r", "1")]));
        let pushed = c.on_snapshot(v2);
        assert_eq!(pushed.len(), 1, "routes unchanged: clusters only");
        assert_eq!(names(&pushed[0]), vec!["a", "c"]);
        assert_eq!(pushed[0].removed_resources, vec!["b".to_string()]);
    }

    #[test]
    fn explicit_subscribe_and_unsubscribe() {
        let mut c = DeltaConnection::new(Some(v1()));
        let r = one(c.on_request(req(ROUTE, &["r"], &[], "")).unwrap());
        assert_eq!(names(&r), vec!["r"]);
        // Unsubscribing: nothing to send, and later changes to it are not sent.
        assert!(c.on_request(req(ROUTE, &[], &["r"], &r.nonce)).unwrap().responses.is_empty());
        let v2 = Arc::new(snap(&[("a", "1"), ("b", "1")], &[("r", "2")]));
        assert!(c.on_snapshot(v2).is_empty());
        // Subscribing again sends it, even though the nonce is not a current one.
        let again = one(c.on_request(req(ROUTE, &["r"], &[], "999")).unwrap());
        assert_eq!(names(&again), vec!["r"]);
    }

    #[test]
    fn a_star_subscription_turns_wildcard_on_and_off() {
        let mut c = DeltaConnection::new(Some(v1()));
        let r = one(c.on_request(req(CLUSTER, &["a"], &[], "")).unwrap());
        assert_eq!(names(&r), vec!["a"], "explicit names only: no wildcard");
        let all = one(c.on_request(req(CLUSTER, &["*"], &[], &r.nonce)).unwrap());
        assert_eq!(names(&all), vec!["b"], "the wildcard adds what the client lacks");
        c.on_request(req(CLUSTER, &[], &["*"], &all.nonce)).unwrap();
        let v2 = Arc::new(snap(&[("a", "1"), ("b", "2")], &[("r", "1")]));
        assert!(c.on_snapshot(v2).is_empty(), "b is no longer subscribed");
    }

    #[test]
    fn a_nack_is_reported_and_the_rejected_resource_is_not_resent() {
        let mut c = DeltaConnection::new(Some(v1()));
        let r = one(c.on_request(req(CLUSTER, &[], &[], "")).unwrap());
        let mut n = req(CLUSTER, &[], &[], &r.nonce);
        n.error_detail = Some(Status { code: 3, message: "no".into(), details: vec![] });
        let out = c.on_request(n).unwrap();
        assert_eq!(
            out.events,
            vec![Event::Nack { type_url: CLUSTER.into(), version: r.system_version_info, detail: "no".into() }]
        );
        assert!(out.responses.is_empty());
        assert!(c.on_snapshot(v1()).is_empty());
    }

    #[test]
    fn initial_resource_versions_avoid_resending_what_a_reconnecting_client_has() {
        let mut c = DeltaConnection::new(Some(v1()));
        let mut r = req(CLUSTER, &[], &[], "");
        let a = v1().get(CLUSTER, "a").map(|r| r.version.clone()).unwrap_or_default();
        r.initial_resource_versions.insert("a".into(), a);
        r.initial_resource_versions.insert("gone".into(), "x".into());
        let resp = one(c.on_request(r).unwrap());
        assert_eq!(names(&resp), vec!["b"]);
        assert_eq!(resp.removed_resources, vec!["gone".to_string()]);
    }

    #[test]
    fn a_reconnecting_client_that_has_everything_gets_nothing_and_counts_as_current() {
        let mut c = DeltaConnection::new(Some(v1()));
        let mut r = req(CLUSTER, &[], &[], "");
        for name in ["a", "b"] {
            let v = v1().get(CLUSTER, name).map(|r| r.version.clone()).unwrap_or_default();
            r.initial_resource_versions.insert(name.into(), v);
        }
        let out = c.on_request(r).unwrap();
        assert!(out.responses.is_empty());
        assert_eq!(
            out.events,
            vec![Event::Ack { type_url: CLUSTER.into(), version: v1().type_version(CLUSTER).into() }]
        );
    }

    #[test]
    fn several_responses_may_wait_for_acks_at_once() {
        let mut c = DeltaConnection::new(Some(v1()));
        let first = one(c.on_request(req(CLUSTER, &[], &[], "")).unwrap());
        let v2 = Arc::new(snap(&[("a", "2"), ("b", "1")], &[("r", "1")]));
        let second = c.on_snapshot(v2.clone());
        assert_eq!(second.len(), 1);
        let ack2 = c.on_request(req(CLUSTER, &[], &[], &second[0].nonce)).unwrap();
        assert_eq!(
            ack2.events,
            vec![Event::Ack { type_url: CLUSTER.into(), version: v2.type_version(CLUSTER).into() }]
        );
        let ack1 = c.on_request(req(CLUSTER, &[], &[], &first.nonce)).unwrap();
        assert_eq!(ack1.events.len(), 1);
    }

    #[test]
    fn an_empty_wildcard_type_still_gets_a_first_answer() {
        let empty = Arc::new(Snapshot::default());
        let mut c = DeltaConnection::new(Some(empty));
        let r = one(c.on_request(req(CLUSTER, &[], &[], "")).unwrap());
        assert!(r.resources.is_empty());
    }
}
