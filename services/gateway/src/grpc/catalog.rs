//! CatalogService: toolkits, tools and trigger types of the catalog (any project key). The gRPC adapter over
//! the use cases in `crate::app`.

use switchboard_proto::v1::catalog_service_server::CatalogService;
use switchboard_proto::v1::*;
use tonic::{Request, Response, Status};

use crate::app::{catalog, custom_toolkits};
use crate::grpc::auth;
use crate::state::AppState;

pub struct CatalogApi {
    state: AppState,
}

impl CatalogApi {
    pub fn new(state: AppState) -> CatalogApi {
        CatalogApi { state }
    }
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn create_toolkit(
        &self,
        request: Request<CreateToolkitRequest>,
    ) -> Result<Response<CreateToolkitResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            custom_toolkits::create(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn update_toolkit(
        &self,
        request: Request<UpdateToolkitRequest>,
    ) -> Result<Response<UpdateToolkitResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            custom_toolkits::update(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn delete_toolkit(
        &self,
        request: Request<DeleteToolkitRequest>,
    ) -> Result<Response<DeleteToolkitResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            custom_toolkits::delete(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn list_toolkits(
        &self,
        request: Request<ListToolkitsRequest>,
    ) -> Result<Response<ListToolkitsResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            catalog::list_toolkits(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn get_toolkit(
        &self,
        request: Request<GetToolkitRequest>,
    ) -> Result<Response<GetToolkitResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            catalog::get_toolkit(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn list_tools(
        &self,
        request: Request<ListToolsRequest>,
    ) -> Result<Response<ListToolsResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            catalog::list_tools(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn list_trigger_types(
        &self,
        request: Request<switchboard_proto::v1::ListTriggerTypesRequest>,
    ) -> Result<Response<switchboard_proto::v1::ListTriggerTypesResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            catalog::list_trigger_types(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn get_trigger_type(
        &self,
        request: Request<switchboard_proto::v1::GetTriggerTypeRequest>,
    ) -> Result<Response<switchboard_proto::v1::GetTriggerTypeResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            catalog::get_trigger_type(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn get_tool(
        &self,
        request: Request<GetToolRequest>,
    ) -> Result<Response<GetToolResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            catalog::get_tool(&self.state, &project, request.into_inner()).await?,
        ))
    }
}
