//! One job: claim the execution, run it (or answer from what is stored), store the result,
//! reply to the waiting gateway, acknowledge. The result is stored before the reply and the
//! reply before the ack, so a crash at any point leaves either a finished record or a job that
//! will be redelivered.

use std::sync::Arc;
use std::time::Duration;

use switchboard_bus::Delivery as Message;
use switchboard_core::credential::Credential;
use switchboard_core::reason;
use switchboard_core::time::{now_ms, now_timestamp};
use switchboard_proto::v1::{Execution, ExecutionError, ExecutionStatus};
use switchboard_store::{Claim, JobRecord};
use tracing::Instrument;

use crate::Context;
use switchboard_provider::{self as provider, CallPolicy, Outcome};

fn failed(
    execution: &Execution,
    status: ExecutionStatus,
    code: &str,
    message: String,
    provider_status: u32,
) -> Execution {
    let mut ended = execution.clone();
    ended.status = status as i32;
    ended.error = Some(ExecutionError {
        code: code.to_owned(),
        message,
        provider_status,
    });
    ended.end_time = Some(now_timestamp());
    ended
}

/// Handles one job message in a `job` span that continues the trace of the message's
/// `traceparent` header (the gateway's `ExecuteTool` span).
pub(crate) async fn handle(context: &Arc<Context>, message: Message) {
    if message.delivered() > 1 {
        switchboard_metrics::job_redelivered();
    }
    let span = tracing::info_span!("job", execution_id = tracing::field::Empty);
    if let Some(traceparent) = message.header(switchboard_bus::headers::TRACEPARENT) {
        switchboard_telemetry::set_parent_from_traceparent(&span, traceparent);
    }
    handle_in_span(context, message).instrument(span).await
}

/// Handles one job message; never panics on bad input.
async fn handle_in_span(context: &Arc<Context>, message: Message) {
    let job = match message.job() {
        Ok(job) => job,
        Err(e) => {
            // The error names what is wrong, never the payload's contents.
            tracing::warn!(error = %e, subject = %message.subject(), "malformed job; dropping it");
            let _ = message.reject().await;
            return;
        }
    };
    tracing::Span::current().record("execution_id", job.execution_id.as_str());
    let outcome = run(context, &job, &message).await;
    match outcome {
        Ok(Done::Leave) => {}
        Ok(Done::Ack) => {
            if let Err(e) = message.ack().await {
                tracing::warn!(execution_id = %job.execution_id, error = %e, "failed to acknowledge a finished job; it will be redelivered and answered from the stored result");
            }
        }
        Err(e) => {
            // The store is unreachable: leave the job for a later delivery.
            tracing::warn!(execution_id = %job.execution_id, error = %e, "job not finished; it will be redelivered");
            let _ = message.retry(Some(Duration::from_millis(500))).await;
        }
    }
}

/// What to do with a job message once handled.
enum Done {
    /// Acknowledge it: the execution is finished.
    Ack,
    /// Neither acknowledge nor refuse it: another delivery of the job is running it.
    Leave,
}

/// The lease a worker holds on an execution it runs, renewed with each in-progress ack: as
/// long as the job's acknowledgement time, so a lapsed lease matches a redelivery.
fn lease(context: &Context) -> Duration {
    Duration::from_secs(context.config.worker.ack_wait_secs.max(1))
}

