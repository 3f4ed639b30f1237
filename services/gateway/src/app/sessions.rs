//! SessionService: create, use (get), update, delete and list sessions, and read a session's
//! toolkits and tools. Every call is in the project of its API key; a session of another
//! project is NOT_FOUND.

use std::collections::HashMap;
use std::sync::Arc;

use switchboard_catalog::{Tool, Toolkit};
use switchboard_core::page::{
    decode_token, encode_token, page_by_key, page_by_position, page_size,
};
use switchboard_core::scope::Scope;
use switchboard_core::session_config::{normalize, validate_user_id};
use switchboard_core::{accounts, update, Error};
use switchboard_proto::v1::{
    AuthConfigRef, ConnectedAccount, ConnectedAccountRef, CreateSessionRequest,
    CreateSessionResponse, DeleteSessionRequest, DeleteSessionResponse, GetSessionRequest,
    GetSessionResponse, ListSessionToolkitsRequest, ListSessionToolkitsResponse,
    ListSessionToolsRequest, ListSessionToolsResponse, ListSessionsRequest, ListSessionsResponse,
    SessionConfig, SessionToolkit, ToolView, ToolkitConnection, UpdateSessionRequest,
    UpdateSessionResponse,
};

use crate::app::required;
use crate::app::view;
use crate::state::AppState;

async fn load(
    state: &AppState,
    project: &str,
    session_id: &str,
) -> Result<switchboard_proto::v1::Session, Error> {
    required(session_id, "session_id")?;
    state.store.get_session(project, session_id).await
}

pub async fn authorize(
    state: &AppState,
    project: &str,
    request: switchboard_proto::v1::AuthorizeRequest,
) -> Result<switchboard_proto::v1::AuthorizeResponse, Error> {
    let connection_request = crate::app::connect::authorize(state, project, request).await?;
    Ok(switchboard_proto::v1::AuthorizeResponse {
        connection_request: Some(connection_request),
    })
}

pub async fn wait_for_connection(
    state: &AppState,
    project: &str,
    request: switchboard_proto::v1::WaitForConnectionRequest,
) -> Result<switchboard_proto::v1::WaitForConnectionResponse, Error> {
    let response = crate::app::connect::wait(state, project, request).await?;
    Ok(response)
}

pub async fn search_tools(
    state: &AppState,
    project: &str,
    req: switchboard_proto::v1::SearchToolsRequest,
) -> Result<switchboard_proto::v1::SearchToolsResponse, Error> {
    let catalog = state.catalogs.for_project(project).await?;
    let session = load(state, project, &req.session_id).await?;
    if req.queries.is_empty() || req.queries.len() > 7 {
        return Err(Error::invalid(
            switchboard_core::reason::OUT_OF_RANGE,
            "queries",
            "give 1 to 7 queries",
        ));
    }
    let limit = match req.limit {
        0 => 5,
        n @ 1..=20 => usize::try_from(n).unwrap_or(5),
        _ => {
            return Err(Error::invalid(
                switchboard_core::reason::OUT_OF_RANGE,
                "limit",
                "must be between 1 and 20",
            ))
        }
    };
    for (i, q) in req.queries.iter().enumerate() {
        if q.trim().is_empty() || q.len() > 1000 {
            return Err(Error::invalid(
                switchboard_core::reason::INVALID_QUERY,
                format!("queries[{i}]"),
                "must be 1–1000 bytes of text",
            ));
        }
    }
    let config = session.config.unwrap_or_default();
    let scope = Scope::new(&config, &catalog);
    let user_accounts = state.store.user_accounts(project, &session.user_id).await?;
    let results = req
        .queries
        .iter()
        .map(|query| {
            let hits = catalog
                .search(query, |t| scope.tool_allowed(t), limit)
                .into_iter()
                .map(|hit| {
                    let no_auth = catalog
                        .toolkit(&hit.tool.toolkit)
                        .is_some_and(|t| t.is_no_auth());
                    switchboard_proto::v1::SearchHit {
                        toolkit_connected: no_auth
                            || accounts::default_account(
                                &config,
                                &user_accounts,
                                &hit.tool.toolkit,
                            )
                            .is_some(),
                        tool: Some(hit.tool.proto.clone()),
                        score: hit.score,
                    }
                })
                .collect();
            switchboard_proto::v1::SearchResult {
                query: query.clone(),
                hits,
            }
        })
        .collect();
    Ok(switchboard_proto::v1::SearchToolsResponse { results })
}

