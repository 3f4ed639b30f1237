//! CatalogService: the toolkits and tools of the platform, independent of any session.

use switchboard_core::page::{decode_token, page_by_key, page_size};
use switchboard_core::Error;
use switchboard_proto::v1::{
    GetToolRequest, GetToolResponse, GetToolkitRequest, GetToolkitResponse, ListToolkitsRequest,
    ListToolkitsResponse, ListToolsRequest, ListToolsResponse,
};

use crate::app::required;
use crate::state::AppState;

pub async fn list_toolkits(
    state: &AppState,
    project: &str,
    req: ListToolkitsRequest,
) -> Result<ListToolkitsResponse, Error> {
    let catalog = state.catalogs.for_project(project).await?;
    let size = page_size(req.page_size, "page_size")?;
    let after = decode_token(&req.page_token, "page_token")?;
    let needle = req.search.trim().to_lowercase();
    let (page, next) = page_by_key(
        catalog.toolkits().filter(|t| t.matches(&needle)),
        |t| t.slug.clone(),
        after.as_deref(),
        size,
    );
    Ok(ListToolkitsResponse {
        toolkits: page.into_iter().map(|t| t.proto.clone()).collect(),
        next_page_token: next,
    })
}

pub async fn get_toolkit(
    state: &AppState,
    project: &str,
    request: GetToolkitRequest,
) -> Result<GetToolkitResponse, Error> {
    let catalog = state.catalogs.for_project(project).await?;
    let slug = required(&request.slug, "slug")?;
    let toolkit = catalog.toolkit(slug).ok_or_else(|| {
        Error::not_found(
            switchboard_core::reason::TOOLKIT_NOT_FOUND,
            format!("toolkit {slug:?} not found"),
        )
    })?;
    Ok(GetToolkitResponse {
        toolkit: Some(toolkit.proto.clone()),
    })
}

pub async fn list_tools(
    state: &AppState,
    project: &str,
    req: ListToolsRequest,
) -> Result<ListToolsResponse, Error> {
    let catalog = state.catalogs.for_project(project).await?;
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
    let needle = req.search.trim().to_lowercase();
    let tools = catalog
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
    Ok(ListToolsResponse {
        tools: page.into_iter().map(|t| t.proto.clone()).collect(),
        next_page_token: next,
    })
}

pub async fn list_trigger_types(
    state: &AppState,
    project: &str,
    request: switchboard_proto::v1::ListTriggerTypesRequest,
) -> Result<switchboard_proto::v1::ListTriggerTypesResponse, Error> {
    let catalog = state.catalogs.for_project(project).await?;
    let wanted = &request.toolkits;
    for (i, slug) in wanted.iter().enumerate() {
        if catalog.toolkit(slug).is_none() {
            return Err(Error::invalid(
                switchboard_core::reason::UNKNOWN_TOOLKIT,
                format!("toolkits[{i}]"),
                format!("unknown toolkit {slug:?}"),
            ));
        }
    }
    let trigger_types = catalog
        .trigger_types()
        .filter(|t| wanted.is_empty() || wanted.contains(&t.toolkit))
        .map(|t| trigger_type_proto(t))
        .collect();
    Ok(switchboard_proto::v1::ListTriggerTypesResponse { trigger_types })
}

pub async fn get_trigger_type(
    state: &AppState,
    project: &str,
    request: switchboard_proto::v1::GetTriggerTypeRequest,
) -> Result<switchboard_proto::v1::GetTriggerTypeResponse, Error> {
    let catalog = state.catalogs.for_project(project).await?;
    let slug = required(&request.slug, "slug")?;
    let found = catalog.trigger_type(slug).ok_or_else(|| {
        Error::not_found(
            switchboard_core::reason::TRIGGER_TYPE_NOT_FOUND,
            format!("trigger type {slug:?} not found"),
        )
    })?;
    Ok(switchboard_proto::v1::GetTriggerTypeResponse {
        trigger_type: Some(trigger_type_proto(found)),
    })
}

pub async fn get_tool(
    state: &AppState,
    project: &str,
    request: GetToolRequest,
) -> Result<GetToolResponse, Error> {
    let catalog = state.catalogs.for_project(project).await?;
    let slug = required(&request.slug, "slug")?;
    let tool = catalog.tool(slug).ok_or_else(|| {
        Error::not_found(
            switchboard_core::reason::TOOL_NOT_FOUND,
            format!("tool {slug:?} not found"),
        )
    })?;
    Ok(GetToolResponse {
        tool: Some(tool.proto.clone()),
    })
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