async fn run(
    context: &Arc<Context>,
    job: &switchboard_bus::Job,
    message: &Message,
) -> Result<Done, switchboard_core::Error> {
    let store = &context.store;
    let claim = store
        .claim_execution(&job.project_id, &job.execution_id, lease(context))
        .await;
    let claim = match claim {
        Ok(c) => c,
        Err(switchboard_core::Error::NotFound { .. }) => {
            tracing::warn!(execution_id = %job.execution_id, "job for an execution that does not exist; dropping it");
            return Ok(Done::Ack);
        }
        Err(e) => return Err(e),
    };
    let record = match claim {
        Claim::Finished(record) => {
            // Redelivered after it finished: answer from the stored result.
            reply(context, &record.reply_subject, &record.execution).await;
            return Ok(Done::Ack);
        }
        Claim::Busy(_) => {
            // This copy of the job waited (in this or another worker's buffer) past its
            // acknowledgement time and the stream handed the job out again; the delivery that
            // runs it holds the lease, acknowledges it when done, and if it stops, the lease
            // lapses and the job comes back.
            tracing::debug!(execution_id = %job.execution_id, "job already running under another delivery; leaving this copy");
            return Ok(Done::Leave);
        }
        Claim::Abandoned(record) => {
            // Unknown (the project's catalog unreadable now) counts as not idempotent.
            let idempotent = context
                .catalogs
                .for_project(&job.project_id)
                .await
                .is_ok_and(|catalog| {
                    catalog
                        .tool(&record.execution.tool_slug)
                        .is_some_and(|t| t.is_idempotent())
                });
            if !idempotent {
                let ended = failed(
                    &record.execution,
                    ExecutionStatus::OutcomeUnknown,
                    reason::OUTCOME_UNKNOWN,
                    "an earlier attempt stopped after it may have reached the provider; the tool is not idempotent, so it was not repeated and whether it took effect is unknown".into(),
                    0,
                );
                finish(context, job, &record, ended).await?;
                return Ok(Done::Ack);
            }
            tracing::info!(execution_id = %job.execution_id, "re-running an idempotent tool whose earlier attempt stopped");
            let mut again = record.clone();
            again.execution.attempts += 1;
            again
        }
        Claim::Claimed(record) => record,
    };
    let ended = execute(context, &job.project_id, &record, message).await;
    finish(context, job, &record, ended).await?;
    Ok(Done::Ack)
}

/// Stores the final record (unless another attempt finished first), then replies.
async fn finish(
    context: &Arc<Context>,
    job: &switchboard_bus::Job,
    record: &JobRecord,
    ended: Execution,
) -> Result<(), switchboard_core::Error> {
    let stored = context
        .store
        .transition_execution(
            &job.project_id,
            &ended,
            &[ExecutionStatus::Running, ExecutionStatus::Queued],
        )
        .await?;
    let final_record = if stored {
        // Counted once, by whoever stored the final record.
        let status = ended.status().as_str_name();
        let status = status.trim_start_matches("EXECUTION_STATUS_");
        switchboard_metrics::execution_ended(&ended.toolkit, &ended.tool_slug, status);
        ended
    } else {
        context
            .store
            .get_execution(&job.project_id, &job.execution_id)
            .await?
    };
    tracing::debug!(execution_id = %final_record.id, status = ?final_record.status(), "execution finished");
    reply(context, &record.reply_subject, &final_record).await;
    Ok(())
}

async fn reply(context: &Arc<Context>, subject: &str, execution: &Execution) {
    if subject.is_empty() {
        return;
    }
    if let Err(e) = context.bus.reply(subject, execution).await {
        tracing::warn!(execution_id = %execution.id, error = %e, "failed to reply; the caller will read the stored result");
    }
}

