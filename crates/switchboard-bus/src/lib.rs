//! The bus: a NATS connection with JetStream, and the streams the platform uses, named from a
//! configurable prefix so tests and tenants don't collide.
//!
//! - `<prefix>_JOBS`: work-queue retention, file storage, subjects `<subject prefix>.jobs.>`.
//! - `<prefix>_EVENTS`: limits retention, subjects `<subject prefix>.events.>`.
//!
//! Every stream and subject name is built by a [`Names`] method. The payloads on both streams
//! are the protobuf messages of `proto/switchboard/bus/v1/bus.proto`, encoded and decoded here
//! only ([`wire`]): publishing takes a [`Job`] or an [`events::Envelope`], and a [`Delivery`]
//! decodes them back ([`Delivery::job`], [`Delivery::event`]).

mod consume;
pub mod events;
mod signal;
pub mod wire;

pub use consume::{ConsumeError, Consumer, Deliveries, Delivery};
pub use signal::{CatalogChanges, Replies, Reply, Signals};
pub use wire::{DecodeError, Job};

use std::time::Duration;

use async_nats::jetstream::{self, stream};

/// Why the bus is unusable.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("failed to connect to NATS at {url}: {message}")]
    Connect { url: String, message: String },
    #[error(transparent)]
    Config(#[from] switchboard_config::ConfigError),
    /// A publish or subscription failed on an established connection.
    #[error("nats: {0}")]
    Nats(String),
    #[error("failed to set up stream {stream}: {message}")]
    Stream { stream: String, message: String },
}

/// Names of streams and subjects.
#[derive(Debug, Clone)]
pub struct Names {
    pub stream_prefix: String,
    pub subject_prefix: String,
}

impl Names {
    /// The names `config` sets.
    pub fn from_config(config: &switchboard_config::NatsConfig) -> Names {
        Names {
            stream_prefix: config.stream_prefix.clone(),
            subject_prefix: config.subject_prefix.clone(),
        }
    }

    pub fn jobs_stream(&self) -> String {
        format!("{}_JOBS", self.stream_prefix)
    }
    pub fn events_stream(&self) -> String {
        format!("{}_EVENTS", self.stream_prefix)
    }
    /// Subject of a job for `toolkit`.
    pub fn job_subject(&self, toolkit: &str) -> String {
        format!("{}.jobs.{toolkit}", self.subject_prefix)
    }
    pub fn jobs_wildcard(&self) -> String {
        format!("{}.jobs.>", self.subject_prefix)
    }
    pub fn events_wildcard(&self) -> String {
        format!("{}.events.>", self.subject_prefix)
    }
    /// Every event of `project`.
    pub fn project_events(&self, project: &str) -> String {
        format!("{}.events.{project}.>", self.subject_prefix)
    }
    /// Every event of one user of `project` (see [`Names::event_subject`]).
    pub fn user_events(&self, project: &str, user_id: &str) -> String {
        format!(
            "{}.events.{project}.{}.>",
            self.subject_prefix,
            user_key(user_id)
        )
    }
    /// Where a worker replies to the gateway `gateway_id` about one execution.
    pub fn result_subject(&self, gateway_id: &str, execution_id: &str) -> String {
        format!(
            "{}.results.{gateway_id}.{execution_id}",
            self.subject_prefix
        )
    }
    /// Subject of an event for one connected account: `<p>.events.<project>.<user key>.
    /// <account>.<source>`, where the user key is the user id in base64url (subject-safe) and
    /// `source` is a trigger instance id, or `account` for the account's own events.
    pub fn event_subject(
        &self,
        project: &str,
        user_id: &str,
        account_id: &str,
        source: &str,
    ) -> String {
        // No user (a project's own events): `_`, which no base64url user key can be.
        let user = if user_id.is_empty() {
            "_".to_owned()
        } else {
            user_key(user_id)
        };
        format!(
            "{}.events.{project}.{user}.{account_id}.{source}",
            self.subject_prefix
        )
    }
    /// Where a connection request's end is announced (core NATS, not stored): WaitForConnection
    /// listens here.
    pub fn connection_subject(&self, project: &str, request_id: &str) -> String {
        format!("{}.conn.{project}.{request_id}", self.subject_prefix)
    }
    /// Where a change of `project`'s custom toolkits is announced (core NATS, not stored):
    /// every gateway and worker listens to all of them.
    pub fn catalog_subject(&self, project: &str) -> String {
        format!("{}.catalog.{project}", self.subject_prefix)
    }
    /// Every reply for the gateway `gateway_id`.
    pub fn results_wildcard(&self, gateway_id: &str) -> String {
        format!("{}.results.{gateway_id}.*", self.subject_prefix)
    }
}

