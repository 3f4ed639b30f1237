#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The trigger types of `toolkits/` checked against the providers' own published descriptions in
//! `shared/provider-specs/`, not against our memory of their events.
//!
//! GitHub: every webhook trigger names a real event and action, its payload schema accepts every
//! real example delivery of that event and action (`webhook-examples.json`), and every property
//! it declares, at any depth, exists in GitHub's webhook schema (`webhooks-openapi.json`) with
//! types and enum values we accept, and is required only where GitHub requires it. Slack: the
//! `message` event against the Events API description and the Web API's message object. Gmail:
//! the message reference against the discovery document's `History` and `Message` schemas.
//! Generic poll triggers: the payload is the list tool's item. And `validate_config` names the
//! bad field. A missing description file fails the test, never skips it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::{json, Value};
use switchboard_catalog::{Catalog, LoadOptions, TriggerType, NATIVE_POLLERS};

mod specs;
use specs::{provider_doc, TOOLKITS_DIR};

// ---------------------------------------------------------------------------------------------
// Loading

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        Catalog::load_dir(Path::new(TOOLKITS_DIR), &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

fn github_webhooks_doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    provider_doc(&DOC, "github/webhooks-openapi.json")
}

fn github_examples() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    provider_doc(&DOC, "github/webhook-examples.json")
}

fn slack_events_doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    provider_doc(&DOC, "slack/events-api-asyncapi.json")
}

fn slack_web_doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    provider_doc(&DOC, "slack/web-openapi-v2.json")
}

fn gmail_doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    provider_doc(&DOC, "google/gmail.v1.json")
}

fn triggers_of(toolkit: &str) -> Vec<&'static TriggerType> {
    let triggers: Vec<&TriggerType> = catalog()
        .toolkit(toolkit)
        .unwrap_or_else(|| panic!("toolkit {toolkit} missing"))
        .trigger_types
        .iter()
        .map(|t| t.as_ref())
        .collect();
    assert!(!triggers.is_empty(), "{toolkit} declares no trigger types");
    triggers
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::validator_for(schema).unwrap()
}

/// Every error of `instance` against `validator`, as `<where>: <path>: <message>` lines.
fn validation_problems(
    validator: &jsonschema::Validator,
    instance: &Value,
    label: &str,
) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{label}: {}: {e}", e.instance_path().as_str()))
        .collect()
}

#[track_caller]
fn assert_no_problems(problems: &[String]) {
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Comparing our schema with a provider's

/// A provider schema together with the document its `$ref`s point into.
#[derive(Clone, Copy)]
struct Theirs<'a> {
    doc: &'a Value,
    schema: &'a Value,
}

