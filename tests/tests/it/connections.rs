//! ConnectionService: auth configs and connected accounts with static credentials (every
//! scheme), bad input refused with nothing stored, project and user isolation, aliases, sealing
//! (the secret is never in a reply nor in Redis in plaintext, and a sealed credential moved to
//! another account does not open), and the connection block of ListSessionToolkits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use switchboard_core::credential::Credential as Plain;
use switchboard_proto::v1::create_connected_account_request::Credential;
use switchboard_proto::v1::*;
use switchboard_testkit::catalogs::catalog_with_extras;
use switchboard_testkit::inspect::{contains, redis_dump};
use switchboard_testkit::*;
use tonic::{Code, Status};

// ---- helpers ----------------------------------------------------------------------------------

struct Fixture {
    stack: Stack,
    project: TestProject,
    c: Connections,
    s: Sessions,
    _catalog: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Fixture {
        let catalog = catalog_with_extras();
        let mut config = test_config();
        config.catalog.dir = catalog.path().to_owned();
        let stack = Stack::spawn_with(config).await;
        let project = stack.project().await;
        let c = stack.connections(Some(&project.api_key));
        let s = stack.sessions(Some(&project.api_key));
        Fixture {
            stack,
            project,
            c,
            s,
            _catalog: catalog,
        }
    }

    async fn auth_config(&mut self, toolkit: &str, scheme: &str) -> AuthConfig {
        create_auth_config(&mut self.c, toolkit, scheme).await
    }

    async fn account(
        &mut self,
        user: &str,
        auth_config: &str,
        alias: &str,
        credential: Option<Credential>,
    ) -> ConnectedAccount {
        create_account(&mut self.c, user, auth_config, alias, credential).await
    }

    async fn try_account(&mut self, req: CreateConnectedAccountRequest) -> Result<(), Status> {
        self.c.create_connected_account(req).await.map(|_| ())
    }

    async fn get(&mut self, id: &str) -> Result<ConnectedAccount, Status> {
        self.c
            .get_connected_account(GetConnectedAccountRequest {
                connected_account_id: id.into(),
            })
            .await
            .map(|r| r.into_inner().connected_account.expect("account"))
    }

    async fn list(&mut self, req: ListConnectedAccountsRequest) -> Vec<ConnectedAccount> {
        list_accounts(&mut self.c, req).await
    }

    async fn set_enabled(&mut self, id: &str, enabled: bool) -> ConnectedAccount {
        let connected_account_id = id.to_owned();
        let account = if enabled {
            self.c
                .enable_connected_account(EnableConnectedAccountRequest {
                    connected_account_id,
                })
                .await
                .expect("enable")
                .into_inner()
                .connected_account
        } else {
            self.c
                .disable_connected_account(DisableConnectedAccountRequest {
                    connected_account_id,
                })
                .await
                .expect("disable")
                .into_inner()
                .connected_account
        };
        account.expect("account")
    }

    /// The connection block of `toolkit` in ListSessionToolkits of `session`.
    async fn connection(&mut self, session: &Session, toolkit: &str) -> ToolkitConnection {
        self.toolkit_rows(session, None)
            .await
            .into_iter()
            .find(|row| row.slug == toolkit)
            .unwrap_or_else(|| panic!("{toolkit} is listed"))
            .connection
            .expect("connection block")
    }

    /// The slugs ListSessionToolkits lists with the `is_connected` filter.
    async fn connected_slugs(&mut self, session: &Session, want: bool) -> Vec<String> {
        self.toolkit_rows(session, Some(want))
            .await
            .into_iter()
            .map(|row| row.slug)
            .collect()
    }

    async fn toolkit_rows(
        &mut self,
        session: &Session,
        is_connected: Option<bool>,
    ) -> Vec<SessionToolkit> {
        self.s
            .list_session_toolkits(ListSessionToolkitsRequest {
                session_id: session.id.clone(),
                is_connected,
                page_size: 500,
                ..Default::default()
            })
            .await
            .expect("list session toolkits")
            .into_inner()
            .toolkits
    }

    /// The Redis key of an account's hash.
    fn account_key(&self, id: &str) -> String {
        format!(
            "{}:{{{}}}:ca:{id}",
            self.stack.config.redis.key_prefix, self.project.id
        )
    }
}

