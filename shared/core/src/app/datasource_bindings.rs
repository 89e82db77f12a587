//! Bindings of completed data sources to workspaces: a bound workspace's people may read the
//! source's files (read-only links) and its bundles receive where the data is; an unbound
//! workspace gets nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::LINK_LIFETIME;
use super::{authz, keys, App, AppError, AppResult, Caller, DataSource, DataState, FileLink};
use crate::domain::airlock::Stage;
use crate::domain::datasource::data_key;
use crate::ports::{Condition, PresignMethod, Query};

/// Body of `POST /api/workspaces/{id}/datasources`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindDataSource {
    pub data_source_id: String,
}

/// A data source as a bound workspace sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoundDataSource {
    pub data_source_id: String,
    pub display_name: String,
    pub licence: String,
    /// Where the files are, read-only: this prefix of the workspace-data store.
    pub prefix: String,
    pub files: Vec<super::DataFile>,
    pub bound_by: String,
    pub bound_at: DateTime<Utc>,
}

impl App {
    /// Bind a Completed data source to a workspace (TREAdmin). Binding twice is harmless.
    pub async fn bind_data_source(
        &self,
        caller: &Caller,
        ws: &str,
        body: BindDataSource,
    ) -> AppResult<BoundDataSource> {
        caller.require_admin("bind data sources to workspaces")?;
        self.workspace_exists(ws).await?;
        let ds = self.get_data_source(caller, &body.data_source_id).await?;
        if ds.data_state != DataState::Completed {
            return Err(AppError::Conflict(format!(
                "only a Completed data source can be bound (`{}` is {:?})",
                ds.id, ds.data_state
            )));
        }
        if let Some(existing) = self.binding(ws, &ds.id).await? {
            return Ok(existing);
        }
        let bound = bound_view(&ds, caller.id(), self.clock.now());
        self.table
            .put(
                &keys::data_source_binding(ws, &ds.id),
                None,
                &serde_json::to_value(&bound)?,
                Condition::Absent,
            )
            .await?;
        tracing::info!(workspace_id = %ws, data_source_id = %ds.id, "data source bound");
        Ok(bound)
    }

    /// Unbind (TREAdmin); unbinding what is not bound is not an error.
    pub async fn unbind_data_source(&self, caller: &Caller, ws: &str, id: &str) -> AppResult<()> {
        caller.require_admin("unbind data sources")?;
        self.workspace_exists(ws).await?;
        self.table
            .delete(&keys::data_source_binding(ws, id), Condition::Exists)
            .await
            .or_else(|e| match AppError::from(e) {
                AppError::NotFound(_) | AppError::PreconditionFailed(_) => Ok(()),
                other => Err(other),
            })
    }

    /// The data sources bound to a workspace: its people and TRE admins.
    pub async fn workspace_data_sources(
        &self,
        caller: &Caller,
        ws: &str,
    ) -> AppResult<Vec<BoundDataSource>> {
        caller.require_user()?;
        let roles = self.workspace_roles(caller.id(), ws).await?;
        authz::check_workspace_visible(caller, ws, &roles)?;
        self.bindings_of(ws).await
    }

    pub(crate) async fn bindings_of(&self, ws: &str) -> AppResult<Vec<BoundDataSource>> {
        self.query_all(Query {
            pk: keys::roles_pk(ws),
            sk_prefix: Some(keys::DATA_SOURCE_BINDING_PREFIX.into()),
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|i| Ok(serde_json::from_value(i.body)?))
        .collect()
    }

    /// A read-only link to one file of a bound data source, for the workspace's own people
    /// (like the airlock, a workspace's data is not for admins without a role there).
    pub async fn data_source_link(
        &self,
        caller: &Caller,
        ws: &str,
        id: &str,
        file: &str,
    ) -> AppResult<FileLink> {
        caller.require_user()?;
        let roles = self.workspace_roles(caller.id(), ws).await?;
        let not_found = || AppError::NotFound(format!("no data source `{id}` in workspace `{ws}`"));
        if roles.is_empty() {
            return Err(not_found());
        }
        let bound = self.binding(ws, id).await?.ok_or_else(not_found)?;
        if !bound.files.iter().any(|f| f.name == file)
            && file != crate::domain::rocrate::METADATA_FILE
        {
            return Err(AppError::NotFound(format!(
                "data source `{id}` has no file `{file}`"
            )));
        }
        let link = self
            .storage()?
            .store(Stage::WorkspaceData)?
            .presign(PresignMethod::Get, &data_key(id, file), LINK_LIFETIME)
            .await?;
        Ok(FileLink {
            file: file.to_string(),
            method: "GET".into(),
            url: link.url,
            expires_at: link.expires_at,
            multipart: None,
        })
    }

    async fn binding(&self, ws: &str, id: &str) -> AppResult<Option<BoundDataSource>> {
        match self.table.get(&keys::data_source_binding(ws, id)).await? {
            Some(item) => Ok(Some(serde_json::from_value(item.body)?)),
            None => Ok(None),
        }
    }

    async fn workspace_exists(&self, ws: &str) -> AppResult<()> {
        match self.table.get(&keys::resource(ws)).await? {
            Some(item) if item.body.get("kind").and_then(Value::as_str) == Some("workspace") => {
                Ok(())
            }
            _ => Err(AppError::NotFound(format!("workspace `{ws}` not found"))),
        }
    }

    /// What a workspace's bundles are given about its bound data (a step parameter).
    pub(crate) async fn data_source_parameter(&self, ws: &str) -> AppResult<Value> {
        let bound = self.bindings_of(ws).await?;
        Ok(json!(bound
            .iter()
            .map(|b| json!({
                "id": b.data_source_id,
                "name": b.display_name,
                "stage": Stage::WorkspaceData.as_str(),
                "prefix": b.prefix,
                "readOnly": true,
            }))
            .collect::<Vec<_>>()))
    }
}

fn bound_view(ds: &DataSource, by: &str, at: DateTime<Utc>) -> BoundDataSource {
    BoundDataSource {
        data_source_id: ds.id.clone(),
        display_name: ds.spec.display_name.clone(),
        licence: ds.spec.licence.clone(),
        prefix: data_key(&ds.id, ""),
        files: ds.files.clone(),
        bound_by: by.to_string(),
        bound_at: at,
    }
}