impl<'a> Theirs<'a> {
    fn new(doc: &'a Value, schema: &'a Value) -> Theirs<'a> {
        Theirs { doc, schema }
    }

    /// Follows `$ref`s: JSON pointers (`#/components/schemas/x`, `#/definitions/x`) or, in
    /// Google discovery documents, bare schema names.
    fn resolve(self) -> Theirs<'a> {
        let mut schema = self.schema;
        while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            schema = match reference.strip_prefix('#') {
                Some(pointer) => self.doc.pointer(pointer),
                None => self.doc.get("schemas").and_then(|s| s.get(reference)),
            }
            .unwrap_or_else(|| panic!("dangling $ref {reference}"));
        }
        Theirs::new(self.doc, schema)
    }

    /// The schema and every `allOf`/`anyOf`/`oneOf` branch under it, resolved.
    fn branches(self) -> Vec<Theirs<'a>> {
        let this = self.resolve();
        let mut out = vec![this];
        for key in ["allOf", "anyOf", "oneOf"] {
            for branch in this
                .schema
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.extend(Theirs::new(self.doc, branch).branches());
            }
        }
        out
    }

    /// The types any branch allows (empty: not stated).
    fn types(self) -> BTreeSet<String> {
        let mut types = BTreeSet::new();
        for branch in self.branches() {
            types.extend(schema_types(branch.schema));
            if branch.schema.get("nullable").and_then(Value::as_bool) == Some(true)
                || branch.schema.get("x-nullable").and_then(Value::as_bool) == Some(true)
            {
                types.insert("null".to_owned());
            }
        }
        types
    }

    /// The enum values any branch allows, when every branch that states values does.
    fn enum_values(self) -> Option<BTreeSet<String>> {
        let mut values = BTreeSet::new();
        let mut stated = false;
        for branch in self.branches() {
            if let Some(list) = branch.schema.get("enum").and_then(Value::as_array) {
                stated = true;
                values.extend(list.iter().map(Value::to_string));
            }
        }
        stated.then_some(values)
    }

    fn property(self, name: &str) -> Vec<Theirs<'a>> {
        self.branches()
            .into_iter()
            .filter_map(|b| {
                b.schema
                    .get("properties")?
                    .get(name)
                    .map(|p| Theirs::new(b.doc, p))
            })
            .collect()
    }

    fn items(self) -> Vec<Theirs<'a>> {
        self.branches()
            .into_iter()
            .filter_map(|b| b.schema.get("items").map(|i| Theirs::new(b.doc, i)))
            .collect()
    }

    /// Properties always present: its own and its `allOf` parts' `required`, and those every
    /// `anyOf`/`oneOf` alternative requires.
    fn required(self) -> BTreeSet<String> {
        let this = self.resolve();
        let mut required: BTreeSet<String> = string_list(this.schema.get("required"));
        for branch in this
            .schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            required.extend(Theirs::new(self.doc, branch).required());
        }
        for key in ["anyOf", "oneOf"] {
            let alternatives: Vec<BTreeSet<String>> = this
                .schema
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|b| Theirs::new(self.doc, b).required())
                .collect();
            if let Some(first) = alternatives.first() {
                required.extend(
                    first
                        .iter()
                        .filter(|name| alternatives.iter().all(|a| a.contains(*name)))
                        .cloned(),
                );
            }
        }
        required
    }
}

fn string_list(value: Option<&Value>) -> BTreeSet<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn schema_types(schema: &Value) -> BTreeSet<String> {
    match schema.get("type") {
        Some(Value::String(t)) => BTreeSet::from([t.clone()]),
        Some(Value::Array(list)) => string_list(Some(&Value::Array(list.clone()))),
        _ => BTreeSet::new(),
    }
}

/// Our schema and its `anyOf`/`oneOf` alternatives (our schemas have no `$ref`s).
fn our_branches(ours: &Value) -> Vec<&Value> {
    let mut out = vec![ours];
    for key in ["anyOf", "oneOf", "allOf"] {
        for branch in ours
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(our_branches(branch));
        }
    }
    out
}

/// Whatever the provider may send at this place, our schema accepts: each type and enum value
/// theirs allows, ours allows too (an integer is a number).
fn check_types(ours: &Value, theirs: &[Theirs], path: &str, problems: &mut Vec<String>) {
    let our_types: BTreeSet<String> = our_branches(ours)
        .into_iter()
        .flat_map(schema_types)
        .collect();
    if !our_types.is_empty() {
        let their_types: BTreeSet<String> = theirs.iter().flat_map(|t| t.types()).collect();
        for t in their_types {
            let accepted =
                our_types.contains(&t) || (t == "integer" && our_types.contains("number"));
            if !accepted {
                problems.push(format!(
                    "{path}: the provider allows type {t}, our schema only {our_types:?}"
                ));
            }
        }
    }
    let our_enum: Option<BTreeSet<String>> = ours
        .get("enum")
        .and_then(Value::as_array)
        .map(|l| l.iter().map(Value::to_string).collect());
    if let Some(our_enum) = our_enum {
        let stated: Vec<BTreeSet<String>> = theirs.iter().filter_map(|t| t.enum_values()).collect();
        if stated.is_empty() {
            problems.push(format!(
                "{path}: our schema restricts the values to {our_enum:?}; the provider states none"
            ));
        }
        for value in stated.into_iter().flatten() {
            if !our_enum.contains(&value) {
                problems.push(format!(
                    "{path}: the provider may send {value}, which our enum {our_enum:?} refuses"
                ));
            }
        }
    }
}