async fn create_auth_config(c: &mut Connections, toolkit: &str, scheme: &str) -> AuthConfig {
    c.create_auth_config(CreateAuthConfigRequest {
        toolkit: toolkit.into(),
        scheme: scheme.into(),
        name: String::new(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("create {toolkit} {scheme} auth config: {e:?}"))
    .into_inner()
    .auth_config
    .expect("auth config")
}

fn account_req(
    user: &str,
    auth_config: &str,
    alias: &str,
    credential: Option<Credential>,
) -> CreateConnectedAccountRequest {
    CreateConnectedAccountRequest {
        user_id: user.into(),
        auth_config_id: auth_config.into(),
        alias: alias.into(),
        credential,
    }
}

async fn create_account(
    c: &mut Connections,
    user: &str,
    auth_config: &str,
    alias: &str,
    credential: Option<Credential>,
) -> ConnectedAccount {
    c.create_connected_account(account_req(user, auth_config, alias, credential))
        .await
        .unwrap_or_else(|e| panic!("create account for {user:?}: {e:?}"))
        .into_inner()
        .connected_account
        .expect("account")
}

/// Every account the request lists, following page tokens.
async fn list_accounts(
    c: &mut Connections,
    mut req: ListConnectedAccountsRequest,
) -> Vec<ConnectedAccount> {
    let mut out = Vec::new();
    for _ in 0..100 {
        let page = c
            .list_connected_accounts(req.clone())
            .await
            .expect("list accounts")
            .into_inner();
        if req.page_size > 0 {
            assert!(page.connected_accounts.len() <= req.page_size as usize);
        }
        out.extend(page.connected_accounts);
        if page.next_page_token.is_empty() {
            return out;
        }
        req.page_token = page.next_page_token;
    }
    panic!("pagination did not end");
}

fn ids(accounts: &[ConnectedAccount]) -> Vec<&str> {
    accounts.iter().map(|a| a.id.as_str()).collect()
}

fn api_key(key: &str) -> Option<Credential> {
    Some(Credential::ApiKey(ApiKeyCredential {
        api_key: key.into(),
    }))
}

fn bearer(token: &str) -> Option<Credential> {
    Some(Credential::BearerToken(BearerTokenCredential {
        token: token.into(),
    }))
}

fn basic(username: &str, password: &str) -> Option<Credential> {
    Some(Credential::Basic(BasicCredential {
        username: username.into(),
        password: password.into(),
    }))
}

fn by_status(status: &str) -> ListConnectedAccountsRequest {
    ListConnectedAccountsRequest {
        status: status.into(),
        ..Default::default()
    }
}

fn by_user(user: &str) -> ListConnectedAccountsRequest {
    ListConnectedAccountsRequest {
        user_id: user.into(),
        ..Default::default()
    }
}

/// The sealer of the stack's configured keys.
fn sealer(stack: &Stack) -> switchboard_crypto::Sealer {
    switchboard_crypto::Sealer::new(&stack.config.crypto.keys, &stack.config.crypto.current_key)
        .expect("sealer")
}

/// Every key under the stack's prefix with every value it holds, as raw bytes.
// ---- auth configs -----------------------------------------------------------------------------

#[tokio::test]
async fn auth_configs_are_created_read_listed_and_deleted() {
    let mut f = Fixture::new().await;
    // No scheme: the toolkit's first static scheme (linear declares OAUTH2 first, then API_KEY).
    let linear = f.auth_config("linear", "").await;
    assert!(linear.id.starts_with("ac_"), "{}", linear.id);
    assert_eq!(linear.toolkit, "linear");
    assert_eq!(linear.scheme, "API_KEY");
    assert!(!linear.is_managed);
    assert!(!linear.name.is_empty(), "a default name");
    assert!(linear.create_time.is_some());

    let github =
        f.c.create_auth_config(CreateAuthConfigRequest {
            toolkit: "github".into(),
            scheme: "BEARER_TOKEN".into(),
            name: "GitHub PATs".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .auth_config
        .unwrap();
    assert_eq!(
        (github.scheme.as_str(), github.name.as_str()),
        ("BEARER_TOKEN", "GitHub PATs")
    );
    assert_eq!(f.auth_config("basicapp", "").await.scheme, "BASIC");
    let public = f.auth_config("publicapi", "NO_AUTH").await;
    assert_eq!(public.scheme, "NO_AUTH");

    let got =
        f.c.get_auth_config(GetAuthConfigRequest {
            auth_config_id: github.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .auth_config
        .unwrap();
    assert_eq!(got, github);

    // Listed oldest first, across pages of one, and by toolkit.
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let page =
            f.c.list_auth_configs(ListAuthConfigsRequest {
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.auth_configs.len() <= 1);
        listed.extend(page.auth_configs.into_iter().map(|c| c.toolkit));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(listed, ["linear", "github", "basicapp", "publicapi"]);
    let only_github =
        f.c.list_auth_configs(ListAuthConfigsRequest {
            toolkit: "github".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(only_github.auth_configs, std::slice::from_ref(&github));

    f.c.delete_auth_config(DeleteAuthConfigRequest {
        auth_config_id: github.id.clone(),
    })
    .await
    .unwrap();
    let gone =
        f.c.get_auth_config(GetAuthConfigRequest {
            auth_config_id: github.id.clone(),
        })
        .await
        .unwrap_err();
    assert_refused(
        &gone,
        Code::NotFound,
        "AUTH_CONFIG_NOT_FOUND",
        "",
        "deleted",
    );
    f.stack.stop().await;
}

#[tokio::test]
async fn bad_auth_configs_are_refused_and_nothing_is_stored() {
    let mut f = Fixture::new().await;
    let before = f.stack.key_count().await;
    let req = |toolkit: &str, scheme: &str, name: &str| CreateAuthConfigRequest {
        toolkit: toolkit.into(),
        scheme: scheme.into(),
        name: name.into(),
        ..Default::default()
    };
    let long_name = "n".repeat(129);
    let cases = [
        (
            "no toolkit",
            req("", "", ""),
            Code::InvalidArgument,
            "REQUIRED",
            "toolkit",
        ),
        (
            "unknown toolkit",
            req("nope", "", ""),
            Code::InvalidArgument,
            "UNKNOWN_TOOLKIT",
            "toolkit",
        ),
        (
            "unknown scheme",
            req("linear", "PASSWORD", ""),
            Code::InvalidArgument,
            "UNSUPPORTED_SCHEME",
            "scheme",
        ),
        (
            "a scheme the toolkit does not declare",
            req("linear", "BEARER_TOKEN", ""),
            Code::InvalidArgument,
            "UNSUPPORTED_SCHEME",
            "scheme",
        ),
        (
            "OAuth without a client, on a server without a managed app",
            req("github", "OAUTH2", ""),
            Code::FailedPrecondition,
            "MANAGED_APP_NOT_CONFIGURED",
            "",
        ),
        (
            "an OAuth-only toolkit without a scheme (OAUTH2) and no managed app",
            req("oauthonly", "", ""),
            Code::FailedPrecondition,
            "MANAGED_APP_NOT_CONFIGURED",
            "",
        ),
        (
            "scopes on a static scheme",
            CreateAuthConfigRequest {
                scopes: vec!["repo".into()],
                ..req("linear", "API_KEY", "")
            },
            Code::InvalidArgument,
            "OAUTH_FIELDS_NOT_APPLICABLE",
            "scopes",
        ),
        (
            "an OAuth client without a secret",
            CreateAuthConfigRequest {
                oauth2_client: Some(OAuth2Client {
                    client_id: "abc".into(),
                    client_secret: String::new(),
                }),
                ..req("github", "OAUTH2", "")
            },
            Code::InvalidArgument,
            "REQUIRED",
            "oauth2_client.client_secret",
        ),
        (
            "a scope with a space",
            CreateAuthConfigRequest {
                scopes: vec!["repo user".into()],
                oauth2_client: Some(OAuth2Client {
                    client_id: "abc".into(),
                    client_secret: "s3cret".into(),
                }),
                ..req("github", "OAUTH2", "")
            },
            Code::InvalidArgument,
            "INVALID_SCOPE",
            "scopes[0]",
        ),
        (
            "a redirect URI with a password",
            CreateAuthConfigRequest {
                redirect_uri: "https://u:p@example.com/cb".into(),
                oauth2_client: Some(OAuth2Client {
                    client_id: "abc".into(),
                    client_secret: "s3cret".into(),
                }),
                ..req("github", "OAUTH2", "")
            },
            Code::InvalidArgument,
            "INVALID_CALLBACK_URL",
            "redirect_uri",
        ),
        (
            "a name over 128 bytes",
            req("linear", "API_KEY", &long_name),
            Code::InvalidArgument,
            "INVALID_NAME",
            "name",
        ),
        (
            "a name with a control character",
            req("linear", "API_KEY", "a\nb"),
            Code::InvalidArgument,
            "INVALID_NAME",
            "name",
        ),
    ];
    for (what, request, code, reason, field) in cases {
        let err = f.c.create_auth_config(request).await.unwrap_err();
        assert_refused(&err, code, reason, field, what);
    }
    assert_eq!(f.stack.key_count().await, before, "nothing stored");

    let err =
        f.c.list_auth_configs(ListAuthConfigsRequest {
            toolkit: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(
        &err,
        Code::InvalidArgument,
        "UNKNOWN_TOOLKIT",
        "toolkit",
        "list",
    );
    let err =
        f.c.get_auth_config(GetAuthConfigRequest {
            auth_config_id: random_id("ac"),
        })
        .await
        .unwrap_err();
    assert_refused(
        &err,
        Code::NotFound,
        "AUTH_CONFIG_NOT_FOUND",
        "",
        "unknown id",
    );
    f.stack.stop().await;
}

// ---- connected accounts -----------------------------------------------------------------------

#[tokio::test]
async fn accounts_of_every_static_scheme_are_created_and_sealed_for_themselves() {
    let mut f = Fixture::new().await;
    let cases = [
        (
            "linear",
            api_key("lin_api_k1"),
            Plain::ApiKey("lin_api_k1".into()),
        ),
        (
            "github",
            bearer("ghp_t1"),
            Plain::BearerToken("ghp_t1".into()),
        ),
        (
            "basicapp",
            basic("ann", "pw1"),
            Plain::Basic {
                username: "ann".into(),
                password: "pw1".into(),
            },
        ),
        ("publicapi", None, Plain::None),
    ];
    let store = f.stack.store().await;
    let sealer = sealer(&f.stack);
    for (toolkit, input, plain) in cases {
        let config = f.auth_config(toolkit, "").await;
        let account = f.account("user_1", &config.id, "main", input).await;
        assert!(account.id.starts_with("ca_"), "{}", account.id);
        assert_eq!(account.user_id, "user_1");
        assert_eq!(account.toolkit, toolkit);
        assert_eq!(account.auth_config_id, config.id);
        assert_eq!(account.alias, "main");
        assert_eq!(account.status, "ACTIVE");
        assert_eq!(account.scheme, config.scheme);
        assert!(account.create_time.is_some() && account.update_time.is_some());
        assert_eq!(f.get(&account.id).await.unwrap(), account);

        // What is stored opens, with the account id, to the credential given.
        let stored = store.get_account(&f.project.id, &account.id).await.unwrap();
        assert_eq!(stored.account, account);
        let opened = sealer.open(&stored.sealed, &account.id).expect("opens");
        assert_eq!(Plain::from_bytes(&opened).unwrap(), plain, "{toolkit}");
    }
    // An alias is optional; a secret of exactly 8 KiB is accepted.
    let linear = f.auth_config("linear", "API_KEY").await;
    let big = "k".repeat(8 * 1024);
    let account = f.account("user_2", &linear.id, "", api_key(&big)).await;
    assert_eq!(account.alias, "");
    f.stack.stop().await;
}

#[tokio::test]
async fn bad_accounts_are_refused_and_nothing_is_stored() {
    let mut f = Fixture::new().await;
    let linear = f.auth_config("linear", "API_KEY").await.id;
    let github = f.auth_config("github", "BEARER_TOKEN").await.id;
    let basicapp = f.auth_config("basicapp", "BASIC").await.id;
    let public = f.auth_config("publicapi", "NO_AUTH").await.id;
    let before = f.stack.key_count().await;
    let too_big = "k".repeat(8 * 1024 + 1);
    let invalid = Code::InvalidArgument;
    let cases = [
        (
            "no user",
            account_req("", &linear, "", api_key("k")),
            invalid,
            "INVALID_USER_ID",
            "user_id",
        ),
        (
            "a user id with a control character",
            account_req("a\u{7}b", &linear, "", api_key("k")),
            invalid,
            "INVALID_USER_ID",
            "user_id",
        ),
        (
            "a user id over 256 bytes",
            account_req(&"u".repeat(257), &linear, "", api_key("k")),
            invalid,
            "INVALID_USER_ID",
            "user_id",
        ),
        (
            "no auth config",
            account_req("user_1", "", "", api_key("k")),
            invalid,
            "REQUIRED",
            "auth_config_id",
        ),
        (
            "an unknown auth config",
            account_req("user_1", &random_id("ac"), "", api_key("k")),
            Code::NotFound,
            "AUTH_CONFIG_NOT_FOUND",
            "",
        ),
        (
            "a malformed auth config id",
            account_req("user_1", "ac_../../x", "", api_key("k")),
            Code::NotFound,
            "AUTH_CONFIG_NOT_FOUND",
            "",
        ),
        (
            "an alias with a space",
            account_req("user_1", &linear, "my work", api_key("k")),
            invalid,
            "INVALID_ALIAS",
            "alias",
        ),
        (
            "an alias over 64 characters",
            account_req("user_1", &linear, &"a".repeat(65), api_key("k")),
            invalid,
            "INVALID_ALIAS",
            "alias",
        ),
        (
            "no credential for an API key config",
            account_req("user_1", &linear, "", None),
            invalid,
            "CREDENTIAL_MISMATCH",
            "credential",
        ),
        (
            "a bearer token for an API key config",
            account_req("user_1", &linear, "", bearer("t")),
            invalid,
            "CREDENTIAL_MISMATCH",
            "credential",
        ),
        (
            "an API key for a bearer config",
            account_req("user_1", &github, "", api_key("k")),
            invalid,
            "CREDENTIAL_MISMATCH",
            "credential",
        ),
        (
            "basic for a bearer config",
            account_req("user_1", &github, "", basic("u", "p")),
            invalid,
            "CREDENTIAL_MISMATCH",
            "credential",
        ),
        (
            "a credential for a no-auth config",
            account_req("user_1", &public, "", api_key("k")),
            invalid,
            "CREDENTIAL_MISMATCH",
            "credential",
        ),
        (
            "an empty API key",
            account_req("user_1", &linear, "", api_key("")),
            invalid,
            "REQUIRED",
            "api_key.api_key",
        ),
        (
            "an empty token",
            account_req("user_1", &github, "", bearer("")),
            invalid,
            "REQUIRED",
            "bearer_token.token",
        ),
        (
            "an empty username",
            account_req("user_1", &basicapp, "", basic("", "p")),
            invalid,
            "REQUIRED",
            "basic.username",
        ),
        (
            "an API key over 8 KiB",
            account_req("user_1", &linear, "", api_key(&too_big)),
            invalid,
            "CREDENTIAL_TOO_LARGE",
            "api_key.api_key",
        ),
        (
            "a password over 8 KiB",
            account_req("user_1", &basicapp, "", basic("u", &too_big)),
            invalid,
            "CREDENTIAL_TOO_LARGE",
            "basic.password",
        ),
        (
            "a token with a newline",
            account_req("user_1", &github, "", bearer("t\r\nX-Evil: 1")),
            invalid,
            "INVALID_CREDENTIAL",
            "bearer_token.token",
        ),
    ];
    for (what, request, code, reason, field) in cases {
        let err = f.try_account(request).await.unwrap_err();
        assert_refused(&err, code, reason, field, what);
    }
    assert_eq!(f.stack.key_count().await, before, "nothing stored");
    assert!(f.list(Default::default()).await.is_empty());

    let err =
        f.c.list_connected_accounts(by_status("active"))
            .await
            .unwrap_err();
    assert_refused(
        &err,
        invalid,
        "INVALID_STATUS",
        "status",
        "lowercase status",
    );
    let err =
        f.c.list_connected_accounts(ListConnectedAccountsRequest {
            page_token: "garbage!".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(
        &err,
        invalid,
        "INVALID_PAGE_TOKEN",
        "page_token",
        "page token",
    );
    f.stack.stop().await;
}

#[tokio::test]
async fn accounts_are_enabled_disabled_listed_and_deleted() {
    let mut f = Fixture::new().await;
    let linear = f.auth_config("linear", "").await.id;
    let github = f.auth_config("github", "BEARER_TOKEN").await.id;
    let a = f.account("user_1", &linear, "work", api_key("k1")).await;
    let b = f.account("user_1", &github, "", bearer("t1")).await;
    let c = f.account("user_2", &linear, "", api_key("k2")).await;

    let disabled = f.set_enabled(&a.id, false).await;
    assert_eq!(disabled.status, "DISABLED");
    assert_eq!(disabled.status_reason, "disabled by the API");
    let secs = |a: &ConnectedAccount| {
        let t = a.update_time.expect("update time");
        (t.seconds, t.nanos)
    };
    assert!(secs(&disabled) >= secs(&a));
    assert_eq!(f.get(&a.id).await.unwrap(), disabled);

    // Filters: user, toolkit, status, and their combinations; oldest first.
    let all = f.list(Default::default()).await;
    assert_eq!(ids(&all), [&a.id, &b.id, &c.id]);
    let paged = f
        .list(ListConnectedAccountsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await;
    assert_eq!(paged, all, "pages of one cover everything once");
    assert_eq!(ids(&f.list(by_user("user_1")).await), [&a.id, &b.id]);
    assert_eq!(ids(&f.list(by_user("user_2")).await), [&c.id]);
    assert!(f.list(by_user("user_3")).await.is_empty());
    let linear_only = ListConnectedAccountsRequest {
        toolkit: "linear".into(),
        ..Default::default()
    };
    assert_eq!(ids(&f.list(linear_only.clone()).await), [&a.id, &c.id]);
    assert_eq!(ids(&f.list(by_status("DISABLED")).await), [&a.id]);
    assert_eq!(ids(&f.list(by_status("ACTIVE")).await), [&b.id, &c.id]);
    assert!(f.list(by_status("REVOKED")).await.is_empty());
    let combined = ListConnectedAccountsRequest {
        user_id: "user_1".into(),
        status: "ACTIVE".into(),
        ..linear_only.clone()
    };
    assert!(f.list(combined).await.is_empty());
    let user_1_pages = ListConnectedAccountsRequest {
        page_size: 1,
        ..by_user("user_1")
    };
    assert_eq!(ids(&f.list(user_1_pages).await), [&a.id, &b.id]);

    let enabled = f.set_enabled(&a.id, true).await;
    assert_eq!(enabled.status, "ACTIVE");
    assert_eq!(enabled.status_reason, "");
    assert!(f.list(by_status("DISABLED")).await.is_empty());

    f.c.delete_connected_account(DeleteConnectedAccountRequest {
        connected_account_id: a.id.clone(),
    })
    .await
    .unwrap();
    let err = f.get(&a.id).await.unwrap_err();
    assert_refused(
        &err,
        Code::NotFound,
        "CONNECTED_ACCOUNT_NOT_FOUND",
        "",
        "deleted",
    );
    let again =
        f.c.delete_connected_account(DeleteConnectedAccountRequest {
            connected_account_id: a.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    assert_eq!(ids(&f.list(Default::default()).await), [&b.id, &c.id]);
    let err =
        f.c.get_connected_account(GetConnectedAccountRequest::default())
            .await
            .unwrap_err();
    assert_refused(
        &err,
        Code::InvalidArgument,
        "REQUIRED",
        "connected_account_id",
        "no id",
    );
    f.stack.stop().await;
}

#[tokio::test]
async fn aliases_are_unique_per_user_and_toolkit() {
    let mut f = Fixture::new().await;
    let linear = f.auth_config("linear", "").await.id;
    let linear_2 = f.auth_config("linear", "").await.id;
    let github = f.auth_config("github", "BEARER_TOKEN").await.id;
    let first = f.account("user_1", &linear, "work", api_key("k1")).await;

    let before = f.stack.key_count().await;
    for (what, config) in [
        ("same auth config", &linear),
        ("another auth config of the toolkit", &linear_2),
    ] {
        let err = f
            .try_account(account_req("user_1", config, "work", api_key("k2")))
            .await
            .unwrap_err();
        assert_refused(&err, Code::AlreadyExists, "ALIAS_TAKEN", "", what);
    }
    assert_eq!(f.stack.key_count().await, before, "nothing stored");

    // The same alias for another user, or another toolkit, is fine.
    f.account("user_2", &linear, "work", api_key("k3")).await;
    f.account("user_1", &github, "work", bearer("t1")).await;
    // Without an alias there is nothing to collide.
    f.account("user_1", &linear, "", api_key("k4")).await;
    f.account("user_1", &linear, "", api_key("k5")).await;

    // Deleting the holder frees the alias.
    f.c.delete_connected_account(DeleteConnectedAccountRequest {
        connected_account_id: first.id,
    })
    .await
    .unwrap();
    f.account("user_1", &linear_2, "work", api_key("k6")).await;
    f.stack.stop().await;
}

#[tokio::test]
async fn an_auth_config_with_accounts_cannot_be_deleted() {
    let mut f = Fixture::new().await;
    let linear = f.auth_config("linear", "").await.id;
    let account = f.account("user_1", &linear, "", api_key("k1")).await;
    let delete = DeleteAuthConfigRequest {
        auth_config_id: linear.clone(),
    };
    let err = f.c.delete_auth_config(delete.clone()).await.unwrap_err();
    assert_refused(
        &err,
        Code::FailedPrecondition,
        "AUTH_CONFIG_IN_USE",
        "",
        "in use",
    );
    assert_eq!(f.get(&account.id).await.unwrap(), account, "untouched");

    f.c.delete_connected_account(DeleteConnectedAccountRequest {
        connected_account_id: account.id,
    })
    .await
    .unwrap();
    f.c.delete_auth_config(delete).await.unwrap();
    // Its accounts are gone with it: a new one on the deleted config is NOT_FOUND.
    let err = f
        .try_account(account_req("user_1", &linear, "", api_key("k")))
        .await
        .unwrap_err();
    assert_refused(
        &err,
        Code::NotFound,
        "AUTH_CONFIG_NOT_FOUND",
        "",
        "deleted config",
    );
    f.stack.stop().await;
}

#[tokio::test]
async fn another_projects_auth_configs_and_accounts_do_not_exist() {
    let mut f = Fixture::new().await;
    let config = f.auth_config("linear", "").await;
    let account = f.account("user_1", &config.id, "work", api_key("k1")).await;

    let other = f.stack.project().await;
    let mut o = f.stack.connections(Some(&other.api_key));
    let not_found = |status: Status, reason: &str, what: &str| {
        assert_refused(&status, Code::NotFound, reason, "", what);
    };
    let ac = || config.id.clone();
    let ca = || account.id.clone();
    not_found(
        o.get_auth_config(GetAuthConfigRequest {
            auth_config_id: ac(),
        })
        .await
        .unwrap_err(),
        "AUTH_CONFIG_NOT_FOUND",
        "get auth config",
    );
    not_found(
        o.delete_auth_config(DeleteAuthConfigRequest {
            auth_config_id: ac(),
        })
        .await
        .unwrap_err(),
        "AUTH_CONFIG_NOT_FOUND",
        "delete auth config",
    );
    not_found(
        o.create_connected_account(account_req("user_1", &ac(), "", api_key("k2")))
            .await
            .unwrap_err(),
        "AUTH_CONFIG_NOT_FOUND",
        "account on another project's auth config",
    );
    let account_not_found = "CONNECTED_ACCOUNT_NOT_FOUND";
    not_found(
        o.get_connected_account(GetConnectedAccountRequest {
            connected_account_id: ca(),
        })
        .await
        .unwrap_err(),
        account_not_found,
        "get account",
    );
    not_found(
        o.enable_connected_account(EnableConnectedAccountRequest {
            connected_account_id: ca(),
        })
        .await
        .unwrap_err(),
        account_not_found,
        "enable account",
    );
    not_found(
        o.disable_connected_account(DisableConnectedAccountRequest {
            connected_account_id: ca(),
        })
        .await
        .unwrap_err(),
        account_not_found,
        "disable account",
    );
    not_found(
        o.delete_connected_account(DeleteConnectedAccountRequest {
            connected_account_id: ca(),
        })
        .await
        .unwrap_err(),
        account_not_found,
        "delete account",
    );
    let listed = o
        .list_auth_configs(ListAuthConfigsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.auth_configs.is_empty());
    assert!(list_accounts(&mut o, Default::default()).await.is_empty());
    assert!(list_accounts(&mut o, by_user("user_1")).await.is_empty());

    // The other project's own objects don't show here either, and nothing changed here.
    let theirs = create_auth_config(&mut o, "linear", "").await;
    create_account(&mut o, "user_1", &theirs.id, "work", api_key("k3")).await;
    assert_eq!(f.get(&account.id).await.unwrap(), account);
    assert_eq!(ids(&f.list(by_user("user_1")).await), [&account.id]);
    let mine =
        f.c.list_auth_configs(ListAuthConfigsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .auth_configs;
    assert_eq!(mine, [config]);
    f.stack.stop().await;
}

// ---- secrets ----------------------------------------------------------------------------------

#[tokio::test]
async fn secrets_are_in_no_reply_and_not_in_redis_in_plaintext() {
    let mut f = Fixture::new().await;
    let secrets = [
        "lin_api_SECRET1xyz",
        "ghp_SECRET2xyz",
        "SECRET3user",
        "SECRET4pass",
    ];
    let mut replies: Vec<String> = Vec::new();
    let linear = f.auth_config("linear", "").await;
    let github = f.auth_config("github", "BEARER_TOKEN").await;
    let basicapp = f.auth_config("basicapp", "").await;
    for (config, credential) in [
        (&linear, api_key(secrets[0])),
        (&github, bearer(secrets[1])),
        (&basicapp, basic(secrets[2], secrets[3])),
    ] {
        let reply =
            f.c.create_connected_account(account_req("user_1", &config.id, "", credential))
                .await
                .unwrap()
                .into_inner();
        replies.push(format!("{reply:?}"));
        let id = reply.connected_account.unwrap().id;
        replies.push(format!("{:?}", f.get(&id).await.unwrap()));
        replies.push(format!("{:?}", f.set_enabled(&id, false).await));
        replies.push(format!("{:?}", f.set_enabled(&id, true).await));
    }
    // Refusals that carried a secret don't echo it.
    for request in [
        account_req("user_1", &linear.id, "", bearer(secrets[1])),
        account_req("user_1", &github.id, "bad alias", bearer(secrets[1])),
        account_req("", &linear.id, "", api_key(secrets[0])),
        account_req(
            "user_1",
            &github.id,
            "",
            bearer(&format!("{}\n", secrets[1])),
        ),
    ] {
        replies.push(format!("{:?}", f.try_account(request).await.unwrap_err()));
    }
    replies.push(format!("{:?}", f.list(Default::default()).await));
    let session = create_session(
        &mut f.s,
        "user_1",
        toolkits_config(&["linear", "github", "basicapp"]),
    )
    .await;
    replies.push(format!("{:?}", f.toolkit_rows(&session, None).await));
    for reply in &replies {
        for secret in secrets {
            assert!(!reply.contains(secret), "{secret} in a reply: {reply}");
        }
    }

    let dump = redis_dump(&f.stack).await;
    assert!(
        dump.iter().any(|(k, _)| k.contains(":ca:")),
        "accounts are in redis"
    );
    for (key, values) in &dump {
        for secret in secrets {
            assert!(!key.contains(secret), "{secret} in key {key}");
            for value in values {
                assert!(
                    !contains(value, secret.as_bytes()),
                    "{secret} in plaintext under {key}"
                );
            }
        }
    }
    f.stack.stop().await;
}

#[tokio::test]
async fn a_sealed_credential_moved_to_another_account_does_not_open() {
    let mut f = Fixture::new().await;
    let linear = f.auth_config("linear", "").await.id;
    let a = f.account("user_1", &linear, "", api_key("key_of_a")).await;
    let b = f.account("user_2", &linear, "", api_key("key_of_b")).await;
    let sealer = sealer(&f.stack);
    let client = redis_client(&f.stack.config.redis.url);
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let sealed_a: Vec<u8> = redis_cmd("HGET")
        .arg(f.account_key(&a.id))
        .arg("c")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        Plain::from_bytes(&sealer.open(&sealed_a, &a.id).unwrap()).unwrap(),
        Plain::ApiKey("key_of_a".into())
    );
    let () = redis_cmd("HSET")
        .arg(f.account_key(&b.id))
        .arg("c")
        .arg(&sealed_a)
        .query_async(&mut conn)
        .await
        .unwrap();
    let store = f.stack.store().await;
    let moved = store.get_account(&f.project.id, &b.id).await.unwrap();
    assert_eq!(moved.sealed, sealed_a, "the copy is in place");
    assert!(
        sealer.open(&moved.sealed, &b.id).is_err(),
        "a ciphertext sealed for {} opens only for it",
        a.id
    );
    f.stack.stop().await;
}

// ---- ListSessionToolkits ----------------------------------------------------------------------

#[tokio::test]
async fn session_toolkits_show_the_users_connection_status() {
    let mut f = Fixture::new().await;
    let session = create_session(
        &mut f.s,
        "user_1",
        toolkits_config(&["linear", "github", "publicapi"]),
    )
    .await;
    let before = f.connection(&session, "linear").await;
    assert_eq!(
        before,
        ToolkitConnection {
            is_active: false,
            auth_config: None,
            connected_account: None,
            status: "NOT_CONNECTED".into(),
        }
    );
    let public = f.connection(&session, "publicapi").await;
    assert!(public.is_active);
    assert_eq!(public.status, "NO_AUTH");
    assert_eq!(f.connected_slugs(&session, true).await, ["publicapi"]);
    assert_eq!(
        f.connected_slugs(&session, false).await,
        ["github", "linear"]
    );

    // Another user's account does not connect this user's session.
    let config = f.auth_config("linear", "").await;
    f.account("user_2", &config.id, "", api_key("k0")).await;
    assert_eq!(f.connection(&session, "linear").await, before);

    let account = f.account("user_1", &config.id, "work", api_key("k1")).await;
    let active = ToolkitConnection {
        is_active: true,
        auth_config: Some(AuthConfigRef {
            id: config.id.clone(),
            mode: "API_KEY".into(),
            is_managed: false,
        }),
        connected_account: Some(ConnectedAccountRef {
            id: account.id.clone(),
            status: "ACTIVE".into(),
            alias: "work".into(),
        }),
        status: "ACTIVE".into(),
    };
    assert_eq!(f.connection(&session, "linear").await, active);
    assert_eq!(
        f.connected_slugs(&session, true).await,
        ["linear", "publicapi"]
    );
    assert_eq!(f.connected_slugs(&session, false).await, ["github"]);

    // Disabled: shown with its status, not active.
    f.set_enabled(&account.id, false).await;
    let disabled = f.connection(&session, "linear").await;
    assert!(!disabled.is_active);
    assert_eq!(disabled.status, "DISABLED");
    assert_eq!(
        disabled.connected_account.as_ref().unwrap().status,
        "DISABLED"
    );
    assert_eq!(disabled.auth_config, active.auth_config);
    assert_eq!(f.connected_slugs(&session, true).await, ["publicapi"]);
    assert_eq!(
        f.connected_slugs(&session, false).await,
        ["github", "linear"]
    );

    f.set_enabled(&account.id, true).await;
    assert_eq!(f.connection(&session, "linear").await, active);
    f.stack.stop().await;
}

#[tokio::test]
async fn session_toolkits_follow_the_sessions_pins_and_auth_config() {
    let mut f = Fixture::new().await;
    let config = f.auth_config("linear", "").await;
    let work = f.account("user_1", &config.id, "work", api_key("k1")).await;
    let old = f.account("user_1", &config.id, "old", api_key("k2")).await;
    f.set_enabled(&old.id, false).await;

    // Unpinned: the oldest ACTIVE account.
    let plain = create_session(&mut f.s, "user_1", toolkits_config(&["linear"])).await;
    let shown = f.connection(&plain, "linear").await;
    assert_eq!(shown.connected_account.unwrap().id, work.id);
    assert!(shown.is_active);

    // Pinned to the disabled one: that pin's state, although another account is active.
    let pin = |id: &str| SessionConfig {
        connected_accounts: accounts("linear", &[id]),
        ..toolkits_config(&["linear"])
    };
    let pinned_old = create_session(&mut f.s, "user_1", pin(&old.id)).await;
    let shown = f.connection(&pinned_old, "linear").await;
    assert!(!shown.is_active);
    assert_eq!(shown.status, "DISABLED");
    assert_eq!(
        shown.connected_account,
        Some(ConnectedAccountRef {
            id: old.id.clone(),
            status: "DISABLED".into(),
            alias: "old".into(),
        })
    );
    assert!(f.connected_slugs(&pinned_old, true).await.is_empty());

    let pinned_work = create_session(&mut f.s, "user_1", pin(&work.id)).await;
    let shown = f.connection(&pinned_work, "linear").await;
    assert!(shown.is_active);
    assert_eq!(shown.connected_account.unwrap().id, work.id);

    // Pinned to an account that isn't the user's: not connected.
    let stranger = f.account("user_2", &config.id, "", api_key("k3")).await;
    let pinned_stranger = create_session(&mut f.s, "user_1", pin(&stranger.id)).await;
    let shown = f.connection(&pinned_stranger, "linear").await;
    assert_eq!(shown.status, "NOT_CONNECTED");
    assert_eq!(shown.connected_account, None);

    // The session's auth config: shown with its scheme; accounts of other configs don't count.
    let other_config = f.auth_config("linear", "").await;
    let on_other = SessionConfig {
        auth_configs: auth_configs(&[("linear", &other_config.id)]),
        ..toolkits_config(&["linear"])
    };
    let session = create_session(&mut f.s, "user_1", on_other).await;
    let shown = f.connection(&session, "linear").await;
    assert_eq!(shown.status, "NOT_CONNECTED");
    assert_eq!(
        shown.auth_config,
        Some(AuthConfigRef {
            id: other_config.id.clone(),
            mode: "API_KEY".into(),
            is_managed: false,
        })
    );
    let third = f
        .account("user_1", &other_config.id, "third", api_key("k4"))
        .await;
    let shown = f.connection(&session, "linear").await;
    assert!(shown.is_active);
    assert_eq!(shown.connected_account.unwrap().id, third.id);
    f.stack.stop().await;
}
