//! ExecuteTool, GetExecution and ListExecutions. ExecuteTool checks the session's scope rules
//! and the arguments, stores the execution QUEUED, publishes its job on the job stream and,
//! for sync calls, waits for the worker's reply up to the deadline. Nothing is stored or
//! published for a call that fails a check.

use std::time::Duration;

use prost::Message;
use std::sync::Arc;
use switchboard_core::page::{decode_token, encode_token, page_size};
use switchboard_core::scope::Scope;
use switchboard_core::time::{now_ms, now_timestamp};
use switchboard_core::{accounts, arguments, ids::new_id, Error};
use switchboard_proto::v1::{
    ExecuteToolRequest, ExecuteToolResponse, Execution, ExecutionAccount, ExecutionError,
    ExecutionMode, ExecutionStatus, GetExecutionRequest, GetExecutionResponse,
    ListExecutionsRequest, ListExecutionsResponse, SessionConfig,
};
use switchboard_store::{AuthorizedSession, Caller, Created, NewExecution};
use tracing::Instrument;

use crate::app::required;
use crate::state::AppState;

/// The call's W3C trace context from its `ExecuteTool` span: (trace id, traceparent header).
/// Without a tracing layer (no trace exporter configured) the ids are made here, in the trace of
/// the caller's `traceparent` when it sent one.
fn trace_of(span: &tracing::Span, parent: Option<&str>) -> (String, String) {
    if let (Some(trace_id), Some(traceparent)) = (
        switchboard_telemetry::trace_id_of(span),
        switchboard_telemetry::traceparent_of(span),
    ) {
        return (trace_id, traceparent);
    }
    switchboard_telemetry::child_traceparent(parent)
}

/// The arguments of a call as JSON, from whichever field carries them.
fn read_arguments(state: &AppState, req: &ExecuteToolRequest) -> Result<serde_json::Value, Error> {
    let max = state.config.executions.max_argument_bytes;
    match (&req.arguments, req.arguments_json.is_empty()) {
        (Some(_), false) => Err(Error::invalid(
            switchboard_core::reason::CONFLICTING_ARGUMENTS,
            "arguments",
            "give arguments or arguments_json, not both",
        )),
        (None, false) => arguments::parse_json(&req.arguments_json, max, "arguments_json"),
        (Some(s), true) => {
            let size = s.encoded_len();
            if size > max {
                return Err(Error::invalid(
                    switchboard_core::reason::ARGUMENTS_TOO_LARGE,
                    "arguments",
                    format!("is {size} bytes; at most {max} are allowed"),
                ));
            }
            Ok(switchboard_proto::struct_to_json(s))
        }
        (None, true) => Ok(serde_json::Value::Object(Default::default())),
    }
}

/// Runs the call in an `ExecuteTool` span, continuing the caller's trace when it sent a W3C
/// `traceparent`; the job on NATS and the worker's provider call join the same trace.
pub async fn execute_tool(
    state: &AppState,
    caller: Caller<'_>,
    request: ExecuteToolRequest,
    traceparent: Option<&str>,
) -> Result<ExecuteToolResponse, Error> {
    let span = tracing::info_span!(
        "ExecuteTool",
        tool = %request.tool_slug,
        execution_id = tracing::field::Empty,
    );
    if let Some(traceparent) = traceparent {
        switchboard_telemetry::set_parent_from_traceparent(&span, traceparent);
    }
    run(state, caller, request, traceparent)
        .instrument(span)
        .await
}