/// Checks `ours` against the provider's schema `theirs` (one or more parts that all apply) at
/// every depth: each declared property exists there, types and enums accept what the provider
/// sends, and `required` names only what the provider always sends.
fn compare(ours: &Value, theirs: &[Theirs], path: &str, problems: &mut Vec<String>) {
    check_types(ours, theirs, path, problems);
    let their_required: BTreeSet<String> = theirs.iter().flat_map(|t| t.required()).collect();
    for branch in our_branches(ours) {
        if let Some(properties) = branch.get("properties").and_then(Value::as_object) {
            for (name, sub) in properties {
                let sub_path = format!("{path}.{name}");
                let their_sub: Vec<Theirs> = theirs.iter().flat_map(|t| t.property(name)).collect();
                if their_sub.is_empty() {
                    problems.push(format!("{sub_path}: not in the provider's schema"));
                    continue;
                }
                compare(sub, &their_sub, &sub_path, problems);
            }
        }
        for name in string_list(branch.get("required")) {
            if !their_required.contains(&name) {
                problems.push(format!(
                    "{path}: our schema requires {name:?}, which the provider does not always send"
                ));
            }
        }
        if let Some(items) = branch.get("items") {
            let their_items: Vec<Theirs> = theirs.iter().flat_map(|t| t.items()).collect();
            if their_items.is_empty() {
                problems.push(format!("{path}[]: the provider's schema has no items here"));
            } else {
                compare(items, &their_items, &format!("{path}[]"), problems);
            }
        }
    }
}

/// Top-level property names of a schema.
fn property_names(schema: &Value) -> BTreeSet<String> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// GitHub

/// Actions with no example delivery in `webhook-examples.json`: their triggers are checked with
/// every example of the same event, `action` set to theirs (the payload's shape does not depend
/// on the action beyond it), besides the OpenAPI schema of the exact action.
const GITHUB_ACTIONS_WITHOUT_EXAMPLES: [(&str, &str); 1] = [("issues", "closed")];

/// GitHub's webhook operation for an event and action: `x-github.subcategory` is the
/// `X-GitHub-Event` value, `operationId` is `<event>/<action>` (or the event alone).
fn github_webhook_schema(event: &str, action: Option<&str>) -> Theirs<'static> {
    let doc = github_webhooks_doc();
    let operation_id = match action {
        Some(action) => format!("{}/{action}", event.replace('_', "-")),
        None => event.to_owned(),
    };
    let webhooks = doc["webhooks"].as_object().unwrap();
    let operation = webhooks
        .values()
        .filter_map(|w| w.get("post"))
        .find(|post| {
            post["x-github"]["subcategory"] == event && post["operationId"] == operation_id.as_str()
        })
        .unwrap_or_else(|| {
            panic!("GitHub documents no webhook {event} with operationId {operation_id}")
        });
    Theirs::new(
        doc,
        &operation["requestBody"]["content"]["application/json"]["schema"],
    )
}

/// The example deliveries of `event` in `webhook-examples.json`, and the actions it lists.
fn github_event_examples(event: &str) -> (Vec<&'static Value>, BTreeSet<String>) {
    let entry = github_examples()
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == event)
        .unwrap_or_else(|| panic!("GitHub has no webhook event {event:?}"));
    let examples = entry["examples"].as_array().unwrap().iter().collect();
    (examples, string_list(entry.get("actions")))
}

/// The webhook triggers' actions, or `[None]` for an event without actions (push).
fn actions_of(trigger: &TriggerType) -> Vec<Option<&str>> {
    let webhook = trigger.spec.webhook.as_ref().unwrap();
    if webhook.actions.is_empty() {
        vec![None]
    } else {
        webhook.actions.iter().map(|a| Some(a.as_str())).collect()
    }
}

