//! AdminService: projects and API keys, guarded by the admin token.

use switchboard_core::ids::is_id;
use switchboard_core::page::{decode_token, encode_token, page_size};
use switchboard_core::Error;
use switchboard_proto::v1::{
    CreateApiKeyRequest, CreateApiKeyResponse, CreateProjectRequest, CreateProjectResponse,
    GetProjectRequest, GetProjectResponse, ListApiKeysRequest, ListApiKeysResponse,
    ListProjectsRequest, ListProjectsResponse, RevokeApiKeyRequest, RevokeApiKeyResponse,
};

use crate::app::{check_name, required};
use crate::state::AppState;

fn project_id(id: &str) -> Result<&str, Error> {
    required(id, "project_id")?;
    if is_id("prj", id) {
        Ok(id)
    } else {
        Err(Error::not_found(
            switchboard_core::reason::PROJECT_NOT_FOUND,
            format!("project {id:?} not found"),
        ))
    }
}

pub async fn create_project(
    state: &AppState,
    request: CreateProjectRequest,
) -> Result<CreateProjectResponse, Error> {
    let name = request.name.trim();
    check_name(name, "name", false)?;
    let project = state.store.create_project(name).await?;
    tracing::info!(project_id = %project.id, "project created");
    Ok(CreateProjectResponse {
        project: Some(project),
    })
}

pub async fn get_project(
    state: &AppState,
    request: GetProjectRequest,
) -> Result<GetProjectResponse, Error> {
    let project = state
        .store
        .get_project(project_id(&request.project_id)?)
        .await?;
    Ok(GetProjectResponse {
        project: Some(project),
    })
}

pub async fn list_projects(
    state: &AppState,
    req: ListProjectsRequest,
) -> Result<ListProjectsResponse, Error> {
    let size = page_size(req.page_size, "page_size")?;
    let after = decode_token(&req.page_token, "page_token")?;
    let (projects, more) = state.store.list_projects(after.as_deref(), size).await?;
    let next_page_token = match (more, projects.last()) {
        (true, Some(last)) => encode_token(&last.id),
        _ => String::new(),
    };
    Ok(ListProjectsResponse {
        projects,
        next_page_token,
    })
}

pub async fn create_api_key(
    state: &AppState,
    req: CreateApiKeyRequest,
) -> Result<CreateApiKeyResponse, Error> {
    let name = req.name.trim();
    check_name(name, "name", true)?;
    let created = state
        .store
        .create_api_key(project_id(&req.project_id)?, name)
        .await?;
    tracing::info!(project_id = %req.project_id, key_id = %created.key.id, "api key created");
    Ok(CreateApiKeyResponse {
        api_key: Some(created.key),
        secret: created.secret,
    })
}

pub async fn list_api_keys(
    state: &AppState,
    request: ListApiKeysRequest,
) -> Result<ListApiKeysResponse, Error> {
    let api_keys = state
        .store
        .list_api_keys(project_id(&request.project_id)?)
        .await?;
    Ok(ListApiKeysResponse { api_keys })
}

pub async fn revoke_api_key(
    state: &AppState,
    req: RevokeApiKeyRequest,
) -> Result<RevokeApiKeyResponse, Error> {
    let project = project_id(&req.project_id)?;
    required(&req.key_id, "key_id")?;
    let key = state.store.revoke_api_key(project, &req.key_id).await?;
    tracing::info!(project_id = %project, key_id = %key.id, "api key revoked");
    Ok(RevokeApiKeyResponse { api_key: Some(key) })
}