pub async fn create_session(
    state: &AppState,
    project: &str,
    req: CreateSessionRequest,
) -> Result<CreateSessionResponse, Error> {
    let catalog = state.catalogs.for_project(project).await?;
    validate_user_id(&req.user_id, "user_id")?;
    let (config, warnings) = normalize(&req.config.unwrap_or_default(), &catalog)?;
    let session = state
        .store
        .create_session(project, &req.user_id, config)
        .await?;
    tracing::debug!(project_id = %project, session_id = %session.id, "session created");
    Ok(CreateSessionResponse {
        session: Some(view::session(state, &catalog, project, session)),
        warnings,
    })
}

pub async fn get_session(
    state: &AppState,
    project: &str,
    request: GetSessionRequest,
) -> Result<GetSessionResponse, Error> {
    let catalog = state.catalogs.for_project(project).await?;
    let session = load(state, project, &request.session_id).await?;
    Ok(GetSessionResponse {
        session: Some(view::session(state, &catalog, project, session)),
    })
}

pub async fn update_session(
    state: &AppState,
    project: &str,
    req: UpdateSessionRequest,
) -> Result<UpdateSessionResponse, Error> {
    required(&req.session_id, "session_id")?;
    let patch = req.config.unwrap_or_default();
    let fields = update::changed_fields(&patch, req.update_mask.as_ref())?;
    if let Some(v) = req.expected_config_version {
        if v < 1 {
            return Err(Error::invalid(
                switchboard_core::reason::OUT_OF_RANGE,
                "expected_config_version",
                "config versions start at 1",
            ));
        }
    }
    let mut warnings = Vec::new();
    let catalog = state.catalogs.for_project(project).await?;
    let session = state
        .store
        .update_session(
            project,
            &req.session_id,
            req.expected_config_version,
            |current| {
                let merged = update::apply(
                    current.config.as_ref().unwrap_or(&SessionConfig::default()),
                    &patch,
                    &fields,
                );
                let (config, w) = normalize(&merged, &catalog)?;
                warnings = w;
                Ok(config)
            },
        )
        .await?;
    state.sessions.forget(project, &session.id);
    Ok(UpdateSessionResponse {
        session: Some(view::session(state, &catalog, project, session)),
        warnings,
    })
}

pub async fn delete_session(
    state: &AppState,
    project: &str,
    request: DeleteSessionRequest,
) -> Result<DeleteSessionResponse, Error> {
    let id = required(&request.session_id, "session_id")?;
    state.store.delete_session(project, id).await?;
    state.sessions.forget(project, id);
    Ok(DeleteSessionResponse {})
}

pub async fn list_sessions(
    state: &AppState,
    project: &str,
    req: ListSessionsRequest,
) -> Result<ListSessionsResponse, Error> {
    let catalog = state.catalogs.for_project(project).await?;
    let size = page_size(req.page_size, "page_size")?;
    let after = decode_token(&req.page_token, "page_token")?;
    let user = if req.user_id.is_empty() {
        None
    } else {
        validate_user_id(&req.user_id, "user_id")?;
        Some(req.user_id.as_str())
    };
    let page = state
        .store
        .list_sessions(project, user, after.as_deref(), size)
        .await?;
    Ok(ListSessionsResponse {
        sessions: page
            .sessions
            .into_iter()
            .map(|s| view::session(state, &catalog, project, s))
            .collect(),
        next_page_token: page
            .next_after
            .map(|a| encode_token(&a))
            .unwrap_or_default(),
    })
}

