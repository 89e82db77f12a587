//! Bindings of completed data sources to workspaces: a bound workspace's people may read the
//! source's files (read-only links) and its bundles receive where the data is; an unbound
//! workspace gets nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::LINK_LIFETIME;
use super::{
    authz, keys, App, AppError, AppResult, AuditEntry, Caller, DataSource, DataState, FileLink,
};
use crate::domain::airlock::Stage;
use crate::domain::datasource::data_key;
use crate::ports::{Condition, Item, PortError, PresignMethod, Query, WriteOp};

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
        // The workspace, the source, the binding and the summary in one batch.
        let id = &body.data_source_id;
        let mut got = self
            .table
            .get_many(&[
                keys::resource(ws),
                keys::data_source(id),
                keys::data_source_binding(ws, id),
                keys::data_source_bindings_summary(ws),
            ])
            .await?
            .into_iter();
        let mut next = || got.next().flatten();
        check_workspace(ws, next())?;
        let ds: DataSource = match next() {
            Some(item) => serde_json::from_value(item.body)?,
            None => return Err(AppError::NotFound(format!("data source `{id}` not found"))),
        };
        let existing = next();
        let summary = next();
        if ds.data_state != DataState::Completed {
            return Err(AppError::Conflict(format!(
                "only a Completed data source can be bound (`{}` is {:?})",
                ds.id, ds.data_state
            )));
        }
        if let Some(existing) = existing {
            return Ok(serde_json::from_value(existing.body)?);
        }
        let bound = bound_view(&ds, caller.id(), self.clock.now());
        let put = WriteOp::Put {
            key: keys::data_source_binding(ws, &ds.id),
            index: None,
            body: serde_json::to_value(&bound)?,
            condition: Condition::Absent,
        };
        let entry = bundle_entry(&bound);
        let audit = AuditEntry::by(caller, "datasource.bind")
            .workspace(Some(ws))
            .resource(&ds.id);
        let done = self
            .change_bindings(ws, summary, put, &audit, |list| {
                list.retain(|e| e["id"] != entry["id"]);
                list.push(entry.clone());
            })
            .await?;
        if !done {
            // Bound by a concurrent call meanwhile: that binding stands.
            if let Some(existing) = self.binding(ws, &ds.id).await? {
                return Ok(existing);
            }
        }
        tracing::info!(workspace_id = %ws, data_source_id = %ds.id, "data source bound");
        Ok(bound)
    }

    /// Write `op` (a binding's put or delete) with the workspace's bindings summary changed by
    /// `change`, in one transaction, so what bundles are told never differs from the bindings.
    /// Returns false when `op`'s own condition no longer holds (a concurrent bind or unbind of
    /// the same source did it first).
    async fn change_bindings(
        &self,
        ws: &str,
        summary: Option<Item>,
        op: WriteOp,
        audit: &AuditEntry,
        change: impl Fn(&mut Vec<Value>),
    ) -> AppResult<bool> {
        let summary_key = keys::data_source_bindings_summary(ws);
        // The summary as the caller read it first, then as it is after each conflict.
        let mut summary = Some(summary);
        for _ in 0..8 {
            let read = match summary.take() {
                Some(read) => read,
                None => self.table.get(&summary_key).await?,
            };
            let (mut list, condition) = match read {
                Some(item) => (summary_list(&item.body), Condition::Version(item.version)),
                // A workspace from before the summary: made from its bindings.
                None => (
                    self.bindings_of(ws)
                        .await?
                        .iter()
                        .map(bundle_entry)
                        .collect(),
                    Condition::Absent,
                ),
            };
            change(&mut list);
            // In the bindings' own key order, as a query of them lists them.
            list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
            let ops = [
                op.clone(),
                WriteOp::Put {
                    key: summary_key.clone(),
                    index: None,
                    body: json!({ "bound": list }),
                    condition,
                },
            ];
            match self.transact_audited(&ops, audit).await {
                Ok(_) => return Ok(true),
                Err(PortError::ConditionFailed(_)) => {
                    let key = match &op {
                        WriteOp::Put { key, .. }
                        | WriteOp::Delete { key, .. }
                        | WriteOp::Check { key, .. } => key,
                    };
                    let exists = self.table.get(key).await?.is_some();
                    let still_possible = match &op {
                        WriteOp::Put { .. } => !exists,
                        _ => exists,
                    };
                    if !still_possible {
                        return Ok(false);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Unavailable(format!(
            "the data source bindings of workspace `{ws}` kept changing; try again"
        )))
    }

    /// Unbind (TREAdmin); unbinding what is not bound is not an error.
    pub async fn unbind_data_source(&self, caller: &Caller, ws: &str, id: &str) -> AppResult<()> {
        caller.require_admin("unbind data sources")?;
        let mut got = self
            .table
            .get_many(&[
                keys::resource(ws),
                keys::data_source_binding(ws, id),
                keys::data_source_bindings_summary(ws),
            ])
            .await?
            .into_iter();
        let mut next = || got.next().flatten();
        check_workspace(ws, next())?;
        if next().is_none() {
            return Ok(());
        }
        let summary = next();
        let delete = WriteOp::Delete {
            key: keys::data_source_binding(ws, id),
            condition: Condition::Exists,
        };
        let audit = AuditEntry::by(caller, "datasource.unbind")
            .workspace(Some(ws))
            .resource(id);
        self.change_bindings(ws, summary, delete, &audit, |list| {
            list.retain(|e| e["id"] != id)
        })
        .await?;
        Ok(())
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
        // Who was given which data: the link is handed out only once this is recorded.
        self.audit(
            &AuditEntry::by(caller, "datasource.download-link")
                .workspace(Some(ws))
                .resource(id)
                .detail("file", file),
        )
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

    /// What a workspace's bundles are given about its bound data (a step parameter).
    pub(crate) async fn data_source_parameter(&self, ws: &str) -> AppResult<Value> {
        let summary = self
            .table
            .get(&keys::data_source_bindings_summary(ws))
            .await?;
        self.data_source_parameter_from(ws, summary).await
    }

    /// [`Self::data_source_parameter`] from the summary item read already (in a path's batch);
    /// a workspace from before the summary has its bindings queried.
    pub(crate) async fn data_source_parameter_from(
        &self,
        ws: &str,
        summary: Option<Item>,
    ) -> AppResult<Value> {
        match summary {
            Some(item) => Ok(Value::Array(summary_list(&item.body))),
            None => Ok(Value::Array(
                self.bindings_of(ws)
                    .await?
                    .iter()
                    .map(bundle_entry)
                    .collect(),
            )),
        }
    }
}

fn check_workspace(ws: &str, item: Option<Item>) -> AppResult<()> {
    match item {
        Some(item) if item.body.get("kind").and_then(Value::as_str) == Some("workspace") => Ok(()),
        _ => Err(AppError::NotFound(format!("workspace `{ws}` not found"))),
    }
}

/// One bound data source as bundles see it.
fn bundle_entry(b: &BoundDataSource) -> Value {
    json!({
        "id": b.data_source_id,
        "name": b.display_name,
        "stage": Stage::WorkspaceData.as_str(),
        "prefix": b.prefix,
        "readOnly": true,
    })
}

fn summary_list(body: &Value) -> Vec<Value> {
    body.get("bound")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
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
