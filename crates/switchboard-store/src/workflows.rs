//! Workflow memory of the meta tools: a search starts a workflow id that later meta tool calls
//! of the same task pass back, so they share what the search found. One JSON value per
//! workflow, bound to its session, kept a day after its last use.

use std::time::Duration;

use switchboard_core::Result;

use crate::{unavailable, Store};

const KEEP: Duration = Duration::from_secs(24 * 3600);

impl Store {
    /// Saves a workflow's memory (replacing it) for a day.
    pub async fn put_workflow(&self, project: &str, id: &str, value: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let () = redis::cmd("SET")
            .arg(self.keys.workflow(project, id))
            .arg(value)
            .arg("PX")
            .arg(u64::try_from(KEEP.as_millis()).unwrap_or(u64::MAX))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// A workflow's memory, when it exists.
    pub async fn get_workflow(&self, project: &str, id: &str) -> Result<Option<String>> {
        let mut conn = self.conn.clone();
        redis::cmd("GET")
            .arg(self.keys.workflow(project, id))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }
}
