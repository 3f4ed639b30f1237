//! ConnectionService: auth configs and connected accounts. The gRPC adapter over
//! the use cases in `crate::app`.

use switchboard_proto::v1::connection_service_server::ConnectionService;
use switchboard_proto::v1::*;
use tonic::{Request, Response, Status};

use crate::app::connections;
use crate::grpc::auth;
use crate::state::AppState;

pub struct ConnectionApi {
    state: AppState,
}

impl ConnectionApi {
    pub fn new(state: AppState) -> ConnectionApi {
        ConnectionApi { state }
    }
}

#[tonic::async_trait]
impl ConnectionService for ConnectionApi {
    async fn create_auth_config(
        &self,
        request: Request<CreateAuthConfigRequest>,
    ) -> Result<Response<CreateAuthConfigResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            connections::create_auth_config(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn get_auth_config(
        &self,
        request: Request<GetAuthConfigRequest>,
    ) -> Result<Response<GetAuthConfigResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            connections::get_auth_config(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn list_auth_configs(
        &self,
        request: Request<ListAuthConfigsRequest>,
    ) -> Result<Response<ListAuthConfigsResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            connections::list_auth_configs(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn update_auth_config(
        &self,
        request: Request<UpdateAuthConfigRequest>,
    ) -> Result<Response<UpdateAuthConfigResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            connections::update_auth_config(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn delete_auth_config(
        &self,
        request: Request<DeleteAuthConfigRequest>,
    ) -> Result<Response<DeleteAuthConfigResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            connections::delete_auth_config(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn create_connected_account(
        &self,
        request: Request<CreateConnectedAccountRequest>,
    ) -> Result<Response<CreateConnectedAccountResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            connections::create_connected_account(&self.state, &project, request.into_inner())
                .await?,
        ))
    }

    async fn get_connected_account(
        &self,
        request: Request<GetConnectedAccountRequest>,
    ) -> Result<Response<GetConnectedAccountResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            connections::get_connected_account(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn list_connected_accounts(
        &self,
        request: Request<ListConnectedAccountsRequest>,
    ) -> Result<Response<ListConnectedAccountsResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            connections::list_connected_accounts(&self.state, &project, request.into_inner())
                .await?,
        ))
    }

    async fn enable_connected_account(
        &self,
        request: Request<EnableConnectedAccountRequest>,
    ) -> Result<Response<EnableConnectedAccountResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            connections::enable_connected_account(&self.state, &project, request.into_inner())
                .await?,
        ))
    }

    async fn disable_connected_account(
        &self,
        request: Request<DisableConnectedAccountRequest>,
    ) -> Result<Response<DisableConnectedAccountResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            connections::disable_connected_account(&self.state, &project, request.into_inner())
                .await?,
        ))
    }

    async fn delete_connected_account(
        &self,
        request: Request<DeleteConnectedAccountRequest>,
    ) -> Result<Response<DeleteConnectedAccountResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            connections::delete_connected_account(&self.state, &project, request.into_inner())
                .await?,
        ))
    }
}
