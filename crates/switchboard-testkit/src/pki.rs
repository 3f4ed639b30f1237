//! A private PKI made per test with rcgen, as PEM files in a directory of their own: a CA, a
//! server certificate for `127.0.0.1` and `localhost`, a client certificate, and a client
//! certificate from another CA that nobody trusts. Keys are ECDSA P-256, signed with ring.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use switchboard_config::ClientTlsConfig;

/// PEM files of a test PKI in a directory of their own.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate signed by another CA, which no server here trusts.
    pub stranger_cert: PathBuf,
    pub stranger_key: PathBuf,
}

impl Pki {
    pub fn generate() -> Pki {
        let dir = tempfile::tempdir().expect("pki dir");
        let ca = certificate_authority("switchboard test CA");
        let other_ca = certificate_authority("somebody else's CA");
        let write = |name: &str, pem: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).expect("write pem");
            path
        };
        let (server_cert, server_key) = leaf(
            &ca,
            "server",
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) =
            leaf(&ca, "switchboard", &[], ExtendedKeyUsagePurpose::ClientAuth);
        let (stranger_cert, stranger_key) = leaf(
            &other_ca,
            "stranger",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Pki {
            ca: write("ca.crt", &ca.pem()),
            server_cert: write("server.crt", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.crt", &client_cert),
            client_key: write("client.key", &client_key),
            stranger_cert: write("stranger.crt", &stranger_cert),
            stranger_key: write("stranger.key", &stranger_key),
            dir,
        }
    }

    /// The CA and the client certificate: what a service needs for mutual TLS.
    pub fn client_tls(&self) -> ClientTlsConfig {
        ClientTlsConfig {
            ca_file: Some(self.ca.clone()),
            cert_file: Some(self.client_cert.clone()),
            key_file: Some(self.client_key.clone()),
        }
    }
}

fn certificate_authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("ca key")).expect("ca")
}

/// A certificate and its key (PEM) signed by `issuer`.
fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<Vec<String>>(),
    )
    .expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).expect("sign");
    (cert.pem(), key.serialize_pem())
}