/// Runs the provider call for a claimed execution and returns its final record.
async fn execute(
    context: &Arc<Context>,
    project: &str,
    record: &JobRecord,
    message: &Message,
) -> Execution {
    let execution = &record.execution;
    let left_ms = record.deadline_ms - now_ms();
    if left_ms <= 0 {
        return failed(
            execution,
            ExecutionStatus::TimedOut,
            reason::TIMED_OUT,
            "the call's deadline passed before a worker could run it; it was not run".into(),
            0,
        );
    }
    let catalog = match context.catalogs.for_project(project).await {
        Ok(catalog) => catalog,
        Err(e) => {
            return failed(
                execution,
                ExecutionStatus::Failed,
                reason::INTERNAL,
                format!("the project's catalog could not be read: {e}"),
                0,
            )
        }
    };
    // A project's own toolkit may have changed a moment ago: a miss is checked against the
    // store before it counts.
    let catalog = if catalog.tool(&execution.tool_slug).is_some() {
        catalog
    } else {
        match context.catalogs.fresh_for_project(project).await {
            Ok(fresh) => fresh,
            Err(_) => catalog,
        }
    };
    let (Some(tool), Some(toolkit)) = (
        catalog.tool(&execution.tool_slug),
        catalog.toolkit(&execution.toolkit),
    ) else {
        return failed(
            execution,
            ExecutionStatus::Failed,
            reason::UNKNOWN_TOOL,
            format!(
                "tool {} is no longer in the project's catalog (its toolkit was deleted or changed)",
                execution.tool_slug
            ),
            0,
        );
    };
    let credential = match credential(context, project, record).await {
        Ok(c) => c,
        Err((code, message)) => {
            return failed(execution, ExecutionStatus::Failed, code, message, 0)
        }
    };
    let arguments: serde_json::Value = match serde_json::from_str(&record.arguments_json) {
        Ok(v) => v,
        Err(_) => {
            return failed(
                execution,
                ExecutionStatus::Failed,
                reason::INTERNAL,
                "stored arguments do not parse".into(),
                0,
            )
        }
    };
    // The call's deadline is how long its caller waits and whether the job may still start.
    // Once started, the provider call gets at least one full provider timeout: cutting it at a
    // short sync deadline would leave a call the provider may have carried out recorded as
    // OUTCOME_UNKNOWN, when waiting gives its real answer for GetExecution.
    let provider_timeout_ms = context.config.worker.provider_timeout_ms;
    let budget_ms = u64::try_from(left_ms).unwrap_or(0).max(provider_timeout_ms);
    let policy = CallPolicy {
        timeout: Duration::from_millis(provider_timeout_ms),
        max_retries: context.config.worker.max_retries,
        deadline: tokio::time::Instant::now() + Duration::from_millis(budget_ms),
    };
    // Long calls keep the job from being redelivered with in-progress acks.
    let progress_every = Duration::from_secs(context.config.worker.ack_wait_secs.max(3) / 3);
    // `http.status` is recorded by the provider client on each answer.
    let call_span = tracing::info_span!(
        "provider call",
        toolkit = %toolkit.slug,
        tool = %tool.slug,
        http.status = tracing::field::Empty,
    );
    let account_id = execution.account.as_ref().map(|a| a.id.clone());
    let call = async {
        let first = provider::call(&context.http, toolkit, tool, &arguments, &credential, &policy).await;
        // A 401 with OAuth tokens: the access token may have been revoked or expired early.
        // Refresh once (coordinated like any refresh) and call again; a 401 means the provider
        // did not act, so this is safe for any tool.
        let (Credential::OAuth2(held), Some(account_id)) = (&credential, &account_id) else {
            return first;
        };
        let unauthorized = matches!(&first.outcome, Outcome::Failed { provider_status: 401, .. });
        if !unauthorized || held.refresh_token.is_none() {
            return first;
        }
        match context.oauth.fresh_tokens(project, account_id, held, true).await {
            Ok(tokens) => {
                let again = Credential::OAuth2(tokens);
                let mut second = provider::call(&context.http, toolkit, tool, &arguments, &again, &policy).await;
                second.attempts += first.attempts;
                second
            }
            Err(e) => {
                tracing::info!(execution_id = %execution.id, reason = %e, "no fresh token after a 401");
                first
            }
        }
    }
    .instrument(call_span);
    tokio::pin!(call);
    let started = std::time::Instant::now();
    let result = loop {
        tokio::select! {
            result = &mut call => break result,
            () = tokio::time::sleep(progress_every) => {
                // The lease first: it then never outlasts the job's acknowledgement time.
                let _ = context
                    .store
                    .renew_execution_lease(project, &execution.id, lease(context))
                    .await;
                let _ = message.in_progress().await;
            }
        }
    };
    let outcome = match &result.outcome {
        Outcome::Success(_) => "ok",
        Outcome::Failed { code, .. } if *code == provider::PROVIDER_TIMEOUT => "timeout",
        Outcome::Failed { .. } => "error",
    };
    switchboard_metrics::provider_call(&toolkit.slug, &tool.slug, outcome, started.elapsed());
    let mut ended = execution.clone();
    ended.attempts = ended
        .attempts
        .saturating_add(result.attempts.saturating_sub(1));
    ended.end_time = Some(now_timestamp());
    match result.outcome {
        Outcome::Success(data) => {
            ended.status = ExecutionStatus::Succeeded as i32;
            ended.data = Some(switchboard_proto::json_to_value(&data));
        }
        Outcome::Failed {
            code,
            message,
            provider_status,
        } => {
            let status = if code == provider::PROVIDER_TIMEOUT && !tool.is_idempotent() {
                // The request may have reached the provider before the timeout.
                ExecutionStatus::OutcomeUnknown
            } else {
                ExecutionStatus::Failed
            };
            ended.status = status as i32;
            ended.error = Some(ExecutionError {
                code: code.to_owned(),
                message,
                provider_status: u32::from(provider_status),
            });
        }
    }
    ended
}