/// A user id as a subject token: base64url without padding (never `.`, `*`, `>` or spaces).
pub fn user_key(user_id: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(user_id)
}

/// Headers of a job message.
pub mod headers {
    /// W3C trace context of the call that made the job.
    pub const TRACEPARENT: &str = "traceparent";
    /// JetStream de-duplication: the execution id.
    pub const MSG_ID: &str = "Nats-Msg-Id";
    /// The event's type, e.g. `connected_account.expired`.
    pub const EVENT_TYPE: &str = "Sb-Event-Type";
    /// On a worker's reply: the execution was too large for the message; read the store.
    pub const RESULT_IN_STORE: &str = "Sb-Result-In-Store";
}

/// Why a job was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The job stream is at its limit.
    #[error("the job stream is full")]
    Full,
    #[error("failed to publish the job: {0}")]
    Failed(String),
}

/// The durable consumer all workers share.
pub const WORKERS_CONSUMER: &str = "workers";

/// A connected bus.
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    pub names: Names,
}

impl Bus {
    /// Sends everything still buffered (acknowledgements, replies, publishes) to the server
    /// and waits until it has it: a stopping service calls this last, so an acknowledgement
    /// made just before the process exits is not lost with the process.
    pub async fn flush(&self) -> Result<(), BusError> {
        self.client
            .flush()
            .await
            .map_err(|e| BusError::Nats(e.to_string()))
    }
    /// Connects to NATS as `config` says, with its TLS settings (`nats.tls`) and stream
    /// names: every service connects through here. See [`Bus::connect`] for the retries.
    pub async fn from_config(
        config: &switchboard_config::NatsConfig,
        connect_timeout: Duration,
    ) -> Result<Bus, BusError> {
        Bus::connect_with(
            &config.url,
            &config.tls,
            Names::from_config(config),
            connect_timeout,
        )
        .await
    }

    /// Connects to NATS at `url` (one server, or a cluster's seeds separated by commas) without
    /// TLS files (`tls://` URLs trust the system's roots). A server that does not answer is
    /// tried again until `connect_timeout`; one that refuses the connection for good (a
    /// certificate the client does not trust, no client certificate where one is needed,
    /// wrong credentials) fails at once.
    pub async fn connect(
        url: &str,
        names: Names,
        connect_timeout: Duration,
    ) -> Result<Bus, BusError> {
        Bus::connect_with(
            url,
            &switchboard_config::ClientTlsConfig::default(),
            names,
            connect_timeout,
        )
        .await
    }

