//! Data sources: TRE admins register where source data lives and who publishes it. This part
//! stores and serves them; the import job, its review and the bindings to workspaces build on it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{keys, App, AppError, AppResult, Caller};
use crate::domain::datasource::{DataSourceKind, DataSourceSpec};
use crate::ports::{Condition, Query};

/// Where a data source's data stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum DataState {
    /// Registered; nothing fetched (Import) or uploaded (Uploaded) yet.
    Pending,
    Importing,
    InReview,
    Completed,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSource {
    pub id: String,
    #[serde(flatten)]
    pub spec: DataSourceSpec,
    pub data_state: DataState,
    /// Why the last import failed (with `Failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How many data sources one list call returns at most (the table is read page by page).
const LIST_LIMIT: usize = 1000;

impl App {
    pub async fn register_data_source(
        &self,
        caller: &Caller,
        spec: DataSourceSpec,
    ) -> AppResult<DataSource> {
        caller.require_admin("register data sources")?;
        spec.validate().map_err(AppError::validation)?;
        let now = self.clock.now();
        let ds = DataSource {
            id: self.ids.new_id(),
            data_state: DataState::Pending,
            failure_reason: None,
            created_by: caller.id().to_string(),
            created_at: now,
            updated_at: now,
            spec,
        };
        self.table
            .put(
                &keys::data_source(&ds.id),
                None,
                &serde_json::to_value(&ds)?,
                Condition::Absent,
            )
            .await?;
        let kind = match ds.spec.kind {
            DataSourceKind::Import => "import",
            DataSourceKind::Uploaded => "uploaded",
        };
        tracing::info!(data_source_id = %ds.id, kind, "data source registered");
        Ok(ds)
    }

    pub async fn list_data_sources(&self, caller: &Caller) -> AppResult<Vec<DataSource>> {
        caller.require_admin("list data sources")?;
        let items = self
            .query_all(Query {
                pk: keys::DATA_SOURCES_PK.into(),
                sk_prefix: Some(keys::DATA_SOURCE_PREFIX.into()),
                ..Default::default()
            })
            .await?;
        let mut out = items
            .into_iter()
            .take(LIST_LIMIT)
            .map(|i| serde_json::from_value::<DataSource>(i.body))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub async fn get_data_source(&self, caller: &Caller, id: &str) -> AppResult<DataSource> {
        caller.require_admin("read data sources")?;
        let item = self
            .table
            .get(&keys::data_source(id))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("data source `{id}` not found")))?;
        Ok(serde_json::from_value(item.body)?)
    }
}