/// ExecuteTool for a caller with a project API key (gRPC) or already known to be in a project
/// (MCP, after its session token): the same checks, store, publish and wait. `parent` is the
/// caller's W3C `traceparent`, if it sent one.
pub async fn run(
    state: &AppState,
    caller: Caller<'_>,
    req: ExecuteToolRequest,
    parent: Option<&str>,
) -> Result<ExecuteToolResponse, Error> {
    let started = std::time::Instant::now();
    let (mode, timeout_ms) = match check_request(state, &req) {
        Ok(checked) => checked,
        Err(e) => {
            // A caller whose key fails hears that first, as from every other RPC.
            if let Caller::ApiKey(secret) = caller {
                state.store.authenticate(secret).await?;
            }
            return Err(e);
        }
    };

    // The session and its user's accounts: this gateway's last read of them when it has one
    // (confirmed as the execution is stored), else a fresh read that checks the key too.
    let project_hint = match caller {
        Caller::Project(project) => Some(project.to_owned()),
        Caller::ApiKey(secret) => switchboard_store::project_of_api_key(secret),
    };
    let mut cached = project_hint
        .as_deref()
        .and_then(|p| state.sessions.get(p, &req.session_id));
    let mut rounds = 0;
    let (project, prepared) = loop {
        rounds += 1;
        let (read, from_cache) = match cached.take() {
            Some(read) => (read, true),
            None => {
                let read = Arc::new(
                    state
                        .store
                        .authorized_session(caller, &req.session_id, true)
                        .await?,
                );
                state.sessions.put(Arc::clone(&read));
                (read, false)
            }
        };
        let checks = Checks {
            mode,
            timeout_ms,
            parent,
            count_rejections: !from_cache,
        };
        let prepared = match prepare(state, &req, &read, &checks).await {
            Ok(prepared) => prepared,
            // Checked against a cached read: say so only after a fresh one agrees.
            Err(_) if from_cache => continue,
            Err(e) => return Err(e),
        };
        let guard = read.guard(caller);
        match state
            .store
            .create_execution(&read.project, &prepared.new, Some(&guard))
            .await?
        {
            Created::Stale => {
                state.sessions.forget(&read.project, &read.session.id);
                if rounds >= 4 {
                    return Err(Error::Aborted {
                        reason: switchboard_core::reason::SESSION_CHANGING,
                        message: "the session or its user's accounts kept changing while the call was checked; retry it".into(),
                    });
                }
            }
            Created::New => break (read.project.clone(), prepared),
            Created::Existing(earlier) => {
                return existing(state, &read.project, *earlier, &prepared.traceparent).await
            }
        }
    };
    let Prepared {
        new,
        traceparent,
        sync,
    } = prepared;
    let execution = new.execution;
    let tool_toolkit = execution.toolkit.clone();
    tracing::debug!(execution_id = %execution.id, trace_id = %execution.trace_id, tool = %execution.tool_slug, "execution queued");
    let waiter = sync.then(|| state.results.wait_for(&execution.id));

    publish(state, &project, &execution, &traceparent).await?;
    switchboard_metrics::execution_accepted(&tool_toolkit);
    // Observed on every way out from here: the answer, a timeout or an error.
    let _timer = switchboard_metrics::execution_timer(
        &tool_toolkit,
        if sync { "sync" } else { "async" },
        started,
    );

    let Some(waiter) = waiter else {
        return Ok(ExecuteToolResponse {
            execution: Some(execution),
        });
    };
    wait(state, &project, execution, waiter, timeout_ms).await
}

