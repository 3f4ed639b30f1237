//! Short forms of the calls tests make again and again, and of what they read out of answers.

use switchboard_proto::v1::{
    create_connected_account_request, BearerTokenCredential, ConnectedAccount,
    CreateAuthConfigRequest, CreateConnectedAccountRequest, CreateSessionRequest,
    CreateSessionResponse, GetSessionRequest, ListToolkitsRequest, Session, SessionConfig, Tool,
};
use tonic::Status;

use crate::{create_req, toolkits_config, Sessions, Stack, TestProject};

/// Creates a session for `user` with `config`; panics, naming the user, when refused.
pub async fn create(s: &mut Sessions, user: &str, config: SessionConfig) -> CreateSessionResponse {
    s.create_session(create_req(user, config))
        .await
        .unwrap_or_else(|e| panic!("create session for {user:?}: {e:?}"))
        .into_inner()
}

/// The session [`create`] made.
pub async fn create_session(s: &mut Sessions, user: &str, config: SessionConfig) -> Session {
    create(s, user, config).await.session.expect("session")
}

/// Creates a session for `user` with a request that carries no config at all.
pub async fn create_without_config(s: &mut Sessions, user: &str) -> Result<Session, Status> {
    s.create_session(CreateSessionRequest {
        user_id: user.into(),
        config: None,
    })
    .await
    .map(|r| r.into_inner().session.expect("session in response"))
}

pub async fn get_session(s: &mut Sessions, id: &str) -> Result<Session, Status> {
    s.get_session(GetSessionRequest {
        session_id: id.to_owned(),
    })
    .await
    .map(|r| r.into_inner().session.expect("session in response"))
}

/// Every toolkit slug of the catalog, sorted, as the holder of `api_key` lists them.
pub async fn catalog_toolkit_slugs(stack: &Stack, api_key: &str) -> Vec<String> {
    let mut c = stack.catalog(Some(api_key));
    let mut all: Vec<String> = c
        .list_toolkits(ListToolkitsRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("catalog toolkits")
        .into_inner()
        .toolkits
        .into_iter()
        .map(|t| t.slug)
        .collect();
    all.sort();
    all
}

/// Tool slugs in listed order (readable in a failure, unlike whole tools).
pub fn tool_slugs(tools: &[Tool]) -> Vec<String> {
    tools.iter().map(|t| t.slug.clone()).collect()
}

/// In `project`: a GitHub `BEARER_TOKEN` auth config named `auth_config_name`, a connected
/// account on it for `user` (with `alias` and `token`), and a session for `user` with the
/// `github` toolkit. Panics when any of the three is refused.
pub async fn github_account_session(
    stack: &Stack,
    project: &TestProject,
    auth_config_name: &str,
    user: &str,
    alias: &str,
    token: &str,
) -> (ConnectedAccount, Session) {
    let mut connections = stack.connections(Some(&project.api_key));
    let auth_config = connections
        .create_auth_config(CreateAuthConfigRequest {
            toolkit: "github".into(),
            scheme: "BEARER_TOKEN".into(),
            name: auth_config_name.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("create GitHub auth config: {e:?}"))
        .into_inner()
        .auth_config
        .expect("auth config in response");
    let account = connections
        .create_connected_account(CreateConnectedAccountRequest {
            user_id: user.into(),
            auth_config_id: auth_config.id,
            alias: alias.into(),
            credential: Some(create_connected_account_request::Credential::BearerToken(
                BearerTokenCredential {
                    token: token.into(),
                },
            )),
        })
        .await
        .unwrap_or_else(|e| panic!("connect GitHub account for {user:?}: {e:?}"))
        .into_inner()
        .connected_account
        .expect("connected account in response");
    let session = create_session(
        &mut stack.sessions(Some(&project.api_key)),
        user,
        toolkits_config(&["github"]),
    )
    .await;
    (account, session)
}
