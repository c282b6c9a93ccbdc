//! What the agent measures for the daemon's Prometheus endpoint: the round trip of each
//! heartbeat to each controller member, and how long each handler entry point takes, by type
//! and entry point. Every handler instance the agent opens is wrapped in [`Timed`], so every
//! call through the [`ResourceInstance`] plug-in point is counted, whatever the type.

use std::time::Instant;

use async_trait::async_trait;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use nonstop_contract::Properties;
use nonstop_resource_types::handler::{Reconfigured, Result};
use nonstop_resource_types::{Footprint, Health, ResourceInstance};

/// The agent's metrics. Clones share them.
#[derive(Clone, Debug)]
pub struct AgentMetrics {
    heartbeat_rtt: Family<MemberLabels, Histogram, fn() -> Histogram>,
    calls: Family<CallLabels, Histogram, fn() -> Histogram>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabels {
    member: String,
}

/// One handler call's labels: the resource type, the entry point, and `ok` or `error`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    r#type: String,
    action: &'static str,
    result: &'static str,
}

/// 0.5 ms to about 8 s: a heartbeat on loopback up to one past any lease.
fn rtt_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// 1 ms to about 65 s: a liveness check up to a slow start.
fn call_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Default for AgentMetrics {
    fn default() -> Self {
        AgentMetrics {
            heartbeat_rtt: Family::new_with_constructor(rtt_buckets),
            calls: Family::new_with_constructor(call_buckets),
        }
    }
}

impl AgentMetrics {
    /// Registers them (names without the registry's prefix: `agent_heartbeat_rtt_seconds`,
    /// `handler_call_duration_seconds`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "agent_heartbeat_rtt",
            "Round trip of the agent's heartbeats to each controller member",
            Unit::Seconds,
            self.heartbeat_rtt.clone(),
        );
        registry.register_with_unit(
            "handler_call_duration",
            "How long each resource-type handler entry point took, by type, entry point and result",
            Unit::Seconds,
            self.calls.clone(),
        );
    }

    /// A heartbeat's acknowledgement from `member`, `rtt_ms` after it was sent.
    pub(crate) fn heartbeat(&self, member: u64, rtt_ms: u64) {
        let labels = MemberLabels {
            member: member.to_string(),
        };
        (self.heartbeat_rtt.get_or_create(&labels)).observe(rtt_ms as f64 / 1000.0);
    }

    fn call(&self, type_name: &str, action: &'static str, ok: bool, started: Instant) {
        let labels = CallLabels {
            r#type: type_name.to_string(),
            action,
            result: if ok { "ok" } else { "error" },
        };
        (self.calls.get_or_create(&labels)).observe(started.elapsed().as_secs_f64());
    }

    /// Times an `open` call.
    pub(crate) fn opened<T, E>(
        &self,
        type_name: &str,
        started: Instant,
        r: &std::result::Result<T, E>,
    ) {
        self.call(type_name, "open", r.is_ok(), started);
    }

    /// Wraps an opened instance so that each of its calls is timed.
    pub(crate) fn timed(
        &self,
        type_name: &str,
        inner: Box<dyn ResourceInstance>,
    ) -> Box<dyn ResourceInstance> {
        Box::new(Timed {
            inner,
            type_name: type_name.to_string(),
            metrics: self.clone(),
        })
    }
}

/// A handler instance whose every entry point is timed; it changes nothing else.
#[derive(Debug)]
pub struct Timed {
    inner: Box<dyn ResourceInstance>,
    type_name: String,
    metrics: AgentMetrics,
}

impl Timed {
    fn done(&self, action: &'static str, ok: bool, started: Instant) {
        self.metrics.call(&self.type_name, action, ok, started);
    }
}

#[async_trait]
impl ResourceInstance for Timed {
    async fn online(&mut self) -> Result<()> {
        let t = Instant::now();
        let r = self.inner.online().await;
        self.done("online", r.is_ok(), t);
        r
    }

    async fn offline(&mut self) -> Result<()> {
        let t = Instant::now();
        let r = self.inner.offline().await;
        self.done("offline", r.is_ok(), t);
        r
    }

    async fn terminate(&mut self) {
        let t = Instant::now();
        self.inner.terminate().await;
        self.done("terminate", true, t);
    }

    async fn looks_alive(&mut self) -> Health {
        let t = Instant::now();
        let h = self.inner.looks_alive().await;
        self.done("looks_alive", h.is_alive(), t);
        h
    }

    async fn is_alive(&mut self) -> Health {
        let t = Instant::now();
        let h = self.inner.is_alive().await;
        self.done("is_alive", h.is_alive(), t);
        h
    }

    fn footprint(&self) -> Footprint {
        self.inner.footprint()
    }

    fn intent(&self) -> Footprint {
        self.inner.intent()
    }

    async fn reconfigure(&mut self, properties: &Properties) -> Result<Reconfigured> {
        let t = Instant::now();
        let r = self.inner.reconfigure(properties).await;
        self.done("reconfigure", r.is_ok(), t);
        r
    }

    async fn close(&mut self) {
        let t = Instant::now();
        self.inner.close().await;
        self.done("close", true, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::prometheus_text::encode;

    #[derive(Debug)]
    struct Failing;

    #[async_trait]
    impl ResourceInstance for Failing {
        async fn online(&mut self) -> Result<()> {
            Err(nonstop_resource_types::HandlerError::Failed {
                entry: "online",
                reason: "no".into(),
            })
        }
        async fn offline(&mut self) -> Result<()> {
            Ok(())
        }
        async fn terminate(&mut self) {}
        async fn looks_alive(&mut self) -> Health {
            Health::Alive
        }
        async fn is_alive(&mut self) -> Health {
            Health::Alive
        }
        fn footprint(&self) -> Footprint {
            Footprint::default()
        }
    }

    #[tokio::test]
    async fn every_call_through_a_timed_instance_is_counted_by_type_action_and_result() {
        let m = AgentMetrics::default();
        let mut registry = Registry::with_prefix("nonstop");
        m.register(&mut registry);
        let mut i = m.timed("process", Box::new(Failing));
        assert!(i.online().await.is_err(), "the result passes through");
        i.offline().await.unwrap();
        i.offline().await.unwrap();
        assert!(i.looks_alive().await.is_alive());
        m.heartbeat(2, 3);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        let count = |labels: &str| {
            let line = format!("nonstop_handler_call_duration_seconds_count{{{labels}}} ");
            let found = text.lines().find(|l| l.starts_with(&line));
            found.map(|l| l[line.len()..].to_string())
        };
        assert_eq!(
            count("type=\"process\",action=\"online\",result=\"error\"").as_deref(),
            Some("1")
        );
        assert_eq!(
            count("type=\"process\",action=\"offline\",result=\"ok\"").as_deref(),
            Some("2")
        );
        assert!(
            text.contains(
                "nonstop_agent_heartbeat_rtt_seconds_bucket{member=\"2\",le=\"0.004\"} 1"
            ),
            "{text}"
        );
    }
}
