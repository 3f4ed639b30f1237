//! The catalog each project sees: the built-in catalog, with the project's own (custom)
//! toolkits laid over it when it has any ([`Catalog::layered`]).
//!
//! Custom toolkits live in Redis (`switchboard_store::CustomToolkits`, with a version bumped
//! by every change). Every gateway and worker keeps the project views it used, and drops one
//! when the bus announces a change of that project (`Bus::catalog_changes`), so a toolkit
//! created through one gateway is usable through every replica within a round trip. As the
//! announcement is not stored, a view is also re-checked against the stored version when it
//! is older than `catalog.custom_toolkits_recheck_ms`: one `GET`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use switchboard_bus::Bus;
use switchboard_catalog::spec::ToolkitSpec;
use switchboard_catalog::Catalog;
use switchboard_core::Error;
use switchboard_store::Store;
use tokio_util::sync::CancellationToken;

/// Most project views kept; past it, the oldest half is dropped.
const MAX_VIEWS: usize = 10_000;

/// One custom toolkit as stored: the toolkit (the catalog's format) and its history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomToolkitRecord {
    pub spec: ToolkitSpec,
    pub create_ms: i64,
    pub update_ms: i64,
    /// What the import left out: `(where, why)`.
    #[serde(default)]
    pub skipped: Vec<(String, String)>,
}

impl CustomToolkitRecord {
    /// The stored form.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(self)
            .map_err(|e| Error::Internal(format!("encoding a custom toolkit: {e}")))
    }

    /// From the stored form.
    pub fn decode(bytes: &[u8]) -> Result<CustomToolkitRecord, Error> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Internal(format!("a stored custom toolkit is corrupt: {e}")))
    }
}

struct View {
    version: u64,
    catalog: Arc<Catalog>,
    checked: Instant,
}

/// Every project's view of the catalog, cached.
pub struct Catalogs {
    base: Arc<Catalog>,
    store: Store,
    /// How old a view may get before it is checked against the stored version even without
    /// an announcement.
    recheck: Duration,
    views: Mutex<HashMap<String, View>>,
}

impl Catalogs {
    pub fn new(base: Arc<Catalog>, store: Store, recheck: Duration) -> Catalogs {
        Catalogs {
            base,
            store,
            recheck,
            views: Mutex::new(HashMap::new()),
        }
    }

    /// The built-in catalog.
    pub fn base(&self) -> &Arc<Catalog> {
        &self.base
    }

    /// The catalog `project` sees now.
    pub async fn for_project(&self, project: &str) -> Result<Arc<Catalog>, Error> {
        self.view(project, self.recheck).await
    }

    /// The project's view, checked against the stored version first (one `GET`): for a
    /// lookup that missed in a cached view, which may be the moment between a change and its
    /// announcement reaching this replica.
    pub async fn fresh_for_project(&self, project: &str) -> Result<Arc<Catalog>, Error> {
        self.view(project, Duration::ZERO).await
    }

    /// The cached view when younger than `max_age`, else the cached view once the stored
    /// version confirms it (one `GET`), else a view built from the store.
    async fn view(&self, project: &str, max_age: Duration) -> Result<Arc<Catalog>, Error> {
        let cached = {
            let views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
            views
                .get(project)
                .map(|v| (v.version, Arc::clone(&v.catalog), v.checked.elapsed()))
        };
        if let Some((version, catalog, age)) = cached {
            if age < max_age {
                return Ok(catalog);
            }
            if self.store.custom_toolkits_version(project).await? == version {
                self.keep(project, version, Arc::clone(&catalog));
                return Ok(catalog);
            }
        }
        let stored = self.store.custom_toolkits(project).await?;
        let catalog = self.build(project, &stored.records);
        self.keep(project, stored.version, Arc::clone(&catalog));
        Ok(catalog)
    }

    /// Drops `project`'s view: the next request reads the store.
    pub fn forget(&self, project: &str) {
        self.views
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(project);
    }

    /// Forgets a project's view whenever the bus says it changed, until `shutdown`.
    pub async fn listen(self: Arc<Self>, bus: Bus, shutdown: CancellationToken) {
        let mut changes = match bus.catalog_changes().await {
            Ok(changes) => changes,
            Err(e) => {
                tracing::warn!(error = %e, "cannot hear catalog changes; custom toolkits reach this replica within the re-check period only");
                return;
            }
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                change = changes.next() => match change {
                    Some((project, _version)) => self.forget(&project),
                    None => return,
                },
            }
        }
    }

    fn keep(&self, project: &str, version: u64, catalog: Arc<Catalog>) {
        let mut views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        if views.len() >= MAX_VIEWS && !views.contains_key(project) {
            let mut ages: Vec<(Instant, String)> =
                views.iter().map(|(p, v)| (v.checked, p.clone())).collect();
            ages.sort();
            for (_, old) in ages.into_iter().take(MAX_VIEWS / 2) {
                views.remove(&old);
            }
        }
        views.insert(
            project.to_owned(),
            View {
                version,
                catalog,
                checked: Instant::now(),
            },
        );
    }

    /// The project's view from its stored toolkits. A toolkit that no longer fits (a newer
    /// built-in catalog took its slug, or its record cannot be read) is left out with a
    /// warning rather than taking the project's other toolkits with it.
    fn build(
        &self,
        project: &str,
        records: &std::collections::BTreeMap<String, Vec<u8>>,
    ) -> Arc<Catalog> {
        if records.is_empty() {
            return Arc::clone(&self.base);
        }
        let mut specs: Vec<(&String, ToolkitSpec)> = Vec::with_capacity(records.len());
        for (slug, bytes) in records {
            match CustomToolkitRecord::decode(bytes) {
                Ok(record) => specs.push((slug, record.spec)),
                Err(e) => {
                    tracing::warn!(project_id = project, toolkit = %slug, error = %e, "custom toolkit left out");
                }
            }
        }
        let all: Vec<ToolkitSpec> = specs.iter().map(|(_, spec)| spec.clone()).collect();
        if let Ok(layered) = Catalog::layered(Arc::clone(&self.base), all) {
            return Arc::new(layered);
        }
        // One of them does not fit: find which, keeping the others.
        let mut fitting: Vec<ToolkitSpec> = Vec::with_capacity(specs.len());
        for (slug, spec) in specs {
            let mut trial = fitting.clone();
            trial.push(spec);
            match Catalog::layered(Arc::clone(&self.base), trial.clone()) {
                Ok(_) => fitting = trial,
                Err(e) => {
                    tracing::warn!(project_id = project, toolkit = %slug, error = %e, "custom toolkit left out")
                }
            }
        }
        match Catalog::layered(Arc::clone(&self.base), fitting) {
            Ok(layered) => Arc::new(layered),
            Err(e) => {
                tracing::warn!(project_id = project, error = %e, "custom toolkits left out");
                Arc::clone(&self.base)
            }
        }
    }
}
