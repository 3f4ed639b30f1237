//! ExecuteTool, GetExecution and ListExecutions. ExecuteTool checks the session's scope rules
//! and the arguments, stores the execution QUEUED, publishes its job on the job stream and,
//! for sync calls, waits for the worker's reply up to the deadline. Nothing is stored or
//! published for a call that fails a check.

use std::time::Duration;

use prost::Message;
use rand::RngCore;
use switchboard_core::page::{decode_token, encode_token, page_size};
use switchboard_core::scope::Scope;
use switchboard_core::{accounts, arguments, ids::new_id, Error};
use switchboard_proto::v1::{
    ExecuteToolRequest, ExecuteToolResponse, Execution, ExecutionAccount, ExecutionError,
    ExecutionMode, ExecutionStatus, GetExecutionRequest, GetExecutionResponse,
    ListExecutionsRequest, ListExecutionsResponse,
};
use switchboard_store::{Created, NewExecution};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::auth;
use crate::grpc::required;
use crate::state::AppState;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn timestamp() -> prost_types::Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(now.subsec_nanos()).unwrap_or(0),
    }
}

/// The call's W3C trace context from its `ExecuteTool` span: (trace id, traceparent header).
/// Without a tracer provider (tests that never set telemetry up) a random context stands in.
fn trace_of(span: &tracing::Span) -> (String, String) {
    if let (Some(trace_id), Some(traceparent)) = (
        switchboard_telemetry::trace_id_of(span),
        switchboard_telemetry::traceparent_of(span),
    ) {
        return (trace_id, traceparent);
    }
    let mut trace = [0u8; 16];
    let mut span = [0u8; 8];
    rand::rng().fill_bytes(&mut trace);
    rand::rng().fill_bytes(&mut span);
    let trace_id = hex::encode(trace);
    let traceparent = format!("00-{trace_id}-{}-01", hex::encode(span));
    (trace_id, traceparent)
}

/// The arguments of a call as JSON, from whichever field carries them.
fn read_arguments(state: &AppState, req: &ExecuteToolRequest) -> Result<serde_json::Value, Error> {
    let max = state.config.executions.max_argument_bytes;
    match (&req.arguments, req.arguments_json.is_empty()) {
        (Some(_), false) => Err(Error::invalid(
            "CONFLICTING_ARGUMENTS",
            "arguments",
            "give arguments or arguments_json, not both",
        )),
        (None, false) => arguments::parse_json(&req.arguments_json, max, "arguments_json"),
        (Some(s), true) => {
            let size = s.encoded_len();
            if size > max {
                return Err(Error::invalid(
                    "ARGUMENTS_TOO_LARGE",
                    "arguments",
                    format!("is {size} bytes; at most {max} are allowed"),
                ));
            }
            Ok(switchboard_proto::struct_to_json(s))
        }
        (None, true) => Ok(serde_json::Value::Object(Default::default())),
    }
}

/// Runs the call in an `ExecuteTool` span, continuing the caller's trace when the request carries
/// a `traceparent`; the job on NATS and the worker's provider call join the same trace.
pub async fn execute_tool(
    state: &AppState,
    request: Request<ExecuteToolRequest>,
) -> Result<Response<ExecuteToolResponse>, Status> {
    let span = tracing::info_span!(
        "ExecuteTool",
        tool = %request.get_ref().tool_slug,
        execution_id = tracing::field::Empty,
    );
    if let Some(traceparent) = request
        .metadata()
        .get(switchboard_telemetry::TRACEPARENT)
        .and_then(|v| v.to_str().ok())
    {
        switchboard_telemetry::set_parent_from_traceparent(&span, traceparent);
    }
    execute_tool_in_span(state, request).instrument(span).await
}

async fn execute_tool_in_span(
    state: &AppState,
    request: Request<ExecuteToolRequest>,
) -> Result<Response<ExecuteToolResponse>, Status> {
    let project = auth::project(state, request.metadata()).await?;
    run(state, project, request.into_inner())
        .await
        .map(Response::new)
}

