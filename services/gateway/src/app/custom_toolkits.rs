//! CatalogService's CreateToolkit, UpdateToolkit and DeleteToolkit: a project's own toolkits,
//! imported from its API's OpenAPI description (`switchboard-import`), checked by every rule
//! of a toolkit file and by the custom-toolkit rules (`Catalog::layered`: no built-in slug, no
//! native handlers, no triggers), stored (`switchboard_store::CustomToolkits`) and announced
//! on the bus so every gateway and worker drops its copy of the project's catalog. Nothing is
//! stored when any check fails.

use std::sync::Arc;

use switchboard_catalog::spec::{AuthScheme, CredentialPlacement, ToolkitSpec};
use switchboard_catalog::Catalog;
use switchboard_core::time::now_ms;
use switchboard_core::{reason, Error};
use switchboard_import::overlay::AuthOverlay;
use switchboard_import::{Overlay, Source};
use switchboard_platform::catalogs::CustomToolkitRecord;
use switchboard_proto::v1::{
    CreateToolkitRequest, CreateToolkitResponse, CustomToolkitSource, DeleteToolkitRequest,
    DeleteToolkitResponse, ImportReport, SkippedOperation, Toolkit, UpdateToolkitRequest,
    UpdateToolkitResponse,
};
use switchboard_provider::egress;

use crate::app::{check_name, required};
use crate::state::AppState;

/// Largest OpenAPI description a project may upload.
pub const MAX_DESCRIPTION_BYTES: usize = 10 * 1024 * 1024;
/// Longest custom toolkit slug.
const MAX_SLUG: usize = 40;

/// CreateToolkit.
pub async fn create(
    state: &AppState,
    project: &str,
    req: CreateToolkitRequest,
) -> Result<CreateToolkitResponse, Error> {
    let (toolkit, report) = put(
        state,
        project,
        Put {
            slug: &req.slug,
            name: &req.name,
            description: &req.description,
            source: req.source.as_ref(),
            create: true,
        },
    )
    .await?;
    Ok(CreateToolkitResponse {
        toolkit: Some(toolkit),
        report: Some(report),
    })
}

/// UpdateToolkit: the toolkit replaced by a new import.
pub async fn update(
    state: &AppState,
    project: &str,
    req: UpdateToolkitRequest,
) -> Result<UpdateToolkitResponse, Error> {
    let (toolkit, report) = put(
        state,
        project,
        Put {
            slug: &req.slug,
            name: &req.name,
            description: &req.description,
            source: req.source.as_ref(),
            create: false,
        },
    )
    .await?;
    Ok(UpdateToolkitResponse {
        toolkit: Some(toolkit),
        report: Some(report),
    })
}

/// DeleteToolkit. A built-in toolkit's slug is NOT_FOUND like any other the project does not
/// own.
pub async fn delete(
    state: &AppState,
    project: &str,
    req: DeleteToolkitRequest,
) -> Result<DeleteToolkitResponse, Error> {
    let slug = required(&req.slug, "slug")?;
    let version = state.store.delete_custom_toolkit(project, slug).await?;
    announce(state, project, version).await;
    tracing::info!(
        project_id = project,
        toolkit = slug,
        "custom toolkit deleted"
    );
    Ok(DeleteToolkitResponse {})
}

struct Put<'a> {
    slug: &'a str,
    name: &'a str,
    description: &'a str,
    source: Option<&'a CustomToolkitSource>,
    create: bool,
}