/// Publishes the job of a stored QUEUED execution. Not accepted (a full queue, the bus down):
/// the execution ends FAILED, unless a worker took it meanwhile, and the caller hears why.
async fn publish(
    state: &AppState,
    project: &str,
    execution: &Execution,
    traceparent: &str,
) -> Result<(), Error> {
    let job = switchboard_bus::Job {
        project_id: project.to_owned(),
        execution_id: execution.id.clone(),
    };
    if let Err(e) = state
        .bus
        .publish_job(&execution.toolkit, &job, traceparent)
        .await
    {
        let full = matches!(e, switchboard_bus::PublishError::Full);
        tracing::warn!(execution_id = %execution.id, error = %e, "job not accepted");
        let ended = end(
            execution,
            ExecutionStatus::Failed,
            switchboard_core::reason::NOT_ACCEPTED,
            if full {
                "the job queue is full; the call was not run"
            } else {
                "the job bus did not accept the call; it was not run"
            },
        );
        // If the publish failed only on its acknowledgement, a worker may already have taken
        // the job: then the execution is no longer QUEUED and the call counts as accepted.
        let not_run = state
            .store
            .transition_execution(project, &ended, &[ExecutionStatus::Queued])
            .await
            .unwrap_or(true);
        if !not_run {
            tracing::info!(execution_id = %execution.id, "job reached a worker although its publish was not acknowledged");
        } else {
            switchboard_metrics::execution_rejected(if full {
                "queue_full"
            } else {
                "bus_unavailable"
            });
            return Err(if full {
                Error::ResourceExhausted {
                    reason: switchboard_core::reason::QUEUE_FULL,
                    message: format!(
                        "the job queue is full; execution {} was not run",
                        execution.id
                    ),
                    execution_id: execution.id.clone(),
                }
            } else {
                Error::Unavailable {
                    reason: switchboard_core::reason::BUS_UNAVAILABLE,
                    message: format!(
                        "the job bus is unavailable; execution {} was not run",
                        execution.id
                    ),
                }
            });
        }
    }
    Ok(())
}

/// Waits up to `timeout_ms` for the worker's reply to a sync call. No reply in time: the
/// stored record if it finished anyway, else DEADLINE_EXCEEDED (and TIMED_OUT if no worker
/// took it).
async fn wait(
    state: &AppState,
    project: &str,
    execution: Execution,
    mut waiter: crate::app::results::Waiter,
    timeout_ms: u32,
) -> Result<ExecuteToolResponse, Error> {
    let tool_toolkit = execution.toolkit.clone();
    let wait = Duration::from_millis(u64::from(timeout_ms));
    if let Ok(Ok(reply)) = tokio::time::timeout(wait, &mut waiter.receiver).await {
        let finished = if reply.in_store_only {
            state.store.get_execution(project, &execution.id).await?
        } else {
            reply.execution
        };
        return Ok(ExecuteToolResponse {
            execution: Some(finished),
        });
    }
    // No reply in time: it may have finished anyway (a lost reply), may still be running, or
    // no worker took it — then it ends TIMED_OUT here, and a worker that takes it later skips it.
    let current = state.store.get_execution(project, &execution.id).await?;
    if switchboard_store::is_terminal(current.status()) {
        return Ok(ExecuteToolResponse {
            execution: Some(current),
        });
    }
    let timed_out = end(
        &execution,
        ExecutionStatus::TimedOut,
        switchboard_core::reason::TIMED_OUT,
        "no worker took the call before its deadline; it was not run",
    );
    let message = if state
        .store
        .transition_execution(project, &timed_out, &[ExecutionStatus::Queued])
        .await?
    {
        switchboard_metrics::execution_ended(&tool_toolkit, &execution.tool_slug, "TIMED_OUT");
        format!("no worker took execution {} within {timeout_ms} ms; it ended TIMED_OUT without running", execution.id)
    } else {
        format!(
            "execution {} is still running after {timeout_ms} ms; read it later with GetExecution",
            execution.id
        )
    };
    Err(Error::DeadlineExceeded {
        reason: switchboard_core::reason::EXECUTION_DEADLINE_EXCEEDED,
        message,
        execution_id: execution.id,
    })
}

/// A call checked against a session read, ready to store and publish.
struct Prepared {
    new: NewExecution,
    traceparent: String,
    sync: bool,
}

/// How [`prepare`] checks a call.
struct Checks<'a> {
    mode: ExecutionMode,
    timeout_ms: u32,
    /// The caller's `traceparent`.
    parent: Option<&'a str>,
    /// Whether a rejection counts in the metrics (not when it is checked again on a fresh read).
    count_rejections: bool,
}

