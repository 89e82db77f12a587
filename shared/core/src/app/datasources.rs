//! Data sources: TRE admins register where source data lives and who publishes it. This part
//! stores and serves them; the import job, its review and the bindings to workspaces build on it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::paging::{PageRequest, Paged, Walk};
use super::{keys, App, AppError, AppResult, AuditEntry, Caller};
use crate::domain::airlock::{Decision, Stage};
use crate::domain::datasource::data_key;
use crate::domain::datasource::{AllowedNetworks, DataSourceKind, DataSourceSpec};
use crate::ports::{Condition, Query, WriteOp};
use serde_json::json;

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
    /// What the last import brought in (with the RO-Crate describing them).
    #[serde(default)]
    pub files: Vec<DataFile>,
    /// How many imports were started; reports of older runs are ignored.
    #[serde(default)]
    pub run: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<DataReview>,
    /// For an Uploaded source: the files named for upload (into the import staging area).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uploads: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataFile {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub encoding_format: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataReview {
    pub reviewer: String,
    pub decision: crate::domain::airlock::Decision,
    pub comment: String,
    pub at: DateTime<Utc>,
}

/// Body of `POST /api/datasources/{id}/review`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviewDataSource {
    pub decision: crate::domain::airlock::Decision,
    /// Mandatory: why the data is accepted or refused.
    pub comment: String,
}

/// Body of `POST /api/datasources/{id}/files`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddDataSourceFile {
    pub name: String,
}

/// What an import run reports through the status queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceStatus {
    pub data_source_id: String,
    pub run: u32,
    pub outcome: ImportOutcome,
    #[serde(default)]
    pub files: Vec<DataFile>,
    #[serde(default)]
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportOutcome {
    Imported,
    Failed,
}

/// The import workflow of `statemachines/datasource-import.asl.json`.
pub const DATASOURCE_STATE_MACHINE: &str = "datasource-import";

impl App {
    /// The deployment's allowed networks for data sources (the same setting the import job
    /// enforces when it connects).
    pub fn with_datasource_networks(mut self, networks: AllowedNetworks) -> Self {
        self.datasource_networks = std::sync::Arc::new(networks);
        self
    }

    pub async fn register_data_source(
        &self,
        caller: &Caller,
        spec: DataSourceSpec,
    ) -> AppResult<DataSource> {
        caller.require_admin("register data sources")?;
        spec.validate(&self.datasource_networks)
            .map_err(AppError::validation)?;
        let now = self.clock.now();
        let ds = DataSource {
            id: self.ids.new_id(),
            data_state: DataState::Pending,
            failure_reason: None,
            files: Vec::new(),
            run: 0,
            review: None,
            uploads: Vec::new(),
            created_by: caller.id().to_string(),
            created_at: now,
            updated_at: now,
            spec,
        };
        let kind = match ds.spec.kind {
            DataSourceKind::Import => "import",
            DataSourceKind::Uploaded => "uploaded",
        };
        let put = WriteOp::Put {
            key: keys::data_source(&ds.id),
            index: None,
            body: serde_json::to_value(&ds)?,
            condition: Condition::Absent,
        };
        let audit = AuditEntry::by(caller, "datasource.register")
            .resource(&ds.id)
            .versioned(keys::data_source(&ds.id))
            .detail("kind", kind);
        self.transact_audited(&[put], &audit).await?;
        tracing::info!(data_source_id = %ds.id, kind, "data source registered");
        Ok(ds)
    }

    /// A page of the data sources: pages follow their ids, each page sorted by creation (a
    /// list on one page is in creation order).
    pub async fn list_data_sources(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> AppResult<Paged<DataSource>> {
        caller.require_admin("list data sources")?;
        let mut walk: Walk<DataSource> = Walk::new(
            Query {
                pk: keys::DATA_SOURCES_PK.into(),
                sk_prefix: Some(keys::DATA_SOURCE_PREFIX.into()),
                ..Default::default()
            },
            page,
        );
        while let Some(items) = walk.read(&*self.table).await? {
            for item in items {
                if walk.fresh(&item) && walk.push(serde_json::from_value(item.body)?) {
                    break;
                }
            }
        }
        let mut page = walk.finish();
        page.items
            .sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(page)
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

    async fn load_data_source(&self, id: &str) -> AppResult<(DataSource, u64)> {
        let item = self
            .table
            .get(&keys::data_source(id))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("data source `{id}` not found")))?;
        Ok((serde_json::from_value(item.body)?, item.version))
    }