/// ExecuteTool for a caller already known to be in `project` (gRPC after its API key, MCP after
/// its session token): the same checks, store, publish and wait.
pub async fn run(
    state: &AppState,
    project: String,
    req: ExecuteToolRequest,
) -> Result<ExecuteToolResponse, Status> {
    let started = std::time::Instant::now();
    required(&req.session_id, "session_id")?;
    required(&req.tool_slug, "tool_slug")?;
    let mode = ExecutionMode::try_from(req.mode).map_err(|_| {
        Error::invalid(
            "INVALID_MODE",
            "mode",
            format!("{} is not an execution mode", req.mode),
        )
    })?;
    let limits = &state.config.executions;
    let timeout_ms = match req.timeout_ms {
        0 => limits.default_timeout_ms,
        t if t > limits.max_timeout_ms => {
            return Err(Error::invalid(
                "OUT_OF_RANGE",
                "timeout_ms",
                format!("{t} is over the limit of {}", limits.max_timeout_ms),
            )
            .into())
        }
        t => t,
    };
    if req.idempotency_key.len() > 256 || req.idempotency_key.chars().any(char::is_control) {
        return Err(Error::invalid(
            "INVALID_IDEMPOTENCY_KEY",
            "idempotency_key",
            "must be at most 256 bytes without control characters",
        )
        .into());
    }

    // With a tool whose toolkit needs an account, the session and its user's accounts are
    // read together (one round trip).
    let needs_account = state
        .catalog
        .tool(&req.tool_slug)
        .and_then(|t| state.catalog.toolkit(&t.toolkit))
        .is_some_and(|k| !k.is_no_auth());
    let (session, prefetched) = if needs_account {
        let (session, accounts) = state
            .store
            .get_session_and_accounts(&project, &req.session_id)
            .await?;
        (session, Some(accounts))
    } else {
        (
            state.store.get_session(&project, &req.session_id).await?,
            None,
        )
    };
    let tool = state.catalog.tool(&req.tool_slug).ok_or_else(|| {
        Error::invalid(
            "UNKNOWN_TOOL",
            "tool_slug",
            format!("unknown tool {:?}", req.tool_slug),
        )
    })?;
    let config = session.config.clone().unwrap_or_default();
    if !Scope::new(&config, &state.catalog).tool_allowed(tool) {
        switchboard_metrics::execution_rejected("scope");
        return Err(Error::PermissionDenied {
            reason: "TOOL_NOT_IN_SESSION",
            message: format!(
                "tool {} is outside this session's toolkit, tool and tag filters",
                tool.slug
            ),
        }
        .into());
    }
    let rejected = |_: &Error| switchboard_metrics::execution_rejected("arguments");
    let args = read_arguments(state, &req).inspect_err(rejected)?;
    arguments::validate(&tool.input_validator, &args).inspect_err(rejected)?;

    let toolkit = state
        .catalog
        .toolkit(&tool.toolkit)
        .ok_or_else(|| Error::Internal(format!("tool {} has no toolkit", tool.slug)))?;
    let account = if toolkit.is_no_auth() {
        None
    } else {
        let user_accounts = match prefetched {
            Some(accounts) => accounts,
            None => {
                state
                    .store
                    .user_accounts(&project, &session.user_id)
                    .await?
            }
        };
        let chosen = accounts::select(&config, &user_accounts, &tool.toolkit, &req.account)?;
        Some(ExecutionAccount {
            id: chosen.id.clone(),
            alias: chosen.alias.clone(),
        })
    };

    let span = tracing::Span::current();
    let (trace_id, traceparent) = trace_of(&span);
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
        create_time: Some(timestamp()),
        ..Default::default()
    };
    span.record("execution_id", execution.id.as_str());
    let sync = mode != ExecutionMode::Async;
    let deadline_ms = now_ms()
        + i64::from(if sync {
            timeout_ms
        } else {
            limits.max_timeout_ms
        });
    let new = NewExecution {
        execution: execution.clone(),
        arguments_json: args.to_string(),
        reply_subject: if sync {
            state
                .bus
                .names
                .result_subject(state.results.gateway_id(), &execution.id)
        } else {
            String::new()
        },
        deadline_ms,
        idempotency_key_digest: (!req.idempotency_key.is_empty())
            .then(|| arguments::digest(&serde_json::Value::String(req.idempotency_key.clone()))),
    };
    let waiter = sync.then(|| state.results.wait_for(&execution.id));
    match state.store.create_execution(&project, &new).await? {
        Created::Existing(earlier) => {
            tracing::debug!(execution_id = %earlier.id, "idempotency key reused; returning the earlier execution");
            if earlier.status() == ExecutionStatus::Queued {
                // The first attempt may have stopped (its gateway died) between storing the
                // execution and publishing its job: publish it again. The execution id is the
                // message id, so a job that did reach the stream is not doubled, and a worker
                // claims an execution only once anyway.
                let job = switchboard_bus::Job {
                    project_id: project.clone(),
                    execution_id: earlier.id.clone(),
                };
                if let Err(e) = state
                    .bus
                    .publish_job(&earlier.toolkit, &job, &traceparent)
                    .await
                {
                    tracing::warn!(execution_id = %earlier.id, error = %e, "job of a retried call not accepted");
                    return Err(Error::Unavailable {
                        reason: "BUS_UNAVAILABLE",
                        message: format!(
                            "the job bus is unavailable; execution {} is still queued, retry the call",
                            earlier.id
                        ),
                    }
                    .into());
                }
            }
            return Ok(ExecuteToolResponse {
                execution: Some(*earlier),
            });
        }
        Created::New => {}
    }
    tracing::debug!(execution_id = %execution.id, trace_id = %execution.trace_id, tool = %tool.slug, "execution queued");

    let job = switchboard_bus::Job {
        project_id: project.clone(),
        execution_id: execution.id.clone(),
    };
    if let Err(e) = state
        .bus
        .publish_job(&tool.toolkit, &job, &traceparent)
        .await
    {
        let full = matches!(e, switchboard_bus::PublishError::Full);
        tracing::warn!(execution_id = %execution.id, error = %e, "job not accepted");
        let ended = end(
            &execution,
            ExecutionStatus::Failed,
            "NOT_ACCEPTED",
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
            .transition_execution(&project, &ended, &[ExecutionStatus::Queued])
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
                    reason: "QUEUE_FULL",
                    message: format!(
                        "the job queue is full; execution {} was not run",
                        execution.id
                    ),
                    execution_id: execution.id.clone(),
                }
            } else {
                Error::Unavailable {
                    reason: "BUS_UNAVAILABLE",
                    message: format!(
                        "the job bus is unavailable; execution {} was not run",
                        execution.id
                    ),
                }
            }
            .into());
        }
    }
    switchboard_metrics::execution_accepted(&tool.toolkit);
    // Observed on every way out from here: the answer, a timeout or an error.
    let _timer = switchboard_metrics::execution_timer(
        &tool.toolkit,
        if sync { "sync" } else { "async" },
        started,
    );

    let Some(waiter) = waiter else {
        return Ok(ExecuteToolResponse {
            execution: Some(execution),
        });
    };
    let wait = Duration::from_millis(u64::from(timeout_ms));
    let mut waiter = waiter;
    if let Ok(Ok(reply)) = tokio::time::timeout(wait, &mut waiter.receiver).await {
        let finished = if reply.in_store_only {
            state.store.get_execution(&project, &execution.id).await?
        } else {
            reply.execution
        };
        return Ok(ExecuteToolResponse {
            execution: Some(finished),
        });
    }
    // No reply in time: it may have finished anyway (a lost reply), may still be running, or
    // no worker took it — then it ends TIMED_OUT here, and a worker that takes it later skips it.
    let current = state.store.get_execution(&project, &execution.id).await?;
    if switchboard_store::is_terminal(current.status()) {
        return Ok(ExecuteToolResponse {
            execution: Some(current),
        });
    }
    let timed_out = end(
        &execution,
        ExecutionStatus::TimedOut,
        "TIMED_OUT",
        "no worker took the call before its deadline; it was not run",
    );
    let message = if state
        .store
        .transition_execution(&project, &timed_out, &[ExecutionStatus::Queued])
        .await?
    {
        switchboard_metrics::execution_ended(&tool.toolkit, &tool.slug, "TIMED_OUT");
        format!("no worker took execution {} within {timeout_ms} ms; it ended TIMED_OUT without running", execution.id)
    } else {
        format!(
            "execution {} is still running after {timeout_ms} ms; read it later with GetExecution",
            execution.id
        )
    };
    Err(Error::DeadlineExceeded {
        reason: "EXECUTION_DEADLINE_EXCEEDED",
        message,
        execution_id: execution.id,
    }
    .into())
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
    ended.end_time = Some(timestamp());
    ended
}