async fn put(
    state: &AppState,
    project: &str,
    put: Put<'_>,
) -> Result<(Toolkit, ImportReport), Error> {
    check_slug(put.slug)?;
    check_name(put.name.trim(), "name", false)?;
    if put.description.trim().is_empty() || put.description.len() > 2000 {
        return Err(Error::invalid(
            reason::INVALID_NAME,
            "description",
            "must be 1–2000 bytes",
        ));
    }
    let source = put
        .source
        .ok_or_else(|| Error::invalid(reason::REQUIRED, "source", "is required"))?;
    let overlay = overlay(state, &put, source).await?;
    if source.openapi.trim().is_empty() {
        return Err(Error::invalid(
            reason::REQUIRED,
            "source.openapi",
            "is required",
        ));
    }
    if source.openapi.len() > MAX_DESCRIPTION_BYTES {
        return Err(Error::invalid(
            reason::TOO_LARGE,
            "source.openapi",
            format!("must be at most {MAX_DESCRIPTION_BYTES} bytes"),
        ));
    }
    let text = source.openapi.clone();
    // Parsing a large description is CPU work: off the async threads.
    let imported = tokio::task::spawn_blocking(move || {
        switchboard_import::import(&Source::OpenApi(text), &overlay)
    })
    .await
    .map_err(|e| Error::Internal(format!("the import stopped: {e}")))?
    .map_err(|e| {
        Error::invalid(
            reason::INVALID_API_DESCRIPTION,
            "source.openapi",
            e.to_string(),
        )
    })?;
    let spec = imported.toolkit;
    // A base URL the request gave was checked already (before the import).
    check_tools(state, &spec, source.base_url.is_empty()).await?;
    // Checked with the project's other toolkits over the built-in catalog, as every replica
    // will build it.
    let stored = state.store.custom_toolkits(project).await?;
    let now = now_ms();
    let mut create_ms = now;
    let mut specs: Vec<ToolkitSpec> = Vec::with_capacity(stored.records.len() + 1);
    for (slug, bytes) in &stored.records {
        let record = CustomToolkitRecord::decode(bytes)?;
        if slug == put.slug {
            create_ms = record.create_ms;
        } else {
            specs.push(record.spec);
        }
    }
    specs.push(spec.clone());
    let layered = Catalog::layered(Arc::clone(&state.catalog), specs).map_err(|e| {
        Error::invalid(
            reason::INVALID_API_DESCRIPTION,
            "source.openapi",
            e.to_string(),
        )
    })?;
    let toolkit = layered
        .toolkit(put.slug)
        .map(|t| t.proto.clone())
        .ok_or_else(|| Error::Internal("the imported toolkit is not in its own catalog".into()))?;
    let skipped: Vec<(String, String)> = imported
        .report
        .skipped
        .iter()
        .map(|s| (s.location.clone(), s.reason.clone()))
        .collect();
    let record = CustomToolkitRecord {
        spec,
        create_ms,
        update_ms: now,
        skipped: skipped.clone(),
    };
    let version = state
        .store
        .put_custom_toolkit(
            project,
            put.slug,
            &record.encode()?,
            put.create,
            state.config.catalog.custom_toolkits_per_project,
        )
        .await?;
    announce(state, project, version).await;
    tracing::info!(
        project_id = project,
        toolkit = put.slug,
        tools = toolkit.tool_count,
        "custom toolkit stored"
    );
    Ok((
        toolkit,
        ImportReport {
            tool_count: u32::try_from(imported.report.imported.len()).unwrap_or(u32::MAX),
            skipped: skipped
                .into_iter()
                .map(|(location, reason)| SkippedOperation { location, reason })
                .collect(),
        },
    ))
}

/// Lowercase letters, digits and `_`, starting with a letter, at most [`MAX_SLUG`].
fn check_slug(slug: &str) -> Result<(), Error> {
    required(slug, "slug")?;
    let ok = slug.len() <= MAX_SLUG
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            reason::INVALID_SLUG,
            "slug",
            format!("must be lowercase letters, digits and `_`, starting with a letter, at most {MAX_SLUG}"),
        ))
    }
}