#[test]
fn github_triggers_name_real_events_and_actions() {
    let mut problems = Vec::new();
    for trigger in triggers_of("github") {
        let Some(webhook) = &trigger.spec.webhook else {
            continue;
        };
        let (_, actions) = github_event_examples(&webhook.event);
        for action in &webhook.actions {
            if !actions.contains(action) {
                problems.push(format!(
                    "{}: GitHub's {} event has no action {action:?} (it has {actions:?})",
                    trigger.slug, webhook.event
                ));
            }
        }
        if webhook.actions.is_empty() && !actions.is_empty() {
            problems.push(format!(
                "{}: {} has actions {actions:?}; list the ones that fire",
                trigger.slug, webhook.event
            ));
        }
    }
    assert_no_problems(&problems);
}

#[test]
fn github_payload_schemas_accept_every_real_example() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for trigger in triggers_of("github") {
        let Some(webhook) = &trigger.spec.webhook else {
            continue;
        };
        let payload = validator(&trigger.spec.payload_schema);
        let (examples, _) = github_event_examples(&webhook.event);
        for action in actions_of(trigger) {
            let matching: Vec<&Value> = examples
                .iter()
                .copied()
                .filter(|e| action.is_none_or(|a| e["action"] == a))
                .collect();
            let fallback = action.is_some_and(|a| {
                GITHUB_ACTIONS_WITHOUT_EXAMPLES.contains(&(webhook.event.as_str(), a))
            });
            let instances: Vec<Value> = if fallback {
                assert!(
                    matching.is_empty(),
                    "{} {action:?} has examples now: drop it from GITHUB_ACTIONS_WITHOUT_EXAMPLES",
                    webhook.event
                );
                examples
                    .iter()
                    .map(|e| {
                        let mut e = (*e).clone();
                        e["action"] = json!(action);
                        e
                    })
                    .collect()
            } else {
                assert!(
                    !matching.is_empty(),
                    "{}: no example of {} {action:?} to check against",
                    trigger.slug,
                    webhook.event
                );
                matching.into_iter().cloned().collect()
            };
            for (index, example) in instances.iter().enumerate() {
                checked += 1;
                let label = format!(
                    "{} example {index} of {} {action:?}",
                    trigger.slug, webhook.event
                );
                problems.extend(validation_problems(&payload, example, &label));
                // The repository of a real delivery makes a valid config.
                let config = json!({
                    "owner": example["repository"]["owner"]["login"],
                    "repo": example["repository"]["name"],
                });
                if let Err((field, message)) = trigger.validate_config(&config) {
                    problems.push(format!("{label}: config {config}: {field}: {message}"));
                }
            }
        }
    }
    assert_no_problems(&problems);
    assert!(checked >= 20, "only {checked} example deliveries checked");
}

#[test]
fn github_payload_schemas_match_the_webhook_openapi_schemas() {
    let mut problems = Vec::new();
    for trigger in triggers_of("github") {
        let Some(webhook) = &trigger.spec.webhook else {
            continue;
        };
        for action in actions_of(trigger) {
            let theirs = github_webhook_schema(&webhook.event, action);
            let path = format!("{} ({} {action:?})", trigger.slug, webhook.event);
            compare(
                &trigger.spec.payload_schema,
                &[theirs],
                &path,
                &mut problems,
            );
        }
    }
    assert_no_problems(&problems);
}

