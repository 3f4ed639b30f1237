//! SessionService: sessions, their toolkits and tools, search, Authorize and ExecuteTool. The gRPC adapter over
//! the use cases in `crate::app`.

use switchboard_proto::v1::session_service_server::SessionService;
use switchboard_proto::v1::*;
use tonic::{Request, Response, Status};

use switchboard_store::Caller;

use crate::app::{execute, sessions};
use crate::grpc::auth;
use crate::state::AppState;

pub struct SessionApi {
    state: AppState,
}

impl SessionApi {
    pub fn new(state: AppState) -> SessionApi {
        SessionApi { state }
    }
}

#[tonic::async_trait]
impl SessionService for SessionApi {
    async fn execute_tool(
        &self,
        request: Request<ExecuteToolRequest>,
    ) -> Result<Response<ExecuteToolResponse>, Status> {
        // The key is checked in the same round trip that reads the session.
        let secret = auth::secret(request.metadata())?.to_owned();
        let traceparent = request
            .metadata()
            .get(switchboard_telemetry::TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let response = execute::execute_tool(
            &self.state,
            Caller::ApiKey(&secret),
            request.into_inner(),
            traceparent.as_deref(),
        )
        .await?;
        Ok(Response::new(response))
    }

    async fn get_execution(
        &self,
        request: Request<GetExecutionRequest>,
    ) -> Result<Response<GetExecutionResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            execute::get_execution(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn list_executions(
        &self,
        request: Request<ListExecutionsRequest>,
    ) -> Result<Response<ListExecutionsResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            execute::list_executions(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn authorize(
        &self,
        request: Request<switchboard_proto::v1::AuthorizeRequest>,
    ) -> Result<Response<switchboard_proto::v1::AuthorizeResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            sessions::authorize(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn wait_for_connection(
        &self,
        request: Request<switchboard_proto::v1::WaitForConnectionRequest>,
    ) -> Result<Response<switchboard_proto::v1::WaitForConnectionResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            sessions::wait_for_connection(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn search_tools(
        &self,
        request: Request<switchboard_proto::v1::SearchToolsRequest>,
    ) -> Result<Response<switchboard_proto::v1::SearchToolsResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            sessions::search_tools(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn create_session(
        &self,
        request: Request<CreateSessionRequest>,
    ) -> Result<Response<CreateSessionResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            sessions::create_session(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn get_session(
        &self,
        request: Request<GetSessionRequest>,
    ) -> Result<Response<GetSessionResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            sessions::get_session(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn update_session(
        &self,
        request: Request<UpdateSessionRequest>,
    ) -> Result<Response<UpdateSessionResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            sessions::update_session(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn delete_session(
        &self,
        request: Request<DeleteSessionRequest>,
    ) -> Result<Response<DeleteSessionResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            sessions::delete_session(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn list_sessions(
        &self,
        request: Request<ListSessionsRequest>,
    ) -> Result<Response<ListSessionsResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            sessions::list_sessions(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn list_session_toolkits(
        &self,
        request: Request<ListSessionToolkitsRequest>,
    ) -> Result<Response<ListSessionToolkitsResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            sessions::list_session_toolkits(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn list_session_tools(
        &self,
        request: Request<ListSessionToolsRequest>,
    ) -> Result<Response<ListSessionToolsResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            sessions::list_session_tools(&self.state, &project, request.into_inner()).await?,
        ))
    }
}