/// The overlay the request amounts to: the toolkit's names, its base URL (checked as a URL
/// the platform will call for the tenant) and its auth.
async fn overlay(
    state: &AppState,
    put: &Put<'_>,
    source: &CustomToolkitSource,
) -> Result<Overlay, Error> {
    let policy = egress::Policy {
        allow_private: state.config.catalog.allow_private_base_urls,
    };
    let base_url = if source.base_url.is_empty() {
        None
    } else {
        egress::check(&source.base_url, policy)
            .await
            .map_err(|e| Error::invalid(reason::URL_NOT_ALLOWED, "source.base_url", e.0))?;
        Some(source.base_url.trim_end_matches('/').to_owned())
    };
    let scheme = match source.auth_scheme.as_str() {
        "" => None,
        "API_KEY" => Some(AuthScheme::ApiKey),
        "BEARER_TOKEN" => Some(AuthScheme::BearerToken),
        "BASIC" => Some(AuthScheme::Basic),
        "NO_AUTH" => Some(AuthScheme::NoAuth),
        other => {
            return Err(Error::invalid(
                reason::UNSUPPORTED_SCHEME,
                "source.auth_scheme",
                format!("{other:?} is not API_KEY, BEARER_TOKEN, BASIC or NO_AUTH"),
            ))
        }
    };
    let placement = match (scheme, source.api_key_header.as_str()) {
        (Some(AuthScheme::ApiKey), header) => {
            let header = if header.is_empty() {
                "Authorization"
            } else {
                header
            };
            if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(Error::invalid(
                    reason::INVALID_NAME,
                    "source.api_key_header",
                    "is not a valid header name",
                ));
            }
            let prefix = source.api_key_prefix.clone().unwrap_or_else(|| {
                if header.eq_ignore_ascii_case("authorization") {
                    "Bearer ".to_owned()
                } else {
                    String::new()
                }
            });
            Some(CredentialPlacement {
                header: header.to_owned(),
                prefix,
            })
        }
        (_, "") => None,
        _ => {
            return Err(Error::invalid(
                reason::UNSUPPORTED_SCHEME,
                "source.api_key_header",
                "applies to auth_scheme API_KEY only",
            ))
        }
    };
    Ok(Overlay {
        slug: Some(put.slug.to_owned()),
        name: Some(put.name.trim().to_owned()),
        description: Some(put.description.trim().to_owned()),
        base_url,
        auth: scheme.map(|scheme| AuthOverlay {
            schemes: Some(vec![scheme]),
            placement,
            oauth2: None,
        }),
        include: source.include.clone(),
        max_tools: Some(state.config.catalog.custom_toolkit_max_tools),
        ..Overlay::default()
    })
}

/// A custom toolkit calls the network its description names: a base URL the description
/// chose (no `base_url` given) is checked like one the request gave; and OAuth 2.0 needs
/// endpoints the project cannot set here.
async fn check_tools(
    state: &AppState,
    spec: &ToolkitSpec,
    check_base_url: bool,
) -> Result<(), Error> {
    if check_base_url {
        let policy = egress::Policy {
            allow_private: state.config.catalog.allow_private_base_urls,
        };
        egress::check(&spec.base_url, policy)
            .await
            .map_err(|e| Error::invalid(reason::URL_NOT_ALLOWED, "source.base_url", e.0))?;
    }
    if spec.auth.schemes.contains(&AuthScheme::Oauth2) {
        return Err(Error::invalid(
            reason::UNSUPPORTED_SCHEME,
            "source.auth_scheme",
            "the description uses OAuth 2.0, which custom toolkits do not support yet: choose API_KEY, BEARER_TOKEN, BASIC or NO_AUTH",
        ));
    }
    Ok(())
}

/// Tells every replica (and this one) that the project's toolkits changed.
async fn announce(state: &AppState, project: &str, version: u64) {
    state.catalogs.forget(project);
    if let Err(e) = state.bus.announce_catalog_change(project, version).await {
        tracing::warn!(project_id = project, error = %e, "could not announce a catalog change; other replicas see it within the re-check period");
    }
}