    /// Write the data source if it is still at `version`, with `audit`'s event (the caller's
    /// action, or the system's own update).
    async fn save_data_source(
        &self,
        ds: &DataSource,
        version: u64,
        audit: AuditEntry,
    ) -> AppResult<u64> {
        let audit = audit
            .resource(&ds.id)
            .detail("dataState", format!("{:?}", ds.data_state));
        let written = self
            .put_audited(
                keys::data_source(&ds.id),
                serde_json::to_value(ds)?,
                version,
                audit,
            )
            .await;
        written.map_err(|e| match AppError::from(e) {
            AppError::PreconditionFailed(_) => AppError::Conflict(
                "the data source changed while this was being done; try again".into(),
            ),
            other => other,
        })
    }

    /// Start (or re-run) the import of an Import source. Not while one runs or waits for its
    /// review; a re-run replaces what the last one brought in.
    pub async fn start_data_source_import(
        &self,
        caller: &Caller,
        id: &str,
    ) -> AppResult<DataSource> {
        caller.require_admin("import data sources")?;
        let (mut ds, version) = self.load_data_source(id).await?;
        if ds.spec.kind == DataSourceKind::Uploaded && ds.uploads.is_empty() {
            return Err(AppError::Conflict(
                "upload the source's files first (POST .../files names each and answers its upload link)"
                    .into(),
            ));
        }
        if matches!(ds.data_state, DataState::Importing | DataState::InReview) {
            return Err(AppError::Conflict(format!(
                "the data source is {:?}: wait for its import and review to end",
                ds.data_state
            )));
        }
        ds.run += 1;
        ds.data_state = DataState::Importing;
        ds.failure_reason = None;
        ds.review = None;
        ds.updated_at = self.clock.now();
        let audit = AuditEntry::by(caller, "datasource.import").detail("run", ds.run);
        let version = self.save_data_source(&ds, version, audit).await?;
        let input = json!({"dataSourceId": ds.id, "run": ds.run});
        let name = format!("{}-run-{}", ds.id, ds.run);
        if let Err(e) = self
            .workflows
            .start_execution(DATASOURCE_STATE_MACHINE, &name, &input)
            .await
        {
            ds.data_state = DataState::Failed;
            ds.failure_reason = Some(format!("the import could not start: {e}"));
            self.save_data_source(&ds, version, AuditEntry::system("datasource.status"))
                .await?;
            return Err(AppError::Unavailable(format!(
                "the import of data source `{id}` could not start: {e}"
            )));
        }
        tracing::info!(data_source_id = %ds.id, run = ds.run, "data source import started");
        Ok(ds)
    }

    /// Apply an import run's report: an imported run waits for its review, a failed one says
    /// why. Reports of older runs, repeats and reports after the fact change nothing.
    pub async fn apply_data_source_status(
        &self,
        m: &DataSourceStatus,
    ) -> AppResult<super::Applied> {
        let (mut ds, version) = match self.load_data_source(&m.data_source_id).await {
            Ok(x) => x,
            Err(AppError::NotFound(_)) => return Ok(super::Applied::Ignored),
            Err(e) => return Err(e),
        };
        if m.run != ds.run || ds.data_state != DataState::Importing {
            return Ok(super::Applied::Ignored);
        }
        match m.outcome {
            ImportOutcome::Imported => {
                ds.data_state = DataState::InReview;
                ds.files = m.files.clone();
            }
            ImportOutcome::Failed => {
                ds.data_state = DataState::Failed;
                ds.failure_reason = Some(m.reason.clone());
                ds.files.clear();
            }
        }
        ds.updated_at = self.clock.now();
        if ds.data_state == DataState::InReview {
            // Its reviewers are told, with the change (so it is never lost).
            let notify = self.notification_op(super::NewNotification {
                kind: crate::domain::notification::NotificationKind::DataSourceAwaitingReview,
                audience: crate::domain::notification::Audience::TreAdmins,
                subject: format!("Data source to review: {}", ds.spec.display_name),
                text: format!(
                    "The import of data source \"{}\" ({}, run {}) brought in {} file(s), which wait for a TRE admin's review.",
                    ds.spec.display_name,
                    ds.id,
                    ds.run,
                    ds.files.len()
                ),
                link: format!("#/datasources/{}", ds.id),
                workspace_id: None,
                resource_id: Some(ds.id.clone()),
                caused_by: None,
            })?;
            let put = WriteOp::Put {
                key: keys::data_source(&ds.id),
                index: None,
                body: serde_json::to_value(&ds)?,
                condition: Condition::Version(version),
            };
            let audit = AuditEntry::system("datasource.status")
                .resource(&ds.id)
                .versioned(keys::data_source(&ds.id))
                .detail("dataState", format!("{:?}", ds.data_state))
                .with_write(notify);
            self.transact_audited(&[put], &audit)
                .await
                .map_err(|e| match AppError::from(e) {
                    AppError::PreconditionFailed(_) => AppError::Conflict(
                        "the data source changed while this was being done; try again".into(),
                    ),
                    other => other,
                })?;
        } else {
            self.save_data_source(&ds, version, AuditEntry::system("datasource.status"))
                .await?;
        }
        tracing::info!(data_source_id = %ds.id, run = ds.run, state = ?ds.data_state, "data source import reported");
        Ok(super::Applied::Applied)
    }

