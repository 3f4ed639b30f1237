//! TLS on the gRPC listener (`gateway.tls`): the server's certificate, and with
//! `client_ca_file` mutual TLS, where every client presents a certificate signed by that CA.
//! The HTTP side (MCP, Connect Links, health) is not affected.

use std::time::Duration;

use switchboard_config::ServerTlsConfig;
use tonic::transport::{Certificate, Identity};

use crate::GatewayError;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The listener's TLS configuration from the files `config` names (None: plain text). Files
/// are read and the certificate and key checked here, so a bad one stops the start with an
/// error naming the setting.
pub(crate) fn grpc_tls(
    config: &ServerTlsConfig,
) -> Result<Option<tonic::transport::ServerTlsConfig>, GatewayError> {
    let Some(files) = config.load("gateway.tls")? else {
        return Ok(None);
    };
    let mut tls = tonic::transport::ServerTlsConfig::new()
        .identity(Identity::from_pem(
            &files.identity.cert,
            &files.identity.key,
        ))
        .timeout(HANDSHAKE_TIMEOUT);
    if let Some(ca) = &files.client_ca {
        tls = tls.client_ca_root(Certificate::from_pem(ca));
    }
    // Build an acceptor once now: tonic parses the certificate and key here, not at the first
    // connection.
    tonic::transport::Server::builder()
        .tls_config(tls.clone())
        .map_err(|e| {
            GatewayError::Config(switchboard_config::ConfigError::Invalid {
                field: "gateway.tls".into(),
                problem: format!(
                    "cert_file and key_file are not a usable certificate and key: {}",
                    error_chain(&e)
                ),
            })
        })?;
    Ok(Some(tls))
}

/// The listener's mode, for the start-up log line.
pub(crate) fn describe(config: &ServerTlsConfig) -> &'static str {
    match (config.is_enabled(), config.client_ca_file.is_some()) {
        (false, _) => "off",
        (true, false) => "on",
        (true, true) => "mutual",
    }
}

/// An error and its sources on one line (tonic's own message is often just "transport error").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
