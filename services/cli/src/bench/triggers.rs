//! Webhook intake → gRPC subscriber through one triggers process: signed GitHub-style
//! deliveries POSTed to the hook the gateway registered, each routed to the bench user's
//! trigger, published on the event stream and streamed to one SubscribeEvents subscriber.
//! Throughput: concurrent senders for a while, events received per second. Latency: deliveries
//! paced at half that rate, from the start of the POST to the event's arrival.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use switchboard_proto::v1::trigger_service_client::TriggerServiceClient;
use switchboard_proto::v1::{CreateTriggerRequest, SubscribeEventsRequest};
use tonic::transport::Channel;

use super::standin::StandIn;
use super::{ApiKey, BenchArgs};

pub struct Figures {
    pub per_sec: f64,
    pub sent: u64,
    pub received: u64,
    pub refused: u64,
    pub paced_rate: f64,
    pub latency: Histogram<u64>,
}

impl Figures {
    pub fn print(&self) {
        let ms = |us: u64| us as f64 / 1000.0;
        println!();
        println!(
            "webhook intake → gRPC subscriber (one triggers process): {:.0} events/s ({} sent, {} received, {} refused) — goal ≥ 5000/s: {}",
            self.per_sec,
            self.sent,
            self.received,
            self.refused,
            if self.per_sec >= 5000.0 { "met" } else { "NOT met" }
        );
        println!(
            "  delivery latency at {:.0}/s (half that rate), POST → event: p50 {:.2} ms, p99 {:.2} ms — goal p99 < 5 ms: {}",
            self.paced_rate,
            ms(self.latency.value_at_quantile(0.5)),
            ms(self.latency.value_at_quantile(0.99)),
            if self.latency.value_at_quantile(0.99) < 5000 { "met" } else { "NOT met" }
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn payload(number: u64) -> Vec<u8> {
    serde_json::json!({
        "action": "opened",
        "issue": {"number": number, "title": "Bench", "state": "open", "user": {"login": "bench"}},
        "repository": {"full_name": "bench/api", "name": "api"},
        "sender": {"login": "bench"}
    })
    .to_string()
    .into_bytes()
}

async fn send(http: &reqwest::Client, url: &str, secret: &str, number: u64) -> bool {
    let body = payload(number);
    let signature = format!(
        "sha256={}",
        hex(&switchboard_crypto::hmac_sha256(secret.as_bytes(), &body))
    );
    http.post(url)
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", format!("bench-{number}"))
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

pub async fn measure(
    channel: Channel,
    key: ApiKey,
    standin: &StandIn,
    args: &BenchArgs,
) -> anyhow::Result<Figures> {
    let mut triggers = TriggerServiceClient::with_interceptor(channel, key);
    triggers
        .create_trigger(CreateTriggerRequest {
            r#type: "GITHUB_ISSUE_OPENED".into(),
            user_id: super::execute::USER.into(),
            connected_account_id: String::new(),
            config: Some(switchboard_proto::json_to_struct(
                &serde_json::json!({"owner": "bench", "repo": "api"}),
            )),
        })
        .await
        .context("CreateTrigger failed")?;
    let (url, secret) = standin.hook().context("no hook was registered")?;
    let mut stream = triggers
        .subscribe_events(SubscribeEventsRequest {
            user_id: super::execute::USER.into(),
            ..Default::default()
        })
        .await
        .context("SubscribeEvents failed")?
        .into_inner();
    // Arrival times by issue number.
    let arrivals: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let received = Arc::new(AtomicU64::new(0));
    let reader = {
        let (arrivals, received) = (Arc::clone(&arrivals), Arc::clone(&received));
        tokio::spawn(async move {
            while let Ok(Some(event)) = stream.message().await {
                let now = Instant::now();
                received.fetch_add(1, Ordering::Relaxed);
                let number = event
                    .data
                    .as_ref()
                    .map(switchboard_proto::struct_to_json)
                    .and_then(|d| d["issue"]["number"].as_u64());
                if let (Some(n), Ok(mut a)) = (number, arrivals.lock()) {
                    a.insert(n, now);
                }
            }
        })
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .tcp_nodelay(true)
        .build()?;
    // Throughput.
    let sent = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(1));
    let start = Instant::now();
    let deadline = start + args.duration();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (http, url, secret, sent, refused, next) = (
            http.clone(),
            url.clone(),
            secret.clone(),
            Arc::clone(&sent),
            Arc::clone(&refused),
            Arc::clone(&next),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if send(&http, &url, &secret, n).await {
                    sent.fetch_add(1, Ordering::Relaxed);
                } else {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let target = sent.load(Ordering::Relaxed);
    let wait_until = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < target && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let got = received.load(Ordering::Relaxed);
    let per_sec = got as f64 / elapsed;

    // Latency at half the rate.
    let paced_rate = (per_sec / 2.0).max(1.0);
    let gap = Duration::from_secs_f64(1.0 / paced_rate);
    let samples = (paced_rate as u64 * 3).clamp(100, 10_000);
    let first = next.fetch_add(samples, Ordering::Relaxed) + 1_000_000;
    let sent_at: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let mut pending = Vec::new();
    let mut tick = tokio::time::interval(gap);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..samples {
        tick.tick().await;
        let n = first + i;
        if let Ok(mut s) = sent_at.lock() {
            s.insert(n, Instant::now());
        }
        let (http, url, secret) = (http.clone(), url.clone(), secret.clone());
        pending.push(tokio::spawn(
            async move { send(&http, &url, &secret, n).await },
        ));
    }
    for p in pending {
        let _ = p.await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut latency = Histogram::<u64>::new(3)?;
    if let (Ok(sent_at), Ok(arrivals)) = (sent_at.lock(), arrivals.lock()) {
        for (n, at) in sent_at.iter() {
            if let Some(arrived) = arrivals.get(n) {
                latency.record(
                    u64::try_from(arrived.duration_since(*at).as_micros())
                        .unwrap_or(u64::MAX)
                        .max(1),
                )?;
            }
        }
    }
    reader.abort();
    Ok(Figures {
        per_sec,
        sent: target,
        received: got,
        refused: refused.load(Ordering::Relaxed),
        paced_rate,
        latency,
    })
}