/// Checks the call against `read` (the tool in the session's filters, the arguments against
/// its schema, the account by the scope rules) and builds its QUEUED execution.
async fn prepare(
    state: &AppState,
    req: &ExecuteToolRequest,
    read: &AuthorizedSession,
    checks: &Checks<'_>,
) -> Result<Prepared, Error> {
    let count = |reason: &'static str| {
        if checks.count_rejections {
            switchboard_metrics::execution_rejected(reason);
        }
    };
    let session = &read.session;
    let mut catalog = state.catalogs.for_project(&read.project).await?;
    if catalog.tool(&req.tool_slug).is_none() {
        // Perhaps a custom toolkit made a moment ago on another replica.
        catalog = state.catalogs.fresh_for_project(&read.project).await?;
    }
    let tool = catalog.tool(&req.tool_slug).ok_or_else(|| {
        Error::invalid(
            switchboard_core::reason::UNKNOWN_TOOL,
            "tool_slug",
            format!("unknown tool {:?}", req.tool_slug),
        )
    })?;
    let default_config = SessionConfig::default();
    let config = session.config.as_ref().unwrap_or(&default_config);
    if !Scope::new(config, &catalog).tool_allowed(tool) {
        count("scope");
        return Err(Error::PermissionDenied {
            reason: switchboard_core::reason::TOOL_NOT_IN_SESSION,
            message: format!(
                "tool {} is outside this session's toolkit, tool and tag filters",
                tool.slug
            ),
        });
    }
    let rejected = |_: &Error| count("arguments");
    let args = read_arguments(state, req).inspect_err(rejected)?;
    arguments::validate(&tool.input_validator, &args).inspect_err(rejected)?;

    let toolkit = catalog
        .toolkit(&tool.toolkit)
        .ok_or_else(|| Error::Internal(format!("tool {} has no toolkit", tool.slug)))?;
    let account = if toolkit.is_no_auth() {
        None
    } else {
        let fetched;
        let user_accounts = match &read.accounts {
            Some(accounts) => accounts,
            None => {
                fetched = state
                    .store
                    .user_accounts(&read.project, &session.user_id)
                    .await?;
                &fetched
            }
        };
        let chosen = accounts::select(config, user_accounts, &tool.toolkit, &req.account)?;
        Some(ExecutionAccount {
            id: chosen.id.clone(),
            alias: chosen.alias.clone(),
        })
    };

    let span = tracing::Span::current();
    let (trace_id, traceparent) = trace_of(&span, checks.parent);
    let execution = Execution {
        id: new_id("ex"),
        session_id: session.id.clone(),
        user_id: session.user_id.clone(),
        tool_slug: tool.slug.clone(),
        toolkit: tool.toolkit.clone(),
        account,
        status: ExecutionStatus::Queued as i32,
        idempotency_key: req.idempotency_key.clone(),
        arguments_digest: arguments::digest(&args),
        trace_id,
        create_time: Some(now_timestamp()),
        ..Default::default()
    };
    span.record("execution_id", execution.id.as_str());
    let sync = checks.mode != ExecutionMode::Async;
    let limits = &state.config.executions;
    let deadline_ms = now_ms()
        + i64::from(if sync {
            checks.timeout_ms
        } else {
            limits.max_timeout_ms
        });
    let reply_subject = if sync {
        state
            .bus
            .names
            .result_subject(state.results.gateway_id(), &execution.id)
    } else {
        String::new()
    };
    Ok(Prepared {
        new: NewExecution {
            execution,
            arguments_json: args.to_string(),
            reply_subject,
            deadline_ms,
            idempotency_key_digest: (!req.idempotency_key.is_empty()).then(|| {
                arguments::digest(&serde_json::Value::String(req.idempotency_key.clone()))
            }),
        },
        traceparent,
        sync,
    })
}

