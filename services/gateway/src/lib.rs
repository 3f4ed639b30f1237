//! The gateway: the tonic gRPC API (sessions, connections, catalog, admin; reflection and grpc.health.v1)
//! and the HTTP side (health and readiness now; MCP, Connect Links and the OAuth callback
//! later). It keeps no state of its own: any replica serves any session.

mod app;
mod error;
mod grpc;
mod http;
mod mcp;
mod state;
mod tls;

use std::net::SocketAddr;

use switchboard_config::Config;
use switchboard_platform::Platform;
use switchboard_proto::v1::{
    admin_service_server::AdminServiceServer, catalog_service_server::CatalogServiceServer,
    connection_service_server::ConnectionServiceServer,
    session_service_server::SessionServiceServer, trigger_service_server::TriggerServiceServer,
};
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

pub use error::GatewayError;
pub use state::AppState;

/// The gateway's bound listeners.
pub struct Listeners {
    pub grpc: TcpListener,
    pub http: TcpListener,
}

impl Listeners {
    /// Binds the configured addresses (port 0 picks free ports).
    pub async fn bind(config: &Config) -> Result<Listeners, GatewayError> {
        let bind = |addr: String| async move {
            TcpListener::bind(&addr)
                .await
                .map_err(|source| GatewayError::Bind { addr, source })
        };
        Ok(Listeners {
            grpc: bind(config.gateway.grpc_addr.clone()).await?,
            http: bind(config.gateway.http_addr.clone()).await?,
        })
    }

    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.local_addr().ok()
    }

    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.local_addr().ok()
    }
}

/// Runs the gateway on `platform` until `shutdown` is cancelled, then drains: health turns
/// NOT_SERVING, the listeners stop accepting and in-flight calls finish (within the grace
/// period).
pub async fn run(
    platform: Platform,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    // Before serving anything: a bad certificate or key fails the start at once.
    let grpc_tls = tls::grpc_tls(&platform.config.gateway.tls)?;
    let http_addr = listeners
        .http
        .local_addr()
        .map_err(|source| GatewayError::Bind {
            addr: platform.config.gateway.http_addr.clone(),
            source,
        })?;
    let public_url = platform
        .config
        .gateway
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{http_addr}"))
        .trim_end_matches('/')
        .to_owned();
    let results = app::results::Results::start(&platform.bus, shutdown.clone())
        .await
        .map_err(|e| GatewayError::Serve(format!("failed to subscribe to worker replies: {e}")))?;
    let oauth = platform.oauth(format!("{public_url}/oauth/callback"))?;
    tokio::spawn(
        std::sync::Arc::clone(&platform.catalogs).listen(platform.bus.clone(), shutdown.clone()),
    );
    let state = AppState::new(&platform, results, public_url, oauth, shutdown.clone());
    serve(state, listeners, grpc_tls, shutdown).await
}

async fn serve(
    state: AppState,
    listeners: Listeners,
    grpc_tls: Option<tonic::transport::ServerTlsConfig>,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<SessionServiceServer<grpc::session::SessionApi>>()
        .await;
    health_reporter
        .set_serving::<CatalogServiceServer<grpc::catalog::CatalogApi>>()
        .await;
    health_reporter
        .set_serving::<ConnectionServiceServer<grpc::connection::ConnectionApi>>()
        .await;
    health_reporter
        .set_serving::<AdminServiceServer<grpc::admin::AdminApi>>()
        .await;
    health_reporter
        .set_serving::<TriggerServiceServer<grpc::triggers::TriggerApi>>()
        .await;
    // Both reflection versions: v1, and v1alpha for clients that only speak the older one.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(switchboard_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .map_err(|e| GatewayError::Reflection(e.to_string()))?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| GatewayError::Reflection(e.to_string()))?;

    let grpc_addr = listeners.grpc.local_addr().ok();
    let http_addr = listeners.http.local_addr().ok();
    tracing::info!(
        grpc = ?grpc_addr,
        http = ?http_addr,
        grpc_tls = tls::describe(&state.config.gateway.tls),
        "gateway listening"
    );

    let grpc_shutdown = shutdown.clone();
    let reporter = health_reporter.clone();
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = grpc_tls {
        builder = builder
            .tls_config(tls)
            .map_err(|e| GatewayError::Serve(format!("gateway.tls: {e}")))?;
    }
    let grpc = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(SessionServiceServer::new(grpc::session::SessionApi::new(
            state.clone(),
        )))
        // CreateToolkit carries an API description of up to 10 MiB.
        .add_service(
            CatalogServiceServer::new(grpc::catalog::CatalogApi::new(state.clone()))
                .max_decoding_message_size(app::custom_toolkits::MAX_DESCRIPTION_BYTES + 64 * 1024),
        )
        .add_service(ConnectionServiceServer::new(
            grpc::connection::ConnectionApi::new(state.clone()),
        ))
        .add_service(AdminServiceServer::new(grpc::admin::AdminApi::new(
            state.clone(),
        )))
        .add_service(TriggerServiceServer::new(grpc::triggers::TriggerApi::new(
            state.clone(),
        )))
        .serve_with_incoming_shutdown(
            // Small request/response pairs must not wait for Nagle's algorithm.
            tokio_stream::wrappers::TcpListenerStream::new(listeners.grpc).map(|conn| {
                conn.inspect(|stream| {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "failed to set TCP_NODELAY");
                    }
                })
            }),
            async move {
                grpc_shutdown.cancelled().await;
                reporter
                    .set_service_status("", tonic_health::ServingStatus::NotServing)
                    .await;
            },
        );
    let http_shutdown = shutdown.clone();
    let http = axum::serve(
        listeners.http,
        http::router(state.clone(), shutdown.child_token()),
    )
    .with_graceful_shutdown(async move { http_shutdown.cancelled().await });
    let servers = async { tokio::join!(grpc, async { http.await }) };
    // Draining waits for open connections to go away; a client that keeps an idle channel
    // open would hold the process forever, so the grace period bounds it.
    let grace = std::time::Duration::from_secs(state.config.shutdown_grace_secs);
    match switchboard_platform::shutdown::drain(&shutdown, grace, servers).await {
        Some((grpc_result, http_result)) => {
            grpc_result.map_err(|e| GatewayError::Serve(e.to_string()))?;
            http_result.map_err(|e| GatewayError::Serve(e.to_string()))?;
            tracing::info!("gateway stopped");
        }
        None => {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "grace period over; closing the connections still open"
            );
        }
    }
    Ok(())
}
