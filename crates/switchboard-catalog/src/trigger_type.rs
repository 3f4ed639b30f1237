//! A trigger type of the catalog (e.g. `GITHUB_ISSUE_OPENED`): what a trigger instance's config
//! must look like and what its events carry, checked and compiled once at load.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::spec::TriggerSpec;

/// A trigger type of the catalog.
#[derive(Debug)]
pub struct TriggerType {
    pub slug: String,
    pub toolkit: String,
    pub spec: TriggerSpec,
    /// Compiled validator of the config schema.
    pub config_validator: Arc<jsonschema::Validator>,
}

impl TriggerType {
    pub(crate) fn new(
        toolkit: &str,
        spec: TriggerSpec,
        config_validator: jsonschema::Validator,
    ) -> TriggerType {
        TriggerType {
            slug: spec.slug.clone(),
            toolkit: toolkit.to_owned(),
            spec,
            config_validator: Arc::new(config_validator),
        }
    }

    /// `"webhook"` when the provider pushes events, `"poll"` when the triggers service polls
    /// (exactly one holds, checked at load).
    pub fn kind(&self) -> &'static str {
        if self.spec.webhook.is_some() {
            "webhook"
        } else {
            "poll"
        }
    }

    /// The trigger type as API clients see it: slug, name, description, toolkit, kind and both
    /// schemas. (Stands in for a protobuf message until the API has one.)
    pub fn to_json(&self) -> Value {
        json!({
            "slug": self.slug,
            "name": self.spec.name,
            "description": self.spec.description,
            "toolkit": self.toolkit,
            "kind": self.kind(),
            "config_schema": self.spec.config_schema,
            "payload_schema": self.spec.payload_schema,
        })
    }

    /// Checks a trigger instance's config against the config schema. The error is the first
    /// problem's field path (`config.<path>`, e.g. `config.repo` or `config.label_ids[1]`) and a
    /// message naming the rule, worded like tool argument errors.
    pub fn validate_config(&self, config: &Value) -> Result<(), (String, String)> {
        let Some(err) = self.config_validator.iter_errors(config).next() else {
            return Ok(());
        };
        let mut field = String::from("config");
        for segment in err.instance_path().as_str().split('/').skip(1) {
            let segment = segment.replace("~1", "/").replace("~0", "~");
            if !segment.is_empty() && segment.chars().all(|c| c.is_ascii_digit()) {
                field.push_str(&format!("[{segment}]"));
            } else {
                field.push('.');
                field.push_str(&segment);
            }
        }
        let rule = err
            .schema_path()
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or("schema")
            .to_owned();
        // `masked` leaves the offending value out of the message: a config may hold secrets.
        Err((field, format!("{} (rule: {rule})", err.masked())))
    }
}
