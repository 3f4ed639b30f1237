//! Connecting accounts with OAuth 2.0, end to end: SessionService.Authorize → the Connect
//! Link → the provider (a local stand-in enforcing RFC 6749 and RFC 7636: exact redirect URI,
//! PKCE, client authentication, single-use codes) → the callback → an ACTIVE account → a tool
//! call with its token, refresh (one at a time across workers, rotation, `invalid_grant`),
//! failures, isolation, several accounts, revocation, and no secret anywhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use switchboard_config::{Config, OAuthProviderConfig};
use switchboard_proto::v1::*;
use switchboard_testkit::build::*;
use switchboard_testkit::calls::*;
use switchboard_testkit::inspect::{contains, redis_dump};
use switchboard_testkit::oauth_provider::{
    ClientAuthMethod, Decision, OAuthProvider, ProviderOptions,
};
use switchboard_testkit::workers::Workers;
use switchboard_testkit::*;
use tonic::Code;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_ID: &str = "Iv1.stand-in-client";
const CLIENT_SECRET: &str = "cs_3e1f:+/=&%secret";

/// A stack whose `toolkit` talks to a provider stand-in (OAuth endpoints and API), and a
/// backend callback page.
struct Flow {
    stack: Stack,
    provider: OAuthProvider,
    project: TestProject,
    callback: MockServer,
    toolkit: &'static str,
}

impl Flow {
    async fn start(toolkit: &'static str, options: ProviderOptions) -> Flow {
        Flow::start_with(toolkit, options, |_| {}).await
    }

    async fn start_with(
        toolkit: &'static str,
        options: ProviderOptions,
        tweak: impl FnOnce(&mut Config),
    ) -> Flow {
        let provider = OAuthProvider::start(options).await;
        let mut config = test_config();
        config.oauth.providers.insert(
            toolkit.into(),
            OAuthProviderConfig {
                client_id: Some(CLIENT_ID.into()),
                client_secret: Some(CLIENT_SECRET.into()),
                authorize_url: Some(provider.authorize_url()),
                token_url: Some(provider.token_url()),
                revoke_url: Some(provider.revoke_url()),
            },
        );
        config
            .catalog
            .base_urls
            .insert(toolkit.into(), provider.url());
        tweak(&mut config);
        let stack = Stack::spawn_with(config).await;
        provider.set_redirect_uri(&format!("http://{}/oauth/callback", stack.http_addr));
        let project = stack.project().await;
        let callback = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/connected"))
            .respond_with(ResponseTemplate::new(200).set_body_string("back in the app"))
            .mount(&callback)
            .await;
        Flow {
            stack,
            provider,
            project,
            callback,
            toolkit,
        }
    }

    fn callback_url(&self) -> String {
        format!("{}/connected?from=app", self.callback.uri())
    }

    async fn session(&self, user: &str, multi: Option<MultiAccount>) -> Session {
        let mut config = toolkits_config(&[self.toolkit]);
        config.multi_account = multi;
        create_session(
            &mut self.stack.sessions(Some(&self.project.api_key)),
            user,
            config,
        )
        .await
    }

    async fn authorize(&self, session: &Session, alias: &str) -> ConnectionRequest {
        self.stack
            .sessions(Some(&self.project.api_key))
            .authorize(AuthorizeRequest {
                session_id: session.id.clone(),
                toolkit: self.toolkit.into(),
                alias: alias.into(),
                callback_url: self.callback_url(),
                scopes: vec![],
            })
            .await
            .expect("authorize")
            .into_inner()
            .connection_request
            .expect("connection request")
    }