pub async fn list_session_toolkits(
    state: &AppState,
    project: &str,
    req: ListSessionToolkitsRequest,
) -> Result<ListSessionToolkitsResponse, Error> {
    let catalog = state.catalogs.for_project(project).await?;
    let session = load(state, project, &req.session_id).await?;
    let size = page_size(req.page_size, "page_size")?;
    let after = decode_token(&req.page_token, "page_token")?;
    let config = session.config.unwrap_or_default();
    let connections = Connections::load(state, project, &session.user_id, &config).await?;
    let scope = Scope::new(&config, &catalog);
    let needle = req.search.trim().to_lowercase();
    let rows = catalog
        .toolkits()
        .filter(|tk| req.include_disabled || scope.toolkit_enabled(&tk.slug))
        .filter(|tk| tk.matches(&needle))
        .map(|tk| session_toolkit(&scope, &config, &connections, tk))
        .filter(|row| {
            req.is_connected
                .is_none_or(|want| row.connection.as_ref().is_some_and(|c| c.is_active) == want)
        });
    let (toolkits, next_page_token) = page_by_key(rows, |t| t.slug.clone(), after.as_deref(), size);
    Ok(ListSessionToolkitsResponse {
        toolkits,
        next_page_token,
    })
}

pub async fn list_session_tools(
    state: &AppState,
    project: &str,
    req: ListSessionToolsRequest,
) -> Result<ListSessionToolsResponse, Error> {
    let catalog = state.catalogs.for_project(project).await?;
    let session = load(state, project, &req.session_id).await?;
    let size = page_size(req.page_size, "page_size")?;
    let after = decode_token(&req.page_token, "page_token")?;
    for (i, slug) in req.toolkits.iter().enumerate() {
        if catalog.toolkit(slug).is_none() {
            return Err(Error::invalid(
                switchboard_core::reason::UNKNOWN_TOOLKIT,
                format!("toolkits[{i}]"),
                format!("unknown toolkit {slug:?}"),
            ));
        }
    }
    let config = session.config.unwrap_or_default();
    let scope = Scope::new(&config, &catalog);
    let requested = ToolView::try_from(req.view).map_err(|_| {
        Error::invalid(
            switchboard_core::reason::INVALID_VIEW,
            "view",
            format!("{} is not a tool view (META or DIRECT)", req.view),
        )
    })?;
    let view = match requested {
        ToolView::Unspecified if scope.is_direct() => ToolView::Direct,
        ToolView::Unspecified => ToolView::Meta,
        other => other,
    };
    let in_toolkits = |t: &&Arc<Tool>| req.toolkits.is_empty() || req.toolkits.contains(&t.toolkit);
    let key = |t: &switchboard_proto::v1::Tool| format!("{}/{}", t.toolkit, t.slug);
    let (tools, next_page_token) = match view {
        // The meta tools keep their fixed order (search first) and the preloaded tools the
        // order the session gave, as in `session.tools`; both page by position.
        ToolView::Meta => page_by_position(
            scope.meta_tools(&state.meta).cloned(),
            after.as_deref(),
            size,
        ),
        _ if requested == ToolView::Unspecified => page_by_position(
            scope
                .preloaded()
                .into_iter()
                .filter(in_toolkits)
                .map(|t| t.proto.clone()),
            after.as_deref(),
            size,
        ),
        _ => page_by_key(
            scope.tools().filter(in_toolkits).map(|t| t.proto.clone()),
            key,
            after.as_deref(),
            size,
        ),
    };
    let formatted = match switchboard_proto::v1::ToolFormat::try_from(req.format) {
        Ok(switchboard_proto::v1::ToolFormat::Unspecified) => Vec::new(),
        Ok(format) => tools
            .iter()
            .map(|t| function_definition(t, format))
            .collect(),
        Err(_) => {
            return Err(Error::invalid(
                switchboard_core::reason::INVALID_FORMAT,
                "format",
                format!("{} is not a tool format", req.format),
            ))
        }
    };
    Ok(ListSessionToolsResponse {
        tools,
        next_page_token,
        view: view as i32,
        formatted,
    })
}

/// A tool as an LLM API's function definition.
fn function_definition(
    tool: &switchboard_proto::v1::Tool,
    format: switchboard_proto::v1::ToolFormat,
) -> prost_types::Struct {
    let schema = tool
        .input_schema
        .as_ref()
        .map(switchboard_proto::struct_to_json)
        .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
    let value = match format {
        switchboard_proto::v1::ToolFormat::Anthropic => serde_json::json!({
            "name": tool.slug,
            "description": tool.description,
            "input_schema": schema,
        }),
        _ => serde_json::json!({
            "type": "function",
            "function": {"name": tool.slug, "description": tool.description, "parameters": schema},
        }),
    };
    switchboard_proto::json_to_struct(&value)
}