    async fn connect_with(
        url: &str,
        tls: &switchboard_config::ClientTlsConfig,
        names: Names,
        connect_timeout: Duration,
    ) -> Result<Bus, BusError> {
        let connect_error = |message: String| BusError::Connect {
            url: url.to_owned(),
            message,
        };
        // A comma-separated list names a cluster's seed servers; the client learns the rest.
        let servers: Vec<async_nats::ServerAddr> = url
            .split(',')
            .map(|u| u.trim().parse())
            .collect::<Result<_, _>>()
            .map_err(|e: std::io::Error| connect_error(e.to_string()))?;
        // Read (and check) the files now, so a missing one is an error naming its setting
        // rather than a failed handshake.
        if tls.is_set() {
            tls.load("nats.tls")?;
        }
        let options = || {
            let mut options = async_nats::ConnectOptions::new()
                .name("switchboard")
                .connection_timeout(connect_timeout);
            if tls.is_set() {
                options = options.require_tls(true);
            }
            if let Some(ca) = &tls.ca_file {
                options = options.add_root_certificates(ca.clone());
            }
            if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
                options = options.add_client_certificate(cert.clone(), key.clone());
            }
            options
        };
        let give_up = tokio::time::Instant::now() + connect_timeout;
        let client = loop {
            let attempt =
                tokio::time::timeout_at(give_up, options().connect(servers.clone())).await;
            match attempt {
                Ok(Ok(client)) => break client,
                Ok(Err(e)) if is_permanent(&e) => return Err(connect_error(e.to_string())),
                Ok(Err(e)) if tokio::time::Instant::now() + CONNECT_RETRY < give_up => {
                    tracing::debug!(error = %e, "nats connection failed; retrying");
                    tokio::time::sleep(CONNECT_RETRY).await;
                }
                Ok(Err(e)) => return Err(connect_error(e.to_string())),
                Err(_) => return Err(connect_error("timed out".into())),
            }
        };
        let jetstream = jetstream::new(client.clone());
        Ok(Bus {
            client,
            jetstream,
            names,
        })
    }

    /// Creates the job and event streams when missing (idempotent; any replica may call it).
    /// The job stream holds at most `max_jobs` messages and refuses new ones past that, so a
    /// full queue is an error at publish time, not a hang.
    /// `replicas`: copies of each stream (3 on a 3-node JetStream cluster).
    pub async fn ensure_streams(&self, max_jobs: i64, replicas: usize) -> Result<(), BusError> {
        let jobs = stream::Config {
            name: self.names.jobs_stream(),
            subjects: vec![self.names.jobs_wildcard()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            max_messages: max_jobs,
            discard: stream::DiscardPolicy::New,
            duplicate_window: Duration::from_secs(120),
            num_replicas: replicas.max(1),
            ..Default::default()
        };
        let events = stream::Config {
            name: self.names.events_stream(),
            subjects: vec![self.names.events_wildcard()],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            max_age: Duration::from_secs(7 * 24 * 3600),
            duplicate_window: Duration::from_secs(120),
            num_replicas: replicas.max(1),
            ..Default::default()
        };
        for config in [jobs, events] {
            let name = config.name.clone();
            self.jetstream
                .get_or_create_stream(config)
                .await
                .map_err(|e| BusError::Stream {
                    stream: name,
                    message: e.to_string(),
                })?;
        }
        Ok(())
    }

    /// Publishes a job for `toolkit` and waits for the stream's acknowledgement. The execution
    /// id is the message id, so a repeated publish within the duplicate window is dropped.
    pub async fn publish_job(
        &self,
        toolkit: &str,
        job: &Job,
        traceparent: &str,
    ) -> Result<(), PublishError> {
        let payload = wire::encode_job(job);
        let mut hdrs = async_nats::HeaderMap::new();
        hdrs.insert(headers::MSG_ID, job.execution_id.as_str());
        if !traceparent.is_empty() {
            hdrs.insert(headers::TRACEPARENT, traceparent);
        }
        let ack = self
            .jetstream
            .publish_with_headers(self.names.job_subject(toolkit), hdrs, payload.into())
            .await
            .map_err(|e| PublishError::Failed(e.to_string()))?;
        ack.await.map_err(|e| {
            if is_store_full(&e) {
                PublishError::Full
            } else {
                PublishError::Failed(e.to_string())
            }
        })?;
        Ok(())
    }

    /// The workers' shared durable pull consumer on the job stream (created when missing).
    pub async fn jobs_consumer(
        &self,
        ack_wait: Duration,
        max_deliver: i64,
        max_ack_pending: i64,
    ) -> Result<Consumer, BusError> {
        let stream_name = self.names.jobs_stream();
        let err = |e: String| stream_error(&stream_name, e);
        let stream = self.stream(&stream_name).await?;
        stream
            .get_or_create_consumer(
                WORKERS_CONSUMER,
                jetstream::consumer::pull::Config {
                    durable_name: Some(WORKERS_CONSUMER.to_owned()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait,
                    max_deliver,
                    max_ack_pending,
                    ..Default::default()
                },
            )
            .await
            .map(|inner| Consumer { inner })
            .map_err(|e| err(e.to_string()))
    }

    /// Publishes an event envelope on its subject (see [`events::Envelope::subject`]) and waits
    /// for the stream's acknowledgement.
    pub async fn publish_envelope(&self, event: &events::Envelope) -> Result<u64, PublishError> {
        let payload = wire::encode_event(event).map_err(|e| PublishError::Failed(e.to_string()))?;
        let mut hdrs = async_nats::HeaderMap::new();
        hdrs.insert(headers::MSG_ID, event.id.as_str());
        hdrs.insert(headers::EVENT_TYPE, event.kind.as_str());
        let ack = self
            .jetstream
            .publish_with_headers(event.subject(&self.names), hdrs, payload.into())
            .await
            .map_err(|e| PublishError::Failed(e.to_string()))?;
        let ack = ack.await.map_err(|e| PublishError::Failed(e.to_string()))?;
        Ok(ack.sequence)
    }

    /// Announces stopped triggers, each with `trigger.disabled` saying why. The triggers are
    /// already stopped in the store: a failed publish is logged, not returned.
    pub async fn announce_triggers_stopped(
        &self,
        project: &str,
        triggers: &[switchboard_proto::v1::Trigger],
        auth_config_id: &str,
        reason: &str,
    ) {
        for trigger in triggers {
            let event = events::trigger_disabled(project, trigger, auth_config_id, reason);
            if let Err(e) = self.publish_envelope(&event).await {
                tracing::warn!(trigger_id = %trigger.id, error = %e, "could not publish trigger.disabled");
            }
        }
    }

    /// A pull consumer on the event stream for `filter` (one subject filter: NATS 2.9 has no
    /// multi-filter consumers). `durable`: kept while nobody pulls and resumed by name;
    /// otherwise an ephemeral one that the server drops a minute after its last pull. Both
    /// start with the events published from now on. A durable consumer that exists with
    /// another filter is an error (`Ok(None)`).
    pub async fn events_consumer(
        &self,
        durable: Option<&str>,
        filter: String,
        ack_wait: Duration,
    ) -> Result<Option<Consumer>, BusError> {
        let stream_name = self.names.events_stream();
        let err = |e: String| stream_error(&stream_name, e);
        let stream = self.stream(&stream_name).await?;
        let config = jetstream::consumer::pull::Config {
            durable_name: durable.map(str::to_owned),
            filter_subject: filter.clone(),
            deliver_policy: jetstream::consumer::DeliverPolicy::New,
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait,
            max_ack_pending: 10_000,
            inactive_threshold: if durable.is_some() {
                Duration::ZERO
            } else {
                Duration::from_secs(60)
            },
            ..Default::default()
        };
        match durable {
            Some(name) => {
                let mut consumer: jetstream::consumer::PullConsumer = stream
                    .get_or_create_consumer(name, config)
                    .await
                    .map_err(|e| err(e.to_string()))?;
                let info = consumer.info().await.map_err(|e| err(e.to_string()))?;
                if info.config.filter_subject != filter {
                    return Ok(None);
                }
                Ok(Some(Consumer { inner: consumer }))
            }
            None => stream
                .create_consumer(config)
                .await
                .map(|inner| Some(Consumer { inner }))
                .map_err(|e| err(e.to_string())),
        }
    }

    /// A durable consumer on the event stream over every project (the outgoing webhook
    /// dispatcher's, shared by all triggers replicas).
    pub async fn dispatch_consumer(
        &self,
        name: &str,
        ack_wait: Duration,
        max_deliver: i64,
    ) -> Result<Consumer, BusError> {
        let stream_name = self.names.events_stream();
        let err = |e: String| stream_error(&stream_name, e);
        let stream = self.stream(&stream_name).await?;
        stream
            .get_or_create_consumer(
                name,
                jetstream::consumer::pull::Config {
                    durable_name: Some(name.to_owned()),
                    deliver_policy: jetstream::consumer::DeliverPolicy::New,
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait,
                    max_deliver,
                    ..Default::default()
                },
            )
            .await
            .map(|inner| Consumer { inner })
            .map_err(|e| err(e.to_string()))
    }

    /// A stream by name.
    async fn stream(&self, name: &str) -> Result<jetstream::stream::Stream, BusError> {
        self.jetstream
            .get_stream(name)
            .await
            .map_err(|e| stream_error(name, e.to_string()))
    }

    /// Whether the server answers now (a round trip, bounded by `timeout`).
    pub async fn ping(&self, timeout: Duration) -> bool {
        matches!(
            tokio::time::timeout(timeout, self.client.flush()).await,
            Ok(Ok(()))
        ) && self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Whether this prefix's streams exist (set up by [`Bus::ensure_streams`]).
    pub async fn has_streams(&self) -> bool {
        for name in [self.names.jobs_stream(), self.names.events_stream()] {
            if self.jetstream.get_stream(&name).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Deletes this prefix's streams (tests only).
    pub async fn delete_streams(&self) {
        for name in [self.names.jobs_stream(), self.names.events_stream()] {
            let _ = self.jetstream.delete_stream(&name).await;
        }
    }
}

/// Whether JetStream refused a message because the stream is at its limits (its error code,
/// 10077: the job stream keeps at most `executions.max_queued_jobs` and discards new ones).
fn is_store_full(err: &jetstream::context::PublishError) -> bool {
    err.kind() == jetstream::context::PublishErrorKind::Other
        && std::error::Error::source(err)
            .and_then(|source| source.downcast_ref::<jetstream::Error>())
            .is_some_and(|e| e.error_code() == jetstream::ErrorCode::STREAM_STORE_FAILED)
}

/// Pause between attempts to reach a server that did not answer.
const CONNECT_RETRY: Duration = Duration::from_millis(250);

/// Whether trying again cannot help: TLS set-up or handshake failures (rustls reports them as
/// invalid data) and refused credentials, as opposed to a server that is not up yet.
fn is_permanent(err: &async_nats::ConnectError) -> bool {
    use async_nats::ConnectErrorKind as Kind;
    if matches!(
        err.kind(),
        Kind::Tls | Kind::Authentication | Kind::AuthorizationViolation | Kind::ServerParse
    ) {
        return true;
    }
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::InvalidData
                || io
                    .get_ref()
                    .is_some_and(|inner| inner.is::<async_nats::rustls::Error>())
            {
                return true;
            }
        }
        if e.is::<async_nats::rustls::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}

fn stream_error(stream: &str, message: String) -> BusError {
    BusError::Stream {
        stream: stream.to_owned(),
        message,
    }
}

/// Runs a stream or consumer set-up step until it succeeds, for about a minute: right after a
/// start, or while a JetStream cluster elects a leader or moves a stream, its API answers late
/// or not at all, and a service should wait for it rather than exit.
pub async fn with_retries<T, F, Fut>(what: &str, mut step: F) -> Result<T, BusError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BusError>>,
{
    let mut delay = Duration::from_millis(200);
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match step().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() + delay < give_up => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "{what} failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}