pub async fn get_execution(
    state: &AppState,
    request: Request<GetExecutionRequest>,
) -> Result<Response<GetExecutionResponse>, Status> {
    let project = auth::project(state, request.metadata()).await?;
    let req = request.into_inner();
    required(&req.session_id, "session_id")?;
    required(&req.execution_id, "execution_id")?;
    let session = state.store.get_session(&project, &req.session_id).await?;
    let execution = state
        .store
        .get_execution(&project, &req.execution_id)
        .await?;
    if execution.session_id != session.id {
        // Another session's execution does not exist for this one.
        return Err(Error::not_found(
            "EXECUTION_NOT_FOUND",
            format!("execution {:?} not found", req.execution_id),
        )
        .into());
    }
    Ok(Response::new(GetExecutionResponse {
        execution: Some(execution),
    }))
}

pub async fn list_executions(
    state: &AppState,
    request: Request<ListExecutionsRequest>,
) -> Result<Response<ListExecutionsResponse>, Status> {
    let project = auth::project(state, request.metadata()).await?;
    let req = request.into_inner();
    required(&req.session_id, "session_id")?;
    let size = page_size(req.page_size, "page_size")?;
    let after = decode_token(&req.page_token, "page_token")?;
    let session = state.store.get_session(&project, &req.session_id).await?;
    let (executions, more) = state
        .store
        .list_executions(&project, &session.id, after.as_deref(), size)
        .await?;
    let next_page_token = match (more, executions.last()) {
        (true, Some(last)) => encode_token(&last.id),
        _ => String::new(),
    };
    Ok(Response::new(ListExecutionsResponse {
        executions,
        next_page_token,
    }))
}