/// What ListSessionToolkits needs to know about connections, loaded once per request: the
/// session user's accounts and the schemes of the session's auth config overrides.
struct Connections {
    accounts: Vec<ConnectedAccount>,
    /// Toolkit → scheme of the session's auth config for it, when that config exists here.
    override_schemes: HashMap<String, String>,
    /// Ids of the auth configs involved that use the platform's managed OAuth app.
    managed: std::collections::HashSet<String>,
}

impl Connections {
    async fn load(
        state: &AppState,
        project: &str,
        user_id: &str,
        config: &SessionConfig,
    ) -> Result<Connections, Error> {
        let accounts = state.store.user_accounts(project, user_id).await?;
        let mut override_schemes = HashMap::new();
        let mut managed = std::collections::HashSet::new();
        let mut oauth_configs: Vec<&String> = accounts
            .iter()
            .filter(|a| a.scheme == "OAUTH2")
            .map(|a| &a.auth_config_id)
            .collect();
        oauth_configs.sort();
        oauth_configs.dedup();
        for id in oauth_configs {
            match state.store.get_auth_config(project, id).await {
                Ok(ac) if ac.is_managed => {
                    managed.insert(ac.id);
                }
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        for (toolkit, id) in &config.auth_configs {
            match state.store.get_auth_config(project, id).await {
                Ok(ac) => {
                    if ac.is_managed {
                        managed.insert(ac.id.clone());
                    }
                    override_schemes.insert(toolkit.clone(), ac.scheme);
                }
                // An id that names nothing (yet) in this project still shows, with the
                // toolkit's default scheme.
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Connections {
            accounts,
            override_schemes,
            managed,
        })
    }
}

/// One row of ListSessionToolkits. The connection block follows the account rules: the
/// default account when one is ACTIVE, else the first candidate with its status, else not
/// connected; a no-auth toolkit is always usable.
fn session_toolkit(
    scope: &Scope<'_>,
    config: &SessionConfig,
    connections: &Connections,
    toolkit: &Arc<Toolkit>,
) -> SessionToolkit {
    let enabled = scope.toolkit_enabled(&toolkit.slug);
    let tool_count = if enabled {
        scope.toolkit_tools(toolkit).count()
    } else {
        0
    };
    let default = accounts::default_account(config, &connections.accounts, &toolkit.slug);
    let shown = default.or_else(|| {
        accounts::candidates(config, &connections.accounts, &toolkit.slug)
            .first()
            .copied()
    });
    let no_auth = toolkit.is_no_auth();
    let status = match (default, shown) {
        (Some(_), _) => accounts::ACTIVE.to_owned(),
        (None, _) if no_auth => "NO_AUTH".to_owned(),
        (None, Some(inactive)) => inactive.status.clone(),
        (None, None) => "NOT_CONNECTED".to_owned(),
    };
    let default_mode = || {
        toolkit
            .spec
            .auth
            .schemes
            .first()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default()
    };
    let auth_config = match (config.auth_configs.get(&toolkit.slug), shown) {
        (Some(id), _) => Some(AuthConfigRef {
            id: id.clone(),
            mode: connections
                .override_schemes
                .get(&toolkit.slug)
                .cloned()
                .unwrap_or_else(default_mode),
            is_managed: connections.managed.contains(id),
        }),
        (None, Some(account)) => Some(AuthConfigRef {
            id: account.auth_config_id.clone(),
            mode: account.scheme.clone(),
            is_managed: connections.managed.contains(&account.auth_config_id),
        }),
        (None, None) => None,
    };
    SessionToolkit {
        slug: toolkit.slug.clone(),
        name: toolkit.spec.name.clone(),
        description: toolkit.spec.description.clone(),
        logo: toolkit.spec.logo.clone(),
        enabled,
        is_no_auth: no_auth,
        connection: Some(ToolkitConnection {
            is_active: default.is_some() || no_auth,
            auth_config,
            connected_account: shown
                .filter(|a| !no_auth || a.status == accounts::ACTIVE)
                .map(|a| ConnectedAccountRef {
                    id: a.id.clone(),
                    status: a.status.clone(),
                    alias: a.alias.clone(),
                }),
            status,
        }),
        tool_count: u32::try_from(tool_count).unwrap_or(u32::MAX),
    }
}
