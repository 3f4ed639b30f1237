//! AdminService: projects and API keys, guarded by the admin token.

use switchboard_core::ids::is_id;
use switchboard_core::page::{decode_token, encode_token, page_size};
use switchboard_core::Error;
use switchboard_proto::v1::{
    admin_service_server::AdminService, CreateApiKeyRequest, CreateApiKeyResponse,
    CreateProjectRequest, CreateProjectResponse, GetProjectRequest, GetProjectResponse,
    ListApiKeysRequest, ListApiKeysResponse, ListProjectsRequest, ListProjectsResponse,
    RevokeApiKeyRequest, RevokeApiKeyResponse,
};
use tonic::{Request, Response, Status};

use crate::auth;
use crate::grpc::{check_name, required};
use crate::state::AppState;

pub struct AdminApi {
    state: AppState,
}

impl AdminApi {
    pub fn new(state: AppState) -> AdminApi {
        AdminApi { state }
    }
}

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

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_project(
        &self,
        request: Request<CreateProjectRequest>,
    ) -> Result<Response<CreateProjectResponse>, Status> {
        auth::admin(&self.state, request.metadata())?;
        let name = request.get_ref().name.trim();
        check_name(name, "name", false)?;
        let project = self.state.store.create_project(name).await?;
        tracing::info!(project_id = %project.id, "project created");
        Ok(Response::new(CreateProjectResponse {
            project: Some(project),
        }))
    }

    async fn get_project(
        &self,
        request: Request<GetProjectRequest>,
    ) -> Result<Response<GetProjectResponse>, Status> {
        auth::admin(&self.state, request.metadata())?;
        let project = self
            .state
            .store
            .get_project(project_id(&request.get_ref().project_id)?)
            .await?;
        Ok(Response::new(GetProjectResponse {
            project: Some(project),
        }))
    }

    async fn list_projects(
        &self,
        request: Request<ListProjectsRequest>,
    ) -> Result<Response<ListProjectsResponse>, Status> {
        auth::admin(&self.state, request.metadata())?;
        let req = request.into_inner();
        let size = page_size(req.page_size, "page_size")?;
        let after = decode_token(&req.page_token, "page_token")?;
        let (projects, more) = self
            .state
            .store
            .list_projects(after.as_deref(), size)
            .await?;
        let next_page_token = match (more, projects.last()) {
            (true, Some(last)) => encode_token(&last.id),
            _ => String::new(),
        };
        Ok(Response::new(ListProjectsResponse {
            projects,
            next_page_token,
        }))
    }

    async fn create_api_key(
        &self,
        request: Request<CreateApiKeyRequest>,
    ) -> Result<Response<CreateApiKeyResponse>, Status> {
        auth::admin(&self.state, request.metadata())?;
        let req = request.get_ref();
        let name = req.name.trim();
        check_name(name, "name", true)?;
        let created = self
            .state
            .store
            .create_api_key(project_id(&req.project_id)?, name)
            .await?;
        tracing::info!(project_id = %req.project_id, key_id = %created.key.id, "api key created");
        Ok(Response::new(CreateApiKeyResponse {
            api_key: Some(created.key),
            secret: created.secret,
        }))
    }

    async fn list_api_keys(
        &self,
        request: Request<ListApiKeysRequest>,
    ) -> Result<Response<ListApiKeysResponse>, Status> {
        auth::admin(&self.state, request.metadata())?;
        let api_keys = self
            .state
            .store
            .list_api_keys(project_id(&request.get_ref().project_id)?)
            .await?;
        Ok(Response::new(ListApiKeysResponse { api_keys }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<RevokeApiKeyRequest>,
    ) -> Result<Response<RevokeApiKeyResponse>, Status> {
        auth::admin(&self.state, request.metadata())?;
        let req = request.get_ref();
        let project = project_id(&req.project_id)?;
        required(&req.key_id, "key_id")?;
        let key = self
            .state
            .store
            .revoke_api_key(project, &req.key_id)
            .await?;
        tracing::info!(project_id = %project, key_id = %key.id, "api key revoked");
        Ok(Response::new(RevokeApiKeyResponse { api_key: Some(key) }))
    }
}
