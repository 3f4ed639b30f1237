//! CatalogService: the toolkits and tools of the platform, independent of any session.

use switchboard_core::page::{decode_token, page_by_key, page_size};
use switchboard_core::Error;
use switchboard_proto::v1::{
    catalog_service_server::CatalogService, GetToolRequest, GetToolResponse, GetToolkitRequest,
    GetToolkitResponse, ListToolkitsRequest, ListToolkitsResponse, ListToolsRequest,
    ListToolsResponse,
};
use tonic::{Request, Response, Status};

use crate::auth;
use crate::grpc::required;
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
    async fn list_toolkits(
        &self,
        request: Request<ListToolkitsRequest>,
    ) -> Result<Response<ListToolkitsResponse>, Status> {
        auth::project(&self.state, request.metadata()).await?;
        let req = request.into_inner();
        let size = page_size(req.page_size, "page_size")?;
        let after = decode_token(&req.page_token, "page_token")?;
        let needle = req.search.trim().to_lowercase();
        let (page, next) = page_by_key(
            self.state.catalog.toolkits().filter(|t| t.matches(&needle)),
            |t| t.slug.clone(),
            after.as_deref(),
            size,
        );
        Ok(Response::new(ListToolkitsResponse {
            toolkits: page.into_iter().map(|t| t.proto.clone()).collect(),
            next_page_token: next,
        }))
    }

    async fn get_toolkit(
        &self,
        request: Request<GetToolkitRequest>,
    ) -> Result<Response<GetToolkitResponse>, Status> {
        auth::project(&self.state, request.metadata()).await?;
        let slug = required(&request.get_ref().slug, "slug")?;
        let toolkit = self.state.catalog.toolkit(slug).ok_or_else(|| {
            Error::not_found(
                switchboard_core::reason::TOOLKIT_NOT_FOUND,
                format!("toolkit {slug:?} not found"),
            )
        })?;
        Ok(Response::new(GetToolkitResponse {
            toolkit: Some(toolkit.proto.clone()),
        }))
    }

    async fn list_tools(
        &self,
        request: Request<ListToolsRequest>,
    ) -> Result<Response<ListToolsResponse>, Status> {
        auth::project(&self.state, request.metadata()).await?;
        let req = request.into_inner();
        let size = page_size(req.page_size, "page_size")?;
        let after = decode_token(&req.page_token, "page_token")?;
        for (i, slug) in req.toolkits.iter().enumerate() {
            if self.state.catalog.toolkit(slug).is_none() {
                return Err(Error::invalid(
                    switchboard_core::reason::UNKNOWN_TOOLKIT,
                    format!("toolkits[{i}]"),
                    format!("unknown toolkit {slug:?}"),
                )
                .into());
            }
        }
        let needle = req.search.trim().to_lowercase();
        let tools = self
            .state
            .catalog
            .toolkits()
            .filter(|tk| req.toolkits.is_empty() || req.toolkits.contains(&tk.slug))
            .flat_map(|tk| tk.tools.iter())
            .filter(|t| req.tags.iter().all(|tag| t.has_tag(tag)))
            .filter(|t| t.matches(&needle));
        let (page, next) = page_by_key(
            tools,
            |t| format!("{}/{}", t.toolkit, t.slug),
            after.as_deref(),
            size,
        );
        Ok(Response::new(ListToolsResponse {
            tools: page.into_iter().map(|t| t.proto.clone()).collect(),
            next_page_token: next,
        }))
    }

    async fn list_trigger_types(
        &self,
        request: Request<switchboard_proto::v1::ListTriggerTypesRequest>,
    ) -> Result<Response<switchboard_proto::v1::ListTriggerTypesResponse>, Status> {
        auth::project(&self.state, request.metadata()).await?;
        let wanted = &request.get_ref().toolkits;
        for (i, slug) in wanted.iter().enumerate() {
            if self.state.catalog.toolkit(slug).is_none() {
                return Err(Error::invalid(
                    switchboard_core::reason::UNKNOWN_TOOLKIT,
                    format!("toolkits[{i}]"),
                    format!("unknown toolkit {slug:?}"),
                )
                .into());
            }
        }
        let trigger_types = self
            .state
            .catalog
            .trigger_types()
            .filter(|t| wanted.is_empty() || wanted.contains(&t.toolkit))
            .map(|t| trigger_type_proto(t))
            .collect();
        Ok(Response::new(
            switchboard_proto::v1::ListTriggerTypesResponse { trigger_types },
        ))
    }

    async fn get_trigger_type(
        &self,
        request: Request<switchboard_proto::v1::GetTriggerTypeRequest>,
    ) -> Result<Response<switchboard_proto::v1::GetTriggerTypeResponse>, Status> {
        auth::project(&self.state, request.metadata()).await?;
        let slug = required(&request.get_ref().slug, "slug")?;
        let found = self.state.catalog.trigger_type(slug).ok_or_else(|| {
            Error::not_found(
                switchboard_core::reason::TRIGGER_TYPE_NOT_FOUND,
                format!("trigger type {slug:?} not found"),
            )
        })?;
        Ok(Response::new(
            switchboard_proto::v1::GetTriggerTypeResponse {
                trigger_type: Some(trigger_type_proto(found)),
            },
        ))
    }

    async fn get_tool(
        &self,
        request: Request<GetToolRequest>,
    ) -> Result<Response<GetToolResponse>, Status> {
        auth::project(&self.state, request.metadata()).await?;
        let slug = required(&request.get_ref().slug, "slug")?;
        let tool = self.state.catalog.tool(slug).ok_or_else(|| {
            Error::not_found(
                switchboard_core::reason::TOOL_NOT_FOUND,
                format!("tool {slug:?} not found"),
            )
        })?;
        Ok(Response::new(GetToolResponse {
            tool: Some(tool.proto.clone()),
        }))
    }
}

fn trigger_type_proto(t: &switchboard_catalog::TriggerType) -> switchboard_proto::v1::TriggerType {
    switchboard_proto::v1::TriggerType {
        slug: t.slug.clone(),
        name: t.spec.name.clone(),
        description: t.spec.description.clone(),
        toolkit: t.toolkit.clone(),
        kind: t.kind().to_owned(),
        config_schema: Some(switchboard_proto::json_to_struct(&t.spec.config_schema)),
        payload_schema: Some(switchboard_proto::json_to_struct(&t.spec.payload_schema)),
    }
}