#[test]
fn the_schema_comparison_catches_mistakes() {
    // The checker itself: a misspelled property, a nested one GitHub lacks, a type GitHub may
    // send that we refuse, a field we require that GitHub may leave out, a narrower enum.
    let theirs = github_webhook_schema("issues", Some("opened"));
    let mut ours = catalog()
        .trigger_type("GITHUB_ISSUE_OPENED")
        .unwrap()
        .spec
        .payload_schema
        .clone();
    let mut problems = Vec::new();
    compare(&ours, &[theirs], "ok", &mut problems);
    assert_no_problems(&problems);

    ours["properties"]["isue"] = json!({"type": "object"});
    ours["properties"]["issue"]["properties"]["user"]["properties"]["nick"] =
        json!({"type": "string"});
    ours["properties"]["issue"]["properties"]["body"] = json!({"type": "string"});
    ours["properties"]["issue"]["required"] = json!(["id", "state"]);
    ours["properties"]["issue"]["properties"]["state"]["enum"] = json!(["open"]);
    compare(&ours, &[theirs], "bad", &mut problems);
    let all = problems.join("\n");
    for fragment in [
        "bad.isue: not in the provider's schema",
        "bad.issue.user.nick: not in the provider's schema",
        "bad.issue.body: the provider allows type null",
        "bad.issue: our schema requires \"state\"",
        "bad.issue.state: the provider may send \"closed\"",
    ] {
        assert!(
            all.contains(fragment),
            "{fragment:?} not reported in:\n{all}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Slack

#[test]
fn slack_message_event_matches_the_events_api_description() {
    let events = slack_events_doc();
    let web = slack_web_doc();
    let trigger = catalog().trigger_type("SLACK_MESSAGE_POSTED").unwrap();
    let webhook = trigger.spec.webhook.as_ref().unwrap();
    assert_eq!(webhook.event, "message");
    assert!(webhook.actions.is_empty(), "Slack events have no actions");

    // The AsyncAPI description's `message` topic: its schema was generated from one
    // (message_deleted) delivery, so it lists only some fields of a message event.
    let topic = &events["topics"][webhook.event.as_str()]["subscribe"]["payload"];
    assert!(
        topic.is_object(),
        "the Events API has no {} event",
        webhook.event
    );
    let topic_event = Theirs::new(events, &topic["properties"]["event"]);
    // The standard wrapper's example `event` is a plain message: the shape we deliver.
    let example = events["components"]["schemas"]["GenericEventWrapper"]["properties"]["event"]
        ["x-examples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "message")
        .expect("a message example in the Events API description");
    // A message event carries a message object, as the Web API describes it.
    let message = Theirs::new(web, &web["definitions"]["objs_message"]);

    let ours = &trigger.spec.payload_schema;
    let mut problems = validation_problems(&validator(ours), example, "the Events API example");
    let example_keys: BTreeSet<String> = example.as_object().unwrap().keys().cloned().collect();
    for (name, sub) in ours["properties"].as_object().unwrap() {
        let mut theirs: Vec<Theirs> = topic_event.property(name);
        theirs.extend(message.property(name));
        if theirs.is_empty() && !example_keys.contains(name) {
            problems.push(format!(
                "event.{name}: neither in the Events API message event, its example nor the Web \
                 API message object"
            ));
        }
        let mut sub = sub.clone();
        if name == "type" {
            // The event type is what the trigger matches on, so it is exactly that.
            assert_eq!(sub["enum"], json!([webhook.event]));
            sub.as_object_mut().unwrap().remove("enum");
        }
        check_types(&sub, &theirs, &format!("event.{name}"), &mut problems);
    }
    let always = topic_event.required();
    for name in string_list(ours.get("required")) {
        if !always.contains(&name) || !example_keys.contains(&name) {
            problems.push(format!(
                "event: we require {name:?}, which is not required by the Events API message \
                 event or absent from its example"
            ));
        }
    }
    // The example's channel makes a valid config.
    if let Err((field, message)) = trigger.validate_config(&json!({"channel": example["channel"]}))
    {
        problems.push(format!("config from the example: {field}: {message}"));
    }
    assert_no_problems(&problems);
    // A channel name is not an ID: refused, so a trigger that could never match is not created.
    assert_eq!(
        trigger
            .validate_config(&json!({"channel": "#general"}))
            .unwrap_err()
            .0,
        "config.channel"
    );
}

// ---------------------------------------------------------------------------------------------
// Gmail

#[test]
fn gmail_new_message_is_a_history_message_reference() {
    let doc = gmail_doc();
    let trigger = catalog().trigger_type("GMAIL_NEW_MESSAGE").unwrap();
    let poll = trigger.spec.poll.as_ref().unwrap();
    assert_eq!(poll.native.as_deref(), Some("gmail_history"));
    assert!(NATIVE_POLLERS.contains(&"gmail_history"));

    // users.history.list, the call the native poller makes, takes the cursor and a label.
    let list = &doc["resources"]["users"]["resources"]["history"]["methods"]["list"];
    for param in ["startHistoryId", "historyTypes", "labelId", "pageToken"] {
        assert!(
            list["parameters"].get(param).is_some(),
            "history.list lacks {param}"
        );
    }
    // history[].messagesAdded[].message is a Message.
    let history = Theirs::new(doc, &doc["schemas"]["History"]);
    let added = history.property("messagesAdded");
    assert_eq!(added.len(), 1, "History.messagesAdded");
    let items = added[0].items();
    let message: Vec<Theirs> = items.iter().flat_map(|i| i.property("message")).collect();
    assert_eq!(message.len(), 1, "HistoryMessageAdded.message");
    assert_eq!(message[0].schema["$ref"], "Message");

    let mut problems = Vec::new();
    let ours = &trigger.spec.payload_schema;
    compare(ours, &message, "message", &mut problems);
    // Discovery documents state no `required`; the API always returns these two.
    let required: BTreeSet<String> = string_list(ours.get("required"));
    problems.retain(|p| !p.contains("which the provider does not always send"));
    assert_eq!(
        required,
        BTreeSet::from(["id".to_owned(), "threadId".to_owned()])
    );
    assert_no_problems(&problems);
    assert_eq!(
        property_names(ours),
        BTreeSet::from(["id", "threadId", "labelIds"].map(str::to_owned))
    );
}

// ---------------------------------------------------------------------------------------------
// Generic polling

/// The schema of the items a list tool returns at `items_path`.
fn items_schema<'a>(output: &'a Value, items_path: &str) -> &'a Value {
    let mut schema = output;
    for segment in items_path.split('.').filter(|s| !s.is_empty()) {
        schema = &schema["properties"][segment];
    }
    &schema["items"]
}

#[test]
fn generic_poll_payloads_are_the_list_tools_items() {
    let mut problems = Vec::new();
    let mut seen = 0;
    for trigger in catalog().trigger_types() {
        let Some(poll) = &trigger.spec.poll else {
            continue;
        };
        let Some(tool_slug) = &poll.tool else {
            continue;
        };
        seen += 1;
        let tool = catalog().tool(tool_slug).unwrap();
        assert_eq!(tool.toolkit, trigger.toolkit);
        assert!(tool.has_tag("readOnlyHint"), "{tool_slug}");
        let items = items_schema(&tool.spec.output_schema, &poll.items_path);
        let theirs = Theirs::new(&tool.spec.output_schema, items);
        compare(
            &trigger.spec.payload_schema,
            &[theirs],
            &trigger.slug,
            &mut problems,
        );
        assert!(property_names(items).contains(&poll.id_field));
    }
    assert_no_problems(&problems);
    assert!(seen >= 1, "no generic poll trigger");
}

#[test]
fn generic_poll_configs_are_the_list_tools_arguments() {
    for (slug, config) in [
        (
            "GITHUB_NEW_ISSUE_POLL",
            json!({"owner": "octocat", "repo": "Hello-World", "labels": "bug", "interval_seconds": 30}),
        ),
        (
            "LINEAR_ISSUE_CREATED",
            json!({"filter": {"team": {"key": {"eq": "ENG"}}}, "interval_seconds": 120}),
        ),
    ] {
        let trigger = catalog().trigger_type(slug).unwrap();
        trigger.validate_config(&config).unwrap();
        // The poller calls the tool with the config minus `interval_seconds`.
        let mut arguments = config.clone();
        arguments
            .as_object_mut()
            .unwrap()
            .remove("interval_seconds");
        let tool = catalog()
            .tool(trigger.spec.poll.as_ref().unwrap().tool.as_ref().unwrap())
            .unwrap();
        assert!(
            tool.input_validator.is_valid(&arguments),
            "{slug}: {arguments}"
        );
        // Polling faster than the floor is refused.
        let mut fast = config.clone();
        fast["interval_seconds"] = json!(5);
        let (field, message) = trigger.validate_config(&fast).unwrap_err();
        assert_eq!(field, "config.interval_seconds");
        assert!(message.contains("rule: minimum"), "{message}");
    }
}

// ---------------------------------------------------------------------------------------------
// The catalog's trigger types

#[test]
fn the_catalog_lists_and_describes_its_trigger_types() {
    let catalog = catalog();
    let slugs: Vec<&str> = catalog.trigger_types().map(|t| t.slug.as_str()).collect();
    let mut sorted = slugs.clone();
    sorted.sort_unstable();
    assert_eq!(slugs, sorted, "sorted by slug");
    for slug in [
        "GITHUB_ISSUE_OPENED",
        "GITHUB_ISSUE_CLOSED",
        "GITHUB_ISSUE_COMMENTED",
        "GITHUB_PULL_REQUEST_OPENED",
        "GITHUB_PUSH",
        "GITHUB_NEW_ISSUE_POLL",
        "SLACK_MESSAGE_POSTED",
        "GMAIL_NEW_MESSAGE",
        "LINEAR_ISSUE_CREATED",
    ] {
        assert!(slugs.contains(&slug), "{slug} missing");
    }
    let total: usize = catalog.toolkits().map(|t| t.trigger_types.len()).sum();
    assert_eq!(total, slugs.len());
    for trigger in catalog.trigger_types() {
        assert!(trigger.spec.description.len() >= 40, "{}", trigger.slug);
        assert!(
            catalog.tool(&trigger.slug).is_none(),
            "{} is also a tool",
            trigger.slug
        );
    }

    let opened = catalog.trigger_type("GITHUB_ISSUE_OPENED").unwrap();
    assert_eq!(opened.toolkit, "github");
    assert_eq!(opened.kind(), "webhook");
    let described = opened.to_json();
    assert_eq!(described["slug"], "GITHUB_ISSUE_OPENED");
    assert_eq!(described["toolkit"], "github");
    assert_eq!(described["kind"], "webhook");
    assert_eq!(described["name"], opened.spec.name.as_str());
    assert_eq!(described["description"], opened.spec.description.as_str());
    assert_eq!(described["config_schema"], opened.spec.config_schema);
    assert_eq!(described["payload_schema"], opened.spec.payload_schema);
    assert_eq!(
        catalog.trigger_type("GMAIL_NEW_MESSAGE").unwrap().to_json()["kind"],
        "poll"
    );
    assert!(catalog.trigger_type("GITHUB_CREATE_ISSUE").is_none());
}

#[test]
fn validate_config_names_the_bad_field_and_the_rule() {
    let github = catalog().trigger_type("GITHUB_ISSUE_OPENED").unwrap();
    github
        .validate_config(&json!({"owner": "octocat", "repo": "Hello-World"}))
        .unwrap();

    let (field, message) = github
        .validate_config(&json!({"owner": "octocat", "repo": 5}))
        .unwrap_err();
    assert_eq!(field, "config.repo");
    assert!(message.contains("rule: type"), "{message}");

    // A missing or unknown property is a problem of the object: named like argument errors.
    let (field, message) = github
        .validate_config(&json!({"owner": "octocat"}))
        .unwrap_err();
    assert_eq!(field, "config");
    assert!(
        message.contains("repo") && message.contains("rule: required"),
        "{message}"
    );
    let (field, message) = github
        .validate_config(&json!({"owner": "o", "repo": "r", "branch": "main"}))
        .unwrap_err();
    assert_eq!(field, "config");
    assert!(message.contains("rule: additionalProperties"), "{message}");

    let gmail = catalog().trigger_type("GMAIL_NEW_MESSAGE").unwrap();
    gmail.validate_config(&json!({})).unwrap();
    let (field, message) = gmail
        .validate_config(&json!({"label_ids": ["INBOX", 3]}))
        .unwrap_err();
    assert_eq!(field, "config.label_ids[1]");
    assert!(message.contains("rule: type"), "{message}");

    let (field, _) = github
        .validate_config(&json!("octocat/Hello-World"))
        .unwrap_err();
    assert_eq!(field, "config");
}