/// The answer for a reused idempotency key: the earlier execution (its job published again if
/// it is still QUEUED).
async fn existing(
    state: &AppState,
    project: &str,
    earlier: Execution,
    traceparent: &str,
) -> Result<ExecuteToolResponse, Error> {
    tracing::debug!(execution_id = %earlier.id, "idempotency key reused; returning the earlier execution");
    if earlier.status() == ExecutionStatus::Queued {
        // The first attempt may have stopped (its gateway died) between storing the
        // execution and publishing its job: publish it again. The execution id is the
        // message id, so a job that did reach the stream is not doubled, and a worker
        // claims an execution only once anyway.
        let job = switchboard_bus::Job {
            project_id: project.to_owned(),
            execution_id: earlier.id.clone(),
        };
        if let Err(e) = state
            .bus
            .publish_job(&earlier.toolkit, &job, traceparent)
            .await
        {
            tracing::warn!(execution_id = %earlier.id, error = %e, "job of a retried call not accepted");
            return Err(Error::Unavailable {
                reason: switchboard_core::reason::BUS_UNAVAILABLE,
                message: format!(
                    "the job bus is unavailable; execution {} is still queued, retry the call",
                    earlier.id
                ),
            });
        }
    }
    Ok(ExecuteToolResponse {
        execution: Some(earlier),
    })
}

/// The checks of a request that need nothing stored: its mode and timeout, or the error.
fn check_request(
    state: &AppState,
    req: &ExecuteToolRequest,
) -> Result<(ExecutionMode, u32), Error> {
    required(&req.session_id, "session_id")?;
    required(&req.tool_slug, "tool_slug")?;
    let mode = ExecutionMode::try_from(req.mode).map_err(|_| {
        Error::invalid(
            switchboard_core::reason::INVALID_MODE,
            "mode",
            format!("{} is not an execution mode", req.mode),
        )
    })?;
    let limits = &state.config.executions;
    let timeout_ms = match req.timeout_ms {
        0 => limits.default_timeout_ms,
        t if t > limits.max_timeout_ms => {
            return Err(Error::invalid(
                switchboard_core::reason::OUT_OF_RANGE,
                "timeout_ms",
                format!("{t} is over the limit of {}", limits.max_timeout_ms),
            ))
        }
        t => t,
    };
    if req.idempotency_key.len() > 256 || req.idempotency_key.chars().any(char::is_control) {
        return Err(Error::invalid(
            switchboard_core::reason::INVALID_IDEMPOTENCY_KEY,
            "idempotency_key",
            "must be at most 256 bytes without control characters",
        ));
    }
    Ok((mode, timeout_ms))
}

/// `execution` ended with `status` and an error.
fn end(execution: &Execution, status: ExecutionStatus, code: &str, message: &str) -> Execution {
    let mut ended = execution.clone();
    ended.status = status as i32;
    ended.error = Some(ExecutionError {
        code: code.to_owned(),
        message: message.to_owned(),
        provider_status: 0,
    });
    ended.end_time = Some(now_timestamp());
    ended
}

pub async fn get_execution(
    state: &AppState,
    project: &str,
    req: GetExecutionRequest,
) -> Result<GetExecutionResponse, Error> {
    required(&req.session_id, "session_id")?;
    required(&req.execution_id, "execution_id")?;
    let session = state.store.get_session(project, &req.session_id).await?;
    let execution = state
        .store
        .get_execution(project, &req.execution_id)
        .await?;
    if execution.session_id != session.id {
        // Another session's execution does not exist for this one.
        return Err(Error::not_found(
            switchboard_core::reason::EXECUTION_NOT_FOUND,
            format!("execution {:?} not found", req.execution_id),
        ));
    }
    Ok(GetExecutionResponse {
        execution: Some(execution),
    })
}

pub async fn list_executions(
    state: &AppState,
    project: &str,
    req: ListExecutionsRequest,
) -> Result<ListExecutionsResponse, Error> {
    required(&req.session_id, "session_id")?;
    let size = page_size(req.page_size, "page_size")?;
    let after = decode_token(&req.page_token, "page_token")?;
    let session = state.store.get_session(project, &req.session_id).await?;
    let (executions, more) = state
        .store
        .list_executions(project, &session.id, after.as_deref(), size)
        .await?;
    let next_page_token = match (more, executions.last()) {
        (true, Some(last)) => encode_token(&last.id),
        _ => String::new(),
    };
    Ok(ListExecutionsResponse {
        executions,
        next_page_token,
    })
}
