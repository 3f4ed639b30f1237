//! AdminService: projects and API keys, for the operator (admin token). The gRPC adapter over
//! the use cases in `crate::app`.

use switchboard_proto::v1::admin_service_server::AdminService;
use switchboard_proto::v1::*;
use tonic::{Request, Response, Status};

use crate::app::admin;
use crate::grpc::auth;
use crate::state::AppState;

pub struct AdminApi {
    state: AppState,
}

impl AdminApi {
    pub fn new(state: AppState) -> AdminApi {
        AdminApi { state }
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_project(
        &self,
        request: Request<CreateProjectRequest>,
    ) -> Result<Response<CreateProjectResponse>, Status> {
        auth::admin(&self.state, request.metadata())?;
        Ok(Response::new(
            admin::create_project(&self.state, request.into_inner()).await?,
        ))
    }

    async fn get_project(
        &self,
        request: Request<GetProjectRequest>,
    ) -> Result<Response<GetProjectResponse>, Status> {
        auth::admin(&self.state, request.metadata())?;
        Ok(Response::new(
            admin::get_project(&self.state, request.into_inner()).await?,
        ))
    }

    async fn list_projects(
        &self,
        request: Request<ListProjectsRequest>,
    ) -> Result<Response<ListProjectsResponse>, Status> {
        auth::admin(&self.state, request.metadata())?;
        Ok(Response::new(
            admin::list_projects(&self.state, request.into_inner()).await?,
        ))
    }

    async fn create_api_key(
        &self,
        request: Request<CreateApiKeyRequest>,
    ) -> Result<Response<CreateApiKeyResponse>, Status> {
        auth::admin(&self.state, request.metadata())?;
        Ok(Response::new(
            admin::create_api_key(&self.state, request.into_inner()).await?,
        ))
    }

    async fn list_api_keys(
        &self,
        request: Request<ListApiKeysRequest>,
    ) -> Result<Response<ListApiKeysResponse>, Status> {
        auth::admin(&self.state, request.metadata())?;
        Ok(Response::new(
            admin::list_api_keys(&self.state, request.into_inner()).await?,
        ))
    }

    async fn revoke_api_key(
        &self,
        request: Request<RevokeApiKeyRequest>,
    ) -> Result<Response<RevokeApiKeyResponse>, Status> {
        auth::admin(&self.state, request.metadata())?;
        Ok(Response::new(
            admin::revoke_api_key(&self.state, request.into_inner()).await?,
        ))
    }
}