    /// Approve (Completed: the data may be bound to workspaces) or reject (Failed, and the
    /// imported files are deleted) an imported data source. A comment is mandatory.
    pub async fn review_data_source(
        &self,
        caller: &Caller,
        id: &str,
        body: ReviewDataSource,
    ) -> AppResult<DataSource> {
        caller.require_admin("review data sources")?;
        super::airlock::text_limit("comment", &body.comment, 4000)?;
        let (mut ds, version) = self.load_data_source(id).await?;
        if ds.data_state != DataState::InReview {
            return Err(AppError::Conflict(format!(
                "only an imported data source waiting for its review can be reviewed (it is {:?})",
                ds.data_state
            )));
        }
        let now = self.clock.now();
        ds.review = Some(DataReview {
            reviewer: caller.id().to_string(),
            decision: body.decision,
            comment: body.comment.clone(),
            at: now,
        });
        ds.updated_at = now;
        match body.decision {
            Decision::Approve => ds.data_state = DataState::Completed,
            Decision::Reject => {
                // The files go first: a rejection that could not delete them stays undone.
                if let Some(storage) = &self.airlock {
                    let store = storage.store(Stage::WorkspaceData)?;
                    for f in &ds.files {
                        store.delete(&data_key(&ds.id, &f.name)).await?;
                    }
                    store
                        .delete(&data_key(&ds.id, crate::domain::rocrate::METADATA_FILE))
                        .await?;
                }
                ds.data_state = DataState::Failed;
                ds.failure_reason = Some(format!("rejected by {}: {}", caller.id(), body.comment));
                ds.files.clear();
            }
        }
        let decision = match body.decision {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        };
        let audit = AuditEntry::by(caller, "datasource.review").detail("decision", decision);
        self.save_data_source(&ds, version, audit).await?;
        Ok(ds)
    }

    /// Name a file of an Uploaded source and get a pre-signed link to upload it (TREAdmin).
    /// The next import takes every named file from there, checks, scans and describes it.
    pub async fn add_data_source_upload(
        &self,
        caller: &Caller,
        id: &str,
        name: &str,
    ) -> AppResult<super::FileLink> {
        caller.require_admin("upload data source files")?;
        crate::domain::airlock::validate_file_name(name).map_err(AppError::validation)?;
        let (mut ds, version) = self.load_data_source(id).await?;
        if ds.spec.kind != DataSourceKind::Uploaded {
            return Err(AppError::Conflict(
                "an Import data source is fetched from its connection, not uploaded".into(),
            ));
        }
        if matches!(ds.data_state, DataState::Importing | DataState::InReview) {
            return Err(AppError::Conflict(format!(
                "the data source is {:?}: wait for its import and review to end",
                ds.data_state
            )));
        }
        if !ds.uploads.iter().any(|u| u == name) {
            if ds.uploads.len() >= 1000 {
                return Err(AppError::validation("at most 1000 files per data source"));
            }
            ds.uploads.push(name.to_string());
            ds.updated_at = self.clock.now();
            let audit = AuditEntry::by(caller, "datasource.upload-link")
                .detail("file", name)
                .detail("added", true);
            self.save_data_source(&ds, version, audit).await?;
        } else {
            self.audit(
                &AuditEntry::by(caller, "datasource.upload-link")
                    .resource(&ds.id)
                    .detail("file", name)
                    .detail("added", false),
            )
            .await?;
        }
        let link = self
            .storage()?
            .store(Stage::ImportStaging)?
            .presign(
                crate::ports::PresignMethod::Put,
                &data_key(&ds.id, name),
                super::LINK_LIFETIME,
            )
            .await?;
        Ok(super::FileLink {
            file: name.to_string(),
            method: "PUT".into(),
            url: link.url,
            expires_at: link.expires_at,
            multipart: None,
        })
    }
}