/// Opens the execution's account credential (NO_AUTH toolkits have none); OAuth tokens due
/// for refresh are refreshed first. Errors carry the execution error code.
async fn credential(
    context: &Arc<Context>,
    project: &str,
    record: &JobRecord,
) -> Result<Credential, (&'static str, String)> {
    let credential = stored_credential(context, project, record)
        .await
        .map_err(|m| (reason::ACCOUNT_UNAVAILABLE, m))?;
    let (Credential::OAuth2(held), Some(account)) = (&credential, &record.execution.account) else {
        return Ok(credential);
    };
    match context
        .oauth
        .fresh_tokens(project, &account.id, held, false)
        .await
    {
        Ok(tokens) => Ok(Credential::OAuth2(tokens)),
        // Without a refresh token, try the held one: the provider decides.
        Err(switchboard_oauth::RefreshError::NoRefreshToken) => Ok(credential),
        Err(e @ switchboard_oauth::RefreshError::Expired(_)) => Err((
            reason::ACCOUNT_EXPIRED,
            format!("connected account {}: {e}; reconnect it", account.id),
        )),
        Err(e @ switchboard_oauth::RefreshError::NotActive(_)) => Err((
            reason::ACCOUNT_UNAVAILABLE,
            format!("connected account {}: {e}", account.id),
        )),
        Err(e @ switchboard_oauth::RefreshError::Unavailable(_)) => Err((
            reason::TOKEN_REFRESH_FAILED,
            format!("connected account {}: {e}", account.id),
        )),
    }
}

/// Opens the execution's account credential as stored.
async fn stored_credential(
    context: &Arc<Context>,
    project: &str,
    record: &JobRecord,
) -> Result<Credential, String> {
    let Some(account) = &record.execution.account else {
        return Ok(Credential::None);
    };
    let stored = match &record.account {
        Some(stored) if stored.account.id == account.id => stored.clone(),
        _ => context
            .store
            .get_account(project, &account.id)
            .await
            .map_err(|_| format!("connected account {} is gone", account.id))?,
    };
    if stored.account.status != switchboard_core::accounts::ACTIVE {
        return Err(format!(
            "connected account {} is {}",
            account.id, stored.account.status
        ));
    }
    let plain = context
        .sealer
        .open(&stored.sealed, &account.id)
        .map_err(|e| {
            format!(
                "the credential of account {} cannot be opened: {e}",
                account.id
            )
        })?;
    Credential::from_bytes(&plain)
        .map_err(|_| format!("the credential of account {} is unreadable", account.id))
}
