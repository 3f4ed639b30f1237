//! `switchboard admin`: projects and API keys over the gateway's AdminService.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use switchboard_config::Config;
use switchboard_proto::v1::{
    admin_service_client::AdminServiceClient, ApiKey, CreateApiKeyRequest, CreateProjectRequest,
    GetProjectRequest, ListApiKeysRequest, ListProjectsRequest, Project, RevokeApiKeyRequest,
};
use tonic::metadata::MetadataValue;

#[derive(Args)]
pub struct AdminArgs {
    /// Gateway gRPC URL; https:// for a gateway that serves TLS. Default: gateway.grpc_addr,
    /// with https:// when gateway.tls is set.
    #[arg(long)]
    gateway: Option<String>,
    /// CA certificate (PEM) that signed an https:// gateway's certificate. Default: the
    /// bundled web PKI roots.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for a gateway that requires one (gateway.tls.client_ca_file).
    #[arg(long, requires = "key_file")]
    cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, requires = "cert_file")]
    key_file: Option<PathBuf>,
    /// Admin token. Default: gateway.admin_token, else the one `switchboard dev` keeps.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a project.
    CreateProject {
        #[arg(long)]
        name: String,
    },
    /// Show a project.
    GetProject {
        #[arg(long)]
        project: String,
    },
    /// List projects.
    ListProjects,
    /// Create an API key; its secret is printed once.
    CreateKey {
        #[arg(long)]
        project: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List a project's API keys (never their secrets).
    ListKeys {
        #[arg(long)]
        project: String,
    },
    /// Revoke an API key: it fails from now on.
    RevokeKey {
        #[arg(long)]
        project: String,
        #[arg(long)]
        key: String,
    },
}

/// TLS towards an https:// gateway: `--ca-file` (else the web PKI roots) and, for mutual TLS,
/// `--cert-file` and `--key-file`.
fn client_tls(args: &AdminArgs) -> anyhow::Result<tonic::transport::ClientTlsConfig> {
    let read = |flag: &str, path: &PathBuf| {
        std::fs::read(path).with_context(|| format!("{flag}: cannot read {}", path.display()))
    };
    let mut tls = tonic::transport::ClientTlsConfig::new();
    tls = match &args.ca_file {
        Some(ca) => tls.ca_certificate(tonic::transport::Certificate::from_pem(read(
            "--ca-file",
            ca,
        )?)),
        None => tls.with_webpki_roots(),
    };
    if let (Some(cert), Some(key)) = (&args.cert_file, &args.key_file) {
        tls = tls.identity(tonic::transport::Identity::from_pem(
            read("--cert-file", cert)?,
            read("--key-file", key)?,
        ));
    }
    Ok(tls)
}

fn seconds(t: &Option<switchboard_proto::prost_types::Timestamp>) -> String {
    t.as_ref()
        .map_or_else(|| "-".to_owned(), |t| t.seconds.to_string())
}

fn print_project(p: &Project) {
    println!("{}\t{}\tcreated {}", p.id, p.name, seconds(&p.create_time));
}

fn print_key(k: &ApiKey) {
    let state = if k.revoke_time.is_some() {
        format!("revoked {}", seconds(&k.revoke_time))
    } else {
        "active".to_owned()
    };
    println!(
        "{}\t{}…\t{}\t{}",
        k.id,
        k.prefix,
        if k.name.is_empty() { "-" } else { &k.name },
        state
    );
}

pub async fn run(config: Config, args: AdminArgs) -> anyhow::Result<()> {
    let url = args.gateway.clone().unwrap_or_else(|| {
        let scheme = if config.gateway.tls.is_enabled() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", config.gateway.grpc_addr)
    });
    let token = args
        .admin_token
        .clone()
        .or_else(|| config.gateway.admin_token.clone())
        .or_else(|| crate::dev::read_state(&config.dev.data_dir).admin_token)
        .context("no admin token: pass --admin-token, set SWITCHBOARD_ADMIN_TOKEN, or run `switchboard dev` first")?;
    let header: MetadataValue<_> = format!("Bearer {token}")
        .parse()
        .context("the admin token is not valid header text")?;
    let mut endpoint = tonic::transport::Channel::from_shared(url.clone())
        .with_context(|| format!("invalid gateway URL {url:?}"))?;
    if url.starts_with("https://") {
        endpoint = endpoint
            .tls_config(client_tls(&args)?)
            .context("invalid TLS settings for the gateway")?;
    } else if args.ca_file.is_some() || args.cert_file.is_some() {
        anyhow::bail!("--ca-file and --cert-file need an https:// gateway URL");
    }
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("failed to connect to the gateway at {url}"))?;
    let mut client =
        AdminServiceClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
            req.metadata_mut().insert("authorization", header.clone());
            Ok(req)
        });
    // With the transport's reasons: a gateway that refuses the client's TLS certificate only
    // closes the connection, which a bare status does not say.
    let fail = |e: tonic::Status| {
        let mut text = format!("{:?}: {}", e.code(), e.message());
        let mut last = e.message().to_owned();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if cause_text != last {
                text.push_str(&format!(": {cause_text}"));
            }
            last = cause_text;
            source = cause.source();
        }
        anyhow::anyhow!(text)
    };
    match args.command {
        AdminCommand::CreateProject { name } => {
            let resp = client
                .create_project(CreateProjectRequest { name })
                .await
                .map_err(fail)?;
            if let Some(p) = resp.into_inner().project {
                print_project(&p);
            }
        }
        AdminCommand::GetProject { project } => {
            let resp = client
                .get_project(GetProjectRequest {
                    project_id: project,
                })
                .await
                .map_err(fail)?;
            if let Some(p) = resp.into_inner().project {
                print_project(&p);
            }
        }
        AdminCommand::ListProjects => {
            let mut page_token = String::new();
            loop {
                let resp = client
                    .list_projects(ListProjectsRequest {
                        page_size: 500,
                        page_token,
                    })
                    .await
                    .map_err(fail)?
                    .into_inner();
                resp.projects.iter().for_each(print_project);
                if resp.next_page_token.is_empty() {
                    break;
                }
                page_token = resp.next_page_token;
            }
        }
        AdminCommand::CreateKey { project, name } => {
            let resp = client
                .create_api_key(CreateApiKeyRequest {
                    project_id: project,
                    name,
                })
                .await
                .map_err(fail)?
                .into_inner();
            if let Some(k) = &resp.api_key {
                print_key(k);
            }
            println!("secret (shown once): {}", resp.secret);
        }
        AdminCommand::ListKeys { project } => {
            let resp = client
                .list_api_keys(ListApiKeysRequest {
                    project_id: project,
                })
                .await
                .map_err(fail)?;
            resp.into_inner().api_keys.iter().for_each(print_key);
        }
        AdminCommand::RevokeKey { project, key } => {
            let resp = client
                .revoke_api_key(RevokeApiKeyRequest {
                    project_id: project,
                    key_id: key,
                })
                .await
                .map_err(fail)?;
            if let Some(k) = resp.into_inner().api_key {
                print_key(&k);
            }
        }
    }
    Ok(())
}