    async fn wait(
        &self,
        session: &Session,
        request: &ConnectionRequest,
    ) -> Result<WaitForConnectionResponse, tonic::Status> {
        self.stack
            .sessions(Some(&self.project.api_key))
            .wait_for_connection(WaitForConnectionRequest {
                session_id: session.id.clone(),
                connection_request_id: request.id.clone(),
                timeout: Some(prost_types::Duration {
                    seconds: 20,
                    nanos: 0,
                }),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    async fn account(&self, id: &str) -> ConnectedAccount {
        self.stack
            .connections(Some(&self.project.api_key))
            .get_connected_account(GetConnectedAccountRequest {
                connected_account_id: id.into(),
            })
            .await
            .expect("get account")
            .into_inner()
            .connected_account
            .expect("account")
    }

    async fn execute(
        &self,
        session: &Session,
        tool: &str,
        account: &str,
    ) -> Result<ExecuteToolResponse, tonic::Status> {
        self.stack
            .sessions(Some(&self.project.api_key))
            .execute_tool(ExecuteToolRequest {
                session_id: session.id.clone(),
                tool_slug: tool.into(),
                arguments_json: "{}".into(),
                account: account.into(),
                mode: ExecutionMode::Sync as i32,
                ..Default::default()
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Follows a Connect Link as a browser would, and returns every hop's status and location.
    async fn follow(&self, link: &str) -> Vec<Hop> {
        follow(link).await
    }

    /// Authorize + follow + wait: an ACTIVE account.
    async fn connect(&self, session: &Session, alias: &str) -> ConnectedAccount {
        let request = self.authorize(session, alias).await;
        let hops = self.follow(&request.redirect_url).await;
        assert!(
            hops.last().unwrap().url.starts_with(&self.callback.uri()),
            "ends at the app: {hops:?}"
        );
        let done = self.wait(session, &request).await.expect("wait");
        assert_eq!(done.connection_request.unwrap().status, "ACTIVE");
        done.connected_account.unwrap()
    }
}

#[derive(Debug, Clone)]
struct Hop {
    url: String,
    status: u16,
    location: Option<String>,
    body: String,
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(url: &str) -> Hop {
    let response = browser().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap_or_default();
    Hop {
        url: url.to_owned(),
        status,
        location,
        body,
    }
}

async fn follow(start: &str) -> Vec<Hop> {
    let mut hops = Vec::new();
    let mut url = start.to_owned();
    for _ in 0..10 {
        let hop = get(&url).await;
        let next = hop.location.clone();
        hops.push(hop);
        match next {
            Some(next) => url = next,
            None => return hops,
        }
    }
    panic!("too many redirects: {hops:?}");
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn github_options() -> ProviderOptions {
    let mut options = ProviderOptions::new(CLIENT_ID, CLIENT_SECRET, "http://unset.invalid/");
    // github.yaml: client_secret_post with PKCE.
    options.client_auth = ClientAuthMethod::Post;
    options.pkce = true;
    options
}

#[tokio::test]
async fn authorize_link_callback_wait_then_a_call_with_the_new_token() {
    let flow = Flow::start("github", github_options()).await;
    let session = flow.session("ada", None).await;
    let request = flow.authorize(&session, "work").await;
    assert_eq!(request.status, "INITIATED");
    assert!(request.id.starts_with("cr_"));
    assert!(request
        .redirect_url
        .starts_with(&format!("http://{}/connect/", flow.stack.http_addr)));
    let pending = flow.account(&request.connected_account_id).await;
    assert_eq!(
        (
            pending.status.as_str(),
            pending.user_id.as_str(),
            pending.alias.as_str()
        ),
        ("INITIATED", "ada", "work")
    );

    // WaitForConnection is pushed the end, not polled by the client.
    let waiter = {
        let sessions = flow.stack.sessions(Some(&flow.project.api_key));
        let req = WaitForConnectionRequest {
            session_id: session.id.clone(),
            connection_request_id: request.id.clone(),
            timeout: Some(prost_types::Duration {
                seconds: 20,
                nanos: 0,
            }),
        };
        tokio::spawn(async move { sessions.clone().wait_for_connection(req).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished());

    let hops = flow.follow(&request.redirect_url).await;
    // Link → provider authorize → gateway callback → the app's callback URL.
    assert_eq!(hops.len(), 4, "{hops:?}");
    assert_eq!(hops[0].status, 302);
    assert!(hops[0]
        .location
        .as_ref()
        .unwrap()
        .starts_with(&flow.provider.authorize_url()));
    assert!(hops[2]
        .url
        .starts_with(&format!("http://{}/oauth/callback?", flow.stack.http_addr)));
    let back = query(&hops[3].url);
    assert_eq!(back["status"], "ACTIVE");
    assert_eq!(back["connected_account_id"], request.connected_account_id);
    assert_eq!(back["connection_request_id"], request.id);
    assert_eq!(back["from"], "app", "the app's own query is kept");

    let authorize = &flow.provider.authorize_requests()[0];
    assert_eq!(authorize["code_challenge_method"], "S256");
    assert_eq!(authorize["scope"], "repo read:user");
    assert_eq!(
        authorize["redirect_uri"],
        format!("http://{}/oauth/callback", flow.stack.http_addr)
    );
    let token = &flow.provider.token_requests()[0];
    assert_eq!(token["grant_type"], "authorization_code");
    assert_eq!(token["client_id"], CLIENT_ID);
    assert!(token.contains_key("code_verifier"));

    let done = waiter.await.unwrap().expect("wait").into_inner();
    assert_eq!(done.connection_request.as_ref().unwrap().status, "ACTIVE");
    let account = done.connected_account.clone().unwrap();
    assert_eq!(account.id, request.connected_account_id);
    assert_eq!(
        (
            account.status.as_str(),
            account.identity.as_str(),
            account.scheme.as_str()
        ),
        ("ACTIVE", "octocat", "OAUTH2")
    );
    assert!(account.token_expire_time.is_some());

    // The session's toolkit listing shows the connection, through the managed app.
    let toolkits = flow
        .stack
        .sessions(Some(&flow.project.api_key))
        .list_session_toolkits(ListSessionToolkitsRequest {
            session_id: session.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .toolkits;
    let github = toolkits.iter().find(|t| t.slug == "github").unwrap();
    let connection = github.connection.as_ref().unwrap();
    assert!(connection.is_active);
    assert_eq!(connection.status, "ACTIVE");
    let auth_config = connection.auth_config.as_ref().unwrap();
    assert_eq!(
        (auth_config.mode.as_str(), auth_config.is_managed),
        ("OAUTH2", true)
    );

    // The agent's next call runs with that account's access token.
    let workers = Workers::spawn(&flow.stack.config, 1);
    let result = flow
        .execute(&session, "GITHUB_GET_AUTHENTICATED_USER", "")
        .await
        .unwrap();
    let execution = result.execution.unwrap();
    assert_eq!(
        execution.status(),
        ExecutionStatus::Succeeded,
        "{execution:?}"
    );
    assert_eq!(execution.account.as_ref().unwrap().id, account.id);
    let calls = flow.provider.api_calls();
    let call = calls.iter().rev().find(|c| c.path == "/user").unwrap();
    assert_eq!(call.login, "octocat");

    // Replaying the callback (same code and state) changes nothing.
    let replay = get(&hops[2].url).await;
    assert_eq!(replay.status, 400, "{replay:?}");
    assert!(replay.location.is_none());
    // The link is spent.
    assert_eq!(get(&request.redirect_url).await.status, 404);
    assert_eq!(flow.account(&account.id).await.status, "ACTIVE");
    assert_eq!(flow.provider.code_exchanges(), 1);

    // Nothing stored or returned holds a token, the code, the verifier or the client secret.
    let mut secrets = flow.provider.issued_secrets();
    secrets.push(CLIENT_SECRET.into());
    secrets.push(token["code_verifier"].clone());
    let dump = redis_dump(&flow.stack).await;
    let shown = format!("{request:?}{done:?}{execution:?}");
    for secret in &secrets {
        assert!(!shown.contains(secret.as_str()), "a reply holds a secret");
        for (key, values) in &dump {
            for value in values {
                assert!(!contains(value, secret.as_bytes()), "{key} holds a secret");
            }
        }
    }
    workers.stop().await;
    flow.stack.stop().await;
}

#[tokio::test]
async fn wait_and_requests_are_invisible_to_other_projects_users_and_sessions() {
    let flow = Flow::start("github", github_options()).await;
    let session = flow.session("ada", None).await;
    let request = flow.authorize(&session, "").await;
    let other_session_same_user = flow.session("ada", None).await;
    let other_user = flow.session("bob", None).await;
    let other_project = flow.stack.project().await;
    let other_project_session = create_session(
        &mut flow.stack.sessions(Some(&other_project.api_key)),
        "ada",
        toolkits_config(&["github"]),
    )
    .await;
    for (who, api_key, session_id) in [
        (
            "another session of the same user",
            &flow.project.api_key,
            &other_session_same_user.id,
        ),
        (
            "another user's session",
            &flow.project.api_key,
            &other_user.id,
        ),
        (
            "another project",
            &other_project.api_key,
            &other_project_session.id,
        ),
        (
            "another project naming the right session",
            &other_project.api_key,
            &session.id,
        ),
    ] {
        let status = flow
            .stack
            .sessions(Some(api_key))
            .wait_for_connection(WaitForConnectionRequest {
                session_id: session_id.clone(),
                connection_request_id: request.id.clone(),
                timeout: Some(prost_types::Duration {
                    seconds: 1,
                    nanos: 0,
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{who}: {status:?}");
    }
    // The account being connected is also another project's business only.
    let status = flow
        .stack
        .connections(Some(&other_project.api_key))
        .get_connected_account(GetConnectedAccountRequest {
            connected_account_id: request.connected_account_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let pending = flow.authorize(&session, "second").await;
    // Completing the link connects ada's account, never anyone else's.
    flow.follow(&request.redirect_url).await;
    let done = flow.wait(&session, &request).await.unwrap();
    assert_eq!(done.connected_account.unwrap().user_id, "ada");
    let bob = flow
        .stack
        .connections(Some(&flow.project.api_key))
        .list_connected_accounts(ListConnectedAccountsRequest {
            user_id: "bob".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(bob.connected_accounts.is_empty());

    // A pending wait times out clearly.
    let status = flow
        .stack
        .sessions(Some(&flow.project.api_key))
        .wait_for_connection(WaitForConnectionRequest {
            session_id: session.id.clone(),
            connection_request_id: pending.id.clone(),
            timeout: Some(prost_types::Duration {
                seconds: 0,
                nanos: 300_000_000,
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(
        expect_error(&status, Code::DeadlineExceeded).0,
        "CONNECTION_PENDING"
    );
    flow.stack.stop().await;
}

#[tokio::test]
async fn basic_client_auth_without_pkce() {
    // slack.yaml: client_secret_basic, no PKCE.
    let mut options = ProviderOptions::new(CLIENT_ID, CLIENT_SECRET, "http://unset.invalid/");
    options.client_auth = ClientAuthMethod::Basic;
    options.pkce = false;
    let flow = Flow::start("slack", options).await;
    let session = flow.session("ada", None).await;
    let account = flow.connect(&session, "").await;
    assert_eq!(account.status, "ACTIVE");
    let authorize = &flow.provider.authorize_requests()[0];
    assert!(
        !authorize.contains_key("code_challenge"),
        "no PKCE for a provider without it"
    );
    let token = &flow.provider.token_requests()[0];
    assert!(!token.contains_key("code_verifier"));
    assert!(
        !token.contains_key("client_secret"),
        "Basic keeps the secret out of the body"
    );
    flow.stack.stop().await;
}

#[tokio::test]
async fn refusal_unknown_state_expired_link_and_no_open_redirect() {
    let flow = Flow::start("github", github_options()).await;
    let link_ttl = Duration::from_secs(flow.stack.config.oauth.link_ttl_secs);
    let session = flow.session("ada", None).await;

    // The user says no.
    flow.provider.set_decision(Decision::Deny);
    let denied = flow.authorize(&session, "").await;
    let hops = flow.follow(&denied.redirect_url).await;
    let back = query(&hops.last().unwrap().url);
    assert_eq!(
        (back["status"].as_str(), back["reason"].as_str()),
        ("FAILED", "access_denied")
    );
    let done = flow.wait(&session, &denied).await.unwrap();
    assert_eq!(done.connection_request.as_ref().unwrap().status, "FAILED");
    let account = done.connected_account.unwrap();
    assert_eq!(account.status, "FAILED");
    assert!(
        account.status_reason.contains("access_denied"),
        "{}",
        account.status_reason
    );
    assert_eq!(flow.provider.code_exchanges(), 0);

    // Unknown, forged or missing state: a clear page, no redirect anywhere.
    flow.provider.set_decision(Decision::Grant {
        login: "octocat".into(),
    });
    let base = format!("http://{}/oauth/callback", flow.stack.http_addr);
    for q in [
        "code=abc&state=nope".to_owned(),
        format!("code=abc&state={}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", flow.project.id),
        "code=abc".to_owned(),
        "code=abc&state=x&redirect_uri=https%3A%2F%2Fevil.example%2F&callback_url=https%3A%2F%2Fevil.example%2F".to_owned(),
    ] {
        let hop = get(&format!("{base}?{q}")).await;
        assert_eq!(hop.status, 400, "{q}: {hop:?}");
        assert!(hop.location.is_none(), "{q} redirected: {hop:?}");
        assert!(!hop.body.contains("evil.example"));
    }

    // A callback URL that is not an absolute http(s) URL is refused at Authorize.
    for bad in [
        "javascript:alert(1)",
        "/relative",
        "https://user:pw@example.com/",
        "ftp://example.com/",
    ] {
        let status = flow
            .stack
            .sessions(Some(&flow.project.api_key))
            .authorize(AuthorizeRequest {
                session_id: session.id.clone(),
                toolkit: "github".into(),
                callback_url: bad.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        let (reason, field) = expect_error(&status, Code::InvalidArgument);
        assert_eq!(
            (reason.as_str(), field.as_str()),
            ("INVALID_CALLBACK_URL", "callback_url"),
            "{bad}"
        );
    }

    // A link followed too late.
    let late = flow.authorize(&session, "late").await;
    flow.stack.clock.advance(link_ttl + Duration::from_secs(1));
    let hop = get(&late.redirect_url).await;
    assert!(matches!(hop.status, 404 | 410), "{hop:?}");
    let done = flow.wait(&session, &late).await.unwrap();
    assert_eq!(done.connection_request.unwrap().status, "EXPIRED");
    assert_eq!(done.connected_account.unwrap().status, "EXPIRED");

    // A state taken from a started flow and used after the link expired is refused.
    let started = flow.authorize(&session, "started").await;
    let first = get(&started.redirect_url).await;
    let at_provider = get(first.location.as_ref().unwrap()).await;
    let callback = at_provider.location.unwrap();
    flow.stack.clock.advance(link_ttl + Duration::from_secs(1));
    let hop = get(&callback).await;
    assert!(matches!(hop.status, 400 | 410), "{hop:?}");
    assert!(hop.location.is_none());
    assert_ne!(
        flow.account(&started.connected_account_id).await.status,
        "ACTIVE"
    );
    flow.stack.stop().await;
}

#[tokio::test]
async fn refresh_before_expiry_once_across_workers_with_rotation_and_invalid_grant() {
    let mut options = github_options();
    // Shorter than the 300 s refresh margin: every use finds the token due.
    options.access_token_ttl_secs = Some(60);
    options.token_delay = Duration::from_millis(300);
    let flow = Flow::start("github", options).await;
    let session = flow.session("ada", None).await;
    let account = flow.connect(&session, "").await;
    let first_refresh_token = flow.provider.token_requests().len();
    assert_eq!(first_refresh_token, 1);
    let workers = Workers::spawn(&flow.stack.config, 3);

    // 20 concurrent calls on a due token: exactly one refresh; all succeed with the new token.
    let calls = futures::stream::iter(0..20)
        .map(|_| flow.execute(&session, "GITHUB_GET_AUTHENTICATED_USER", ""))
        .buffer_unordered(20)
        .collect::<Vec<_>>()
        .await;
    for call in &calls {
        let execution = call.as_ref().unwrap().execution.clone().unwrap();
        assert_eq!(
            execution.status(),
            ExecutionStatus::Succeeded,
            "{execution:?}"
        );
    }
    assert_eq!(flow.provider.refresh_calls(), 1, "one refresh for 20 calls");
    let api = flow.provider.api_calls();
    assert!(
        api.iter()
            .filter(|c| c.path == "/user")
            .all(|c| !c.login.is_empty()),
        "every call had a valid token"
    );

    // Rotation: the next refresh presents the rotated refresh token (the stand-in refuses the
    // old one), and succeeds.
    let result = flow
        .execute(&session, "GITHUB_GET_AUTHENTICATED_USER", "")
        .await
        .unwrap();
    assert_eq!(
        result.execution.unwrap().status(),
        ExecutionStatus::Succeeded
    );
    assert_eq!(flow.provider.successful_refreshes(), 2);
    let requests = flow.provider.token_requests();
    assert_ne!(requests[1]["refresh_token"], requests[2]["refresh_token"]);

    // A transient token endpoint failure is retried; the account stays ACTIVE.
    flow.provider.fail_token_requests(1);
    let result = flow
        .execute(&session, "GITHUB_GET_AUTHENTICATED_USER", "")
        .await
        .unwrap();
    assert_eq!(
        result.execution.unwrap().status(),
        ExecutionStatus::Succeeded
    );
    assert_eq!(flow.account(&account.id).await.status, "ACTIVE");

    // invalid_grant: the account EXPIRED, the call fails clearly, and the event is on the bus.
    let nats = nats_client(&flow.stack.config.nats.url).await;
    let mut events = nats
        .subscribe(switchboard_bus::Names::from_config(&flow.stack.config.nats).events_wildcard())
        .await
        .unwrap();
    nats.flush().await.unwrap();
    flow.provider.revoke_all_refresh_tokens();
    let result = flow
        .execute(&session, "GITHUB_GET_AUTHENTICATED_USER", "")
        .await
        .unwrap();
    let execution = result.execution.unwrap();
    assert_eq!(execution.status(), ExecutionStatus::Failed);
    assert_eq!(execution.error.as_ref().unwrap().code, "ACCOUNT_EXPIRED");
    let expired = flow.account(&account.id).await;
    assert_eq!(expired.status, "EXPIRED");
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap();
    assert!(event
        .subject
        .as_str()
        .ends_with(&format!(".{}.account", account.id)));
    let payload = switchboard_bus::events::Envelope::decode(&event.payload).unwrap();
    assert_eq!(payload.kind, "connected_account.expired");
    assert_eq!(payload.metadata.connected_account_id, account.id);
    assert_eq!(payload.metadata.user_id, "ada");
    let text = String::from_utf8_lossy(&event.payload).to_string();
    for secret in flow.provider.issued_secrets() {
        assert!(!text.contains(&secret), "the event holds a token");
    }
    workers.stop().await;
    flow.stack.stop().await;
}

#[tokio::test]
async fn a_revoked_access_token_is_refreshed_once_after_401() {
    let flow = Flow::start("github", github_options()).await;
    let session = flow.session("ada", None).await;
    flow.connect(&session, "").await;
    let workers = Workers::spawn(&flow.stack.config, 2);
    flow.provider.expire_access_tokens();
    let calls = futures::stream::iter(0..10)
        .map(|_| flow.execute(&session, "GITHUB_GET_AUTHENTICATED_USER", ""))
        .buffer_unordered(10)
        .collect::<Vec<_>>()
        .await;
    for call in calls {
        assert_eq!(
            call.unwrap().execution.unwrap().status(),
            ExecutionStatus::Succeeded
        );
    }
    assert_eq!(flow.provider.refresh_calls(), 1);
    workers.stop().await;
    flow.stack.stop().await;
}

#[tokio::test]
async fn two_github_accounts_for_one_user_each_call_on_the_chosen_one() {
    let flow = Flow::start("github", github_options()).await;
    let multi = MultiAccount {
        enable: true,
        max_accounts_per_toolkit: Some(3),
        require_explicit_selection: true,
    };
    let session = flow.session("ada", Some(multi)).await;
    flow.provider.set_decision(Decision::Grant {
        login: "ada-at-work".into(),
    });
    let work = flow.connect(&session, "work").await;
    flow.provider.set_decision(Decision::Grant {
        login: "ada-at-home".into(),
    });
    let personal = flow.connect(&session, "personal").await;
    assert_eq!(
        (work.identity.as_str(), personal.identity.as_str()),
        ("ada-at-work", "ada-at-home")
    );
    let listed = flow
        .stack
        .connections(Some(&flow.project.api_key))
        .list_connected_accounts(ListConnectedAccountsRequest {
            user_id: "ada".into(),
            toolkit: "github".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .connected_accounts;
    let names: Vec<(&str, &str)> = listed
        .iter()
        .map(|a| (a.alias.as_str(), a.identity.as_str()))
        .collect();
    assert_eq!(
        names,
        [("work", "ada-at-work"), ("personal", "ada-at-home")]
    );

    let workers = Workers::spawn(&flow.stack.config, 1);
    for (choice, login) in [
        ("work", "ada-at-work"),
        ("personal", "ada-at-home"),
        (work.id.as_str(), "ada-at-work"),
    ] {
        let result = flow
            .execute(&session, "GITHUB_GET_AUTHENTICATED_USER", choice)
            .await
            .unwrap();
        assert_eq!(
            result.execution.unwrap().status(),
            ExecutionStatus::Succeeded
        );
        assert_eq!(
            flow.provider.api_calls().last().unwrap().login,
            login,
            "{choice}"
        );
    }
    let status = flow
        .execute(&session, "GITHUB_GET_AUTHENTICATED_USER", "")
        .await
        .unwrap_err();
    let (reason, _) = expect_error(&status, Code::FailedPrecondition);
    assert_eq!(reason, "ACCOUNT_SELECTION_REQUIRED");
    assert!(
        status.message().contains("work") && status.message().contains("personal"),
        "{}",
        status.message()
    );

    // Reconnecting "work" keeps its id; a refused reconnect leaves it working.
    flow.provider.set_decision(Decision::Deny);
    let again = flow.authorize(&session, "work").await;
    assert_eq!(again.connected_account_id, work.id);
    flow.follow(&again.redirect_url).await;
    assert_eq!(
        flow.wait(&session, &again)
            .await
            .unwrap()
            .connection_request
            .unwrap()
            .status,
        "FAILED"
    );
    assert_eq!(flow.account(&work.id).await.status, "ACTIVE");
    workers.stop().await;
    flow.stack.stop().await;
}

#[tokio::test]
async fn deleting_an_account_revokes_its_grant_at_the_provider() {
    // gmail.yaml: RFC 7009 revocation, client_secret_post, PKCE.
    let flow = Flow::start("gmail", github_options()).await;
    let session = flow.session("ada", None).await;
    let account = flow.connect(&session, "").await;
    flow.stack
        .connections(Some(&flow.project.api_key))
        .delete_connected_account(DeleteConnectedAccountRequest {
            connected_account_id: account.id.clone(),
        })
        .await
        .unwrap();
    let issued = flow.provider.token_requests();
    assert_eq!(issued.len(), 1);
    let revoked = flow.provider.revoked();
    assert_eq!(revoked.len(), 1, "one grant revoked");
    assert!(flow.provider.issued_secrets().contains(&revoked[0]));
    flow.stack.stop().await;
}

#[tokio::test]
async fn authorize_refuses_bad_input_and_stores_nothing() {
    let flow = Flow::start("github", github_options()).await;
    let session = flow
        .session(
            "ada",
            Some(MultiAccount {
                enable: false,
                ..Default::default()
            }),
        )
        .await;
    let before = flow.stack.key_count().await;
    let base = AuthorizeRequest {
        session_id: session.id.clone(),
        toolkit: "github".into(),
        ..Default::default()
    };
    let cases = [
        (
            "no session",
            AuthorizeRequest {
                session_id: String::new(),
                ..base.clone()
            },
            Code::InvalidArgument,
            "REQUIRED",
        ),
        (
            "unknown session",
            AuthorizeRequest {
                session_id: "ses_01JAAAAAAAAAAAAAAAAAAAAAAA".into(),
                ..base.clone()
            },
            Code::NotFound,
            "SESSION_NOT_FOUND",
        ),
        (
            "unknown toolkit",
            AuthorizeRequest {
                toolkit: "nope".into(),
                ..base.clone()
            },
            Code::InvalidArgument,
            "UNKNOWN_TOOLKIT",
        ),
        (
            "toolkit outside the session",
            AuthorizeRequest {
                toolkit: "slack".into(),
                ..base.clone()
            },
            Code::PermissionDenied,
            "TOOLKIT_NOT_IN_SESSION",
        ),
        (
            "bad alias",
            AuthorizeRequest {
                alias: "a b".into(),
                ..base.clone()
            },
            Code::InvalidArgument,
            "INVALID_ALIAS",
        ),
        (
            "bad scope",
            AuthorizeRequest {
                scopes: vec!["a b".into()],
                ..base.clone()
            },
            Code::InvalidArgument,
            "INVALID_SCOPE",
        ),
    ];
    for (what, req, code, reason) in cases {
        let status = flow
            .stack
            .sessions(Some(&flow.project.api_key))
            .authorize(req)
            .await
            .unwrap_err();
        assert_eq!(expect_error(&status, code).0, reason, "{what}");
    }
    assert_eq!(flow.stack.key_count().await, before, "nothing stored");
    // One account per toolkit without multi-account.
    flow.connect(&session, "").await;
    let status = flow
        .stack
        .sessions(Some(&flow.project.api_key))
        .authorize(base)
        .await
        .unwrap_err();
    assert_eq!(
        expect_error(&status, Code::FailedPrecondition).0,
        "ACCOUNT_LIMIT_REACHED"
    );
    flow.stack.stop().await;
}

#[tokio::test]
async fn a_static_key_through_the_connect_link_form() {
    let stack = Stack::spawn().await;
    let project = stack.project().await;
    stack
        .connections(Some(&project.api_key))
        .create_auth_config(CreateAuthConfigRequest {
            toolkit: "linear".into(),
            scheme: "API_KEY".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let session = create_session(
        &mut stack.sessions(Some(&project.api_key)),
        "ada",
        toolkits_config(&["linear"]),
    )
    .await;
    let request = stack
        .sessions(Some(&project.api_key))
        .authorize(AuthorizeRequest {
            session_id: session.id.clone(),
            toolkit: "linear".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .connection_request
        .unwrap();
    let client = browser();
    let page = client.get(&request.redirect_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie_pair = cookie.split(';').next().unwrap().to_owned();
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    const KEY: &str = "lin_api_form_secret_5e6f7a8b";
    let post = |cookie: Option<String>, form: Vec<(&'static str, String)>| {
        let mut req = client.post(&request.redirect_url).form(&form);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };
    // Without the cookie, or with another token: a cross-site post, refused.
    let refused = post(None, vec![("csrf", csrf.clone()), ("api_key", KEY.into())])
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let forged = post(
        Some("sb_csrf=forged".into()),
        vec![("csrf", "forged".into()), ("api_key", KEY.into())],
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), 403);
    let empty = post(
        Some(cookie_pair.clone()),
        vec![("csrf", csrf.clone()), ("api_key", String::new())],
    )
    .await
    .unwrap();
    assert_eq!(empty.status(), 400);
    let account = stack
        .connections(Some(&project.api_key))
        .get_connected_account(GetConnectedAccountRequest {
            connected_account_id: request.connected_account_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .connected_account
        .unwrap();
    assert_eq!(account.status, "INITIATED");

    let ok = post(
        Some(cookie_pair.clone()),
        vec![("csrf", csrf.clone()), ("api_key", KEY.into())],
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("connected"));
    let done = stack
        .sessions(Some(&project.api_key))
        .wait_for_connection(WaitForConnectionRequest {
            session_id: session.id.clone(),
            connection_request_id: request.id.clone(),
            timeout: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.connected_account.unwrap().status, "ACTIVE");
    // Single use.
    let again = post(
        Some(cookie_pair),
        vec![("csrf", csrf), ("api_key", "other".into())],
    )
    .await
    .unwrap();
    assert_eq!(again.status(), 404);
    for (key, values) in redis_dump(&stack).await {
        for value in values {
            assert!(
                !contains(&value, KEY.as_bytes()),
                "{key} holds the key in plain text"
            );
        }
    }
    stack.stop().await;
}

#[tokio::test]
async fn a_custom_oauth_app_with_its_own_client_and_scopes() {
    let flow = Flow::start_with("github", github_options(), |c| {
        let provider = c.oauth.providers.get_mut("github").unwrap();
        provider.client_id = None;
        provider.client_secret = None;
    })
    .await;
    let mut connections = flow.stack.connections(Some(&flow.project.api_key));
    let created = connections
        .create_auth_config(CreateAuthConfigRequest {
            toolkit: "github".into(),
            scheme: "OAUTH2".into(),
            scopes: vec!["repo".into()],
            oauth2_client: Some(OAuth2Client {
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .auth_config
        .unwrap();
    assert_eq!(
        (created.is_managed, created.client_id.as_str()),
        (false, CLIENT_ID)
    );
    let updated = connections
        .update_auth_config(UpdateAuthConfigRequest {
            auth_config_id: created.id.clone(),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["scopes".into(), "name".into()],
            }),
            scopes: vec!["repo".into(), "gist".into()],
            name: "Our GitHub app".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .auth_config
        .unwrap();
    assert_eq!(updated.scopes, ["repo", "gist"]);
    // Updating from another project finds nothing.
    let other = flow.stack.project().await;
    let status = flow
        .stack
        .connections(Some(&other.api_key))
        .update_auth_config(UpdateAuthConfigRequest {
            auth_config_id: created.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let session = flow.session("ada", None).await;
    let account = flow.connect(&session, "").await;
    assert_eq!(account.auth_config_id, created.id);
    assert_eq!(flow.provider.authorize_requests()[0]["scope"], "repo gist");
    let shown = format!("{created:?}{updated:?}");
    assert!(!shown.contains(CLIENT_SECRET));
    for (key, values) in redis_dump(&flow.stack).await {
        for value in values {
            assert!(
                !contains(&value, CLIENT_SECRET.as_bytes()),
                "{key} holds the client secret"
            );
        }
    }
    flow.stack.stop().await;
}

#[tokio::test]
async fn update_auth_config_refuses_bad_input_and_changes_nothing() {
    let flow = Flow::start("github", github_options()).await;
    let mut connections = flow.stack.connections(Some(&flow.project.api_key));
    let managed = connections
        .create_auth_config(CreateAuthConfigRequest {
            toolkit: "github".into(),
            scheme: "OAUTH2".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .auth_config
        .unwrap();
    assert!(managed.is_managed);
    let static_config = connections
        .create_auth_config(CreateAuthConfigRequest {
            toolkit: "linear".into(),
            scheme: "API_KEY".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .auth_config
        .unwrap();
    let mask = |paths: &[&str]| {
        Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        })
    };
    let cases = [
        (
            UpdateAuthConfigRequest {
                auth_config_id: managed.id.clone(),
                update_mask: mask(&["toolkit"]),
                ..Default::default()
            },
            "UNKNOWN_FIELD",
            "update_mask",
        ),
        (
            UpdateAuthConfigRequest {
                auth_config_id: managed.id.clone(),
                update_mask: mask(&["oauth2_client"]),
                oauth2_client: Some(OAuth2Client {
                    client_id: "x".into(),
                    client_secret: "y".into(),
                }),
                ..Default::default()
            },
            "MANAGED_APP",
            "oauth2_client",
        ),
        (
            UpdateAuthConfigRequest {
                auth_config_id: managed.id.clone(),
                update_mask: mask(&["scopes"]),
                scopes: vec!["a b".into()],
                ..Default::default()
            },
            "INVALID_SCOPE",
            "scopes[0]",
        ),
        (
            UpdateAuthConfigRequest {
                auth_config_id: static_config.id.clone(),
                update_mask: mask(&["scopes"]),
                scopes: vec!["read".into()],
                ..Default::default()
            },
            "OAUTH_FIELDS_NOT_APPLICABLE",
            "scopes",
        ),
        (
            UpdateAuthConfigRequest {
                auth_config_id: managed.id.clone(),
                update_mask: mask(&["name"]),
                name: "n".repeat(129),
                ..Default::default()
            },
            "INVALID_NAME",
            "name",
        ),
    ];
    for (req, reason, field) in cases {
        let status = connections.update_auth_config(req).await.unwrap_err();
        assert_eq!(
            expect_error(&status, Code::InvalidArgument),
            (reason.to_owned(), field.to_owned())
        );
    }
    let unchanged = connections
        .get_auth_config(GetAuthConfigRequest {
            auth_config_id: managed.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .auth_config
        .unwrap();
    assert_eq!(unchanged, managed, "nothing changed");
    flow.stack.stop().await;
}
