//! Airlock use cases: requests, their files' links, submission, review and cancellation. Every
//! transition is checked by `domain::airlock::next_status` (role, current status) after the
//! request was found under the workspace of the URL, and written conditionally.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::paging::{PageRequest, Paged, Walk};
use super::{authz, keys, App, AppError, AppResult, AuditEntry, Caller, NewNotification};
use crate::domain::airlock::{
    actor, allowed_actions, next_status, object_key, validate_file_name, AirlockFile,
    AirlockRequest, Decision, Event, RequestStatus, RequestType, Stage, Transition, UserAction,
};
use crate::domain::notification::{Audience, NotificationKind};
use crate::domain::WorkspaceRole;
use crate::ports::{Condition, ObjectStore, PresignMethod, Query, WriteOp};

/// Logical name of the state machine that moves, scans and publishes a request's files.
pub const AIRLOCK_STATE_MACHINE: &str = "airlock-review";

/// How long upload and download links live.
pub const LINK_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The workspace property that asks for more than one approval (1 to 5; 1 by default).
pub const REQUIRED_APPROVALS_PROPERTY: &str = "airlock_required_approvals";

/// The object stores of the airlock stages (one bucket each in AWS).
#[derive(Clone)]
pub struct AirlockStorage {
    stores: HashMap<Stage, Arc<dyn ObjectStore>>,
}

impl AirlockStorage {
    pub fn new(stores: HashMap<Stage, Arc<dyn ObjectStore>>) -> Self {
        Self { stores }
    }

    pub fn store(&self, stage: Stage) -> AppResult<Arc<dyn ObjectStore>> {
        self.stores.get(&stage).cloned().ok_or_else(|| {
            AppError::Unavailable(format!(
                "the airlock's {} store is not configured",
                stage.as_str()
            ))
        })
    }
}

/// The title a request gets when its creator gives none (Azure TRE's default).
pub const DEFAULT_TITLE: &str = "Airlock Request";

/// Body of `POST /api/workspaces/{id}/requests`, in Azure TRE's field names.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAirlockRequest {
    #[serde(rename = "type")]
    pub kind: RequestType,
    /// At most 200 characters; `Airlock Request` when absent.
    #[serde(default)]
    pub title: Option<String>,
    /// Mandatory and not blank (at most 4000 characters): the reviewers decide on it.
    pub business_justification: String,
    /// Accepted because Azure TRE's clients may send it; nothing reads it.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub properties: Option<Value>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddAirlockFile {
    pub name: String,
    /// The file's size in bytes: above `MULTIPART_PART_BYTES` the upload is split into parts,
    /// each with its own link (S3 takes at most 5 GiB in one PUT).
    #[serde(
        default,
        deserialize_with = "crate::domain::whole_number::whole_number_opt"
    )]
    pub size: Option<u64>,
}

/// Body of `POST .../requests/{id}/review`, in Azure TRE's field names.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviewAirlockRequest {
    /// `true` approves, `false` rejects. The strings `"true"` and `"false"` (any case) are
    /// accepted too: Azure TRE's own tests send `"True"`.
    #[serde(deserialize_with = "lenient_bool")]
    #[schema(schema_with = approval_schema)]
    pub approval: bool,
    /// Mandatory and not blank (at most 4000 characters): why it is approved or rejected.
    pub decision_explanation: String,
}

impl ReviewAirlockRequest {
    pub fn decision(&self) -> Decision {
        if self.approval {
            Decision::Approve
        } else {
            Decision::Reject
        }
    }
}

/// Body of `POST .../requests/{id}/revoke` (optional: an empty body revokes without a reason).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokeAirlockRequest {
    /// Why the approval is withdrawn (at most 4000 characters); shown as the `revoked` review.
    #[serde(default)]
    pub reason: Option<String>,
}

fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Bool(b) => Ok(b),
        Raw::Text(t) if t.eq_ignore_ascii_case("true") => Ok(true),
        Raw::Text(t) if t.eq_ignore_ascii_case("false") => Ok(false),
        Raw::Text(t) => Err(serde::de::Error::custom(format!(
            "`approval` is true or false, not `{t}`"
        ))),
    }
}

fn approval_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    let one_of = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$")),
        )
        .build();
    Schema::OneOf(one_of)
}

/// A request with what the caller may do with it now.
#[derive(Clone, Debug, PartialEq)]
pub struct AirlockRequestView {
    pub request: AirlockRequest,
    pub allowed_user_actions: Vec<UserAction>,
}

/// A pre-signed link to one file of a request.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileLink {
    pub file: String,
    /// `PUT` (upload in one request), `GET` (download), or `MULTIPART`: PUT each part to its
    /// link, then POST the parts' ETags to `url` (the API's completion route).
    pub method: String,
    pub url: String,
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multipart: Option<super::airlock_upload::MultipartLinks>,
}

pub(super) fn text_limit(field: &str, value: &str, max: usize) -> AppResult<()> {
    if value.trim().is_empty() {
        return Err(AppError::validation(format!("`{field}` must not be empty")));
    }
    if value.chars().count() > max {
        return Err(AppError::validation(format!(
            "`{field}` has at most {max} characters"
        )));
    }
    Ok(())
}

fn denied(e: String) -> AppError {
    AppError::Forbidden(e)
}

/// A rule broken by the current status is a conflict; one broken by the caller's role is not.
pub(super) fn refused(status: RequestStatus, e: String) -> AppError {
    if e.starts_with("only ") || e.contains("own request") {
        denied(e)
    } else {
        AppError::Conflict(format!("{e} (the request is {})", status.as_str()))
    }
}

impl App {
    pub(super) async fn airlock_roles(
        &self,
        caller: &Caller,
        ws: &str,
    ) -> AppResult<Vec<WorkspaceRole>> {
        caller.require_user()?;
        let roles = self.workspace_roles(caller.id(), ws).await?;
        authz::check_workspace_visible(caller, ws, &roles)?;
        if roles.is_empty() {
            // Admins see workspaces, but the airlock is for the workspace's own people.
            return Err(AppError::NotFound(format!("workspace `{ws}` not found")));
        }
        Ok(roles)
    }

    pub(crate) async fn load_airlock_request(
        &self,
        ws: &str,
        rid: &str,
    ) -> AppResult<(AirlockRequest, u64)> {
        let item = self
            .table
            .get(&keys::airlock_request(ws, rid))
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!("request `{rid}` not found in workspace `{ws}`"))
            })?;
        let mut req: AirlockRequest = serde_json::from_value(item.body)?;
        req.version = item.version;
        Ok((req, item.version))
    }

    /// Write the request if it is still at `version`, with `audit`'s event (the caller's
    /// action, or the system's own update); `req` then carries the new version.
    pub(crate) async fn save_airlock_request(
        &self,
        req: &mut AirlockRequest,
        version: u64,
        audit: AuditEntry,
    ) -> AppResult<u64> {
        let body = serde_json::to_value(&*req)?;
        let key = keys::airlock_request(&req.workspace_id, &req.id);
        let audit = audit
            .workspace(Some(&req.workspace_id))
            .resource(&req.id)
            .detail("status", req.status.as_str());
        let written = self.put_audited(key, body, version, audit).await;
        let saved = written.map_err(|e| match AppError::from(e) {
            AppError::PreconditionFailed(_) => AppError::Conflict(
                "the request changed while this was being done; fetch it and try again".into(),
            ),
            other => other,
        })?;
        req.version = saved;
        Ok(saved)
    }

    /// The request with the actions the caller (holding `roles` in its workspace) may take.
    pub(super) fn view(
        req: AirlockRequest,
        caller: &Caller,
        roles: &[WorkspaceRole],
    ) -> AirlockRequestView {
        let allowed_user_actions = allowed_actions(&req, caller.id(), roles);
        AirlockRequestView {
            request: req,
            allowed_user_actions,
        }
    }

    pub(crate) fn transition(
        req: &mut AirlockRequest,
        to: RequestStatus,
        by: &str,
        at: DateTime<Utc>,
        message: String,
    ) {
        Self::transition_by(req, to, by, None, at, message)
    }

    /// A transition asked by a caller, whose display name is recorded with it.
    pub(crate) fn transition_as(
        req: &mut AirlockRequest,
        to: RequestStatus,
        caller: &Caller,
        at: DateTime<Utc>,
        message: String,
    ) {
        let name = Some(caller.principal.name.clone()).filter(|n| !n.is_empty());
        Self::transition_by(req, to, caller.id(), name, at, message)
    }

    fn transition_by(
        req: &mut AirlockRequest,
        to: RequestStatus,
        by: &str,
        by_name: Option<String>,
        at: DateTime<Utc>,
        message: String,
    ) {
        if req.status != to {
            req.history.push(Transition {
                from: Some(req.status),
                to,
                by: by.to_string(),
                by_name,
                at,
                message,
            });
            req.status = to;
        }
        req.updated_at = at;
    }

    pub(super) fn storage(&self) -> AppResult<&AirlockStorage> {
        self.airlock
            .as_deref()
            .ok_or_else(|| AppError::Unavailable("the airlock's storage is not configured".into()))
    }

    pub async fn create_airlock_request(
        &self,
        caller: &Caller,
        ws: &str,
        body: CreateAirlockRequest,
    ) -> AppResult<AirlockRequestView> {
        let roles = self.airlock_roles(caller, ws).await?;
        if !roles.iter().any(|r| {
            matches!(
                r,
                WorkspaceRole::WorkspaceOwner | WorkspaceRole::WorkspaceResearcher
            )
        }) {
            return Err(AppError::Forbidden(
                "only a workspace owner or researcher may open an airlock request".into(),
            ));
        }
        let title = body.title.unwrap_or_else(|| DEFAULT_TITLE.to_string());
        text_limit("title", &title, 200)?;
        text_limit("businessJustification", &body.business_justification, 4000)?;
        let workspace = self
            .table
            .get(&keys::resource(ws))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("workspace `{ws}` not found")))?;
        let required = workspace
            .body
            .pointer(&format!("/properties/{REQUIRED_APPROVALS_PROPERTY}"))
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .clamp(1, 5) as u32;
        let now = self.clock.now();
        let name = Some(caller.principal.name.clone()).filter(|n| !n.is_empty());
        let mut req = AirlockRequest {
            id: self.ids.new_id(),
            workspace_id: ws.to_string(),
            kind: body.kind,
            title: title.trim().to_string(),
            justification: body.business_justification.trim().to_string(),
            status: RequestStatus::Draft,
            files: Vec::new(),
            created_by: caller.id().to_string(),
            created_by_name: name.clone(),
            created_at: now,
            updated_at: now,
            required_approvals: required,
            reviews: Vec::new(),
            scan: None,
            history: vec![Transition {
                from: None,
                to: RequestStatus::Draft,
                by: caller.id().to_string(),
                by_name: name,
                at: now,
                message: String::new(),
            }],
            sequence: 0,
            review_user_resources: Default::default(),
            version: 0,
        };
        let key = keys::airlock_request(ws, &req.id);
        let put = WriteOp::Put {
            key: key.clone(),
            index: None,
            body: serde_json::to_value(&req)?,
            condition: Condition::Absent,
        };
        let audit = AuditEntry::by(caller, "airlock.create")
            .workspace(Some(ws))
            .resource(&req.id)
            .versioned(key)
            .detail("type", req.kind.as_str());
        req.version = self
            .transact_audited(&[put], &audit)
            .await?
            .first()
            .copied()
            .unwrap_or(1);
        tracing::info!(request_id = %req.id, workspace_id = %ws, kind = req.kind.as_str(), "airlock request opened");
        Ok(Self::view(req, caller, &roles))
    }

    /// A page of a workspace's requests that the filter keeps. Pages follow the store's order
    /// (request ids); the filter's order sorts each page.
    pub async fn list_airlock_requests(
        &self,
        caller: &Caller,
        ws: &str,
        filter: &super::RequestFilter,
        page: &PageRequest,
    ) -> AppResult<Paged<AirlockRequestView>> {
        let roles = self.airlock_roles(caller, ws).await?;
        let mut found = self.requests_page(ws, page, |r| filter.keeps(r)).await?;
        found.items = filter.apply(found.items);
        Ok(found.map(|r| Self::view(r, caller, &roles)))
    }

    /// A page of a workspace's requests that `keep` keeps, in the store's (request id) order.
    pub(super) async fn requests_page(
        &self,
        ws: &str,
        page: &PageRequest,
        keep: impl Fn(&AirlockRequest) -> bool,
    ) -> AppResult<Paged<AirlockRequest>> {
        let mut walk = Walk::new(
            Query {
                pk: keys::roles_pk(ws),
                sk_prefix: Some(keys::AIRLOCK_REQUEST_PREFIX.into()),
                ..Default::default()
            },
            page,
        );
        while let Some(items) = walk.read(&*self.table).await? {
            for item in items {
                if !walk.fresh(&item) {
                    continue;
                }
                let mut req = serde_json::from_value::<AirlockRequest>(item.body)?;
                req.version = item.version;
                if keep(&req) && walk.push(req) {
                    break;
                }
            }
        }
        Ok(walk.finish())
    }

    pub async fn get_airlock_request(
        &self,
        caller: &Caller,
        ws: &str,
        rid: &str,
    ) -> AppResult<AirlockRequestView> {
        let roles = self.airlock_roles(caller, ws).await?;
        let (req, _) = self.load_airlock_request(ws, rid).await?;
        Ok(Self::view(req, caller, &roles))
    }

    /// Name a file of a draft and get a link to upload it (the requester only).
    pub async fn add_airlock_file(
        &self,
        caller: &Caller,
        ws: &str,
        rid: &str,
        body: AddAirlockFile,
    ) -> AppResult<FileLink> {
        self.airlock_roles(caller, ws).await?;
        validate_file_name(&body.name).map_err(AppError::validation)?;
        let (mut req, version) = self.load_airlock_request(ws, rid).await?;
        if req.created_by != caller.id() {
            return Err(AppError::Forbidden(
                "only the requester may upload files".into(),
            ));
        }
        if req.status != RequestStatus::Draft {
            return Err(AppError::Conflict(format!(
                "files can be uploaded only to a draft (the request is {})",
                req.status.as_str()
            )));
        }
        let store = self.storage()?.store(Stage::staging(req.kind))?;
        if !req.files.iter().any(|f| f.name == body.name) {
            if req.files.len() >= 1000 {
                return Err(AppError::validation("a request holds at most 1000 files"));
            }
            req.files.push(AirlockFile {
                name: body.name.clone(),
                size: None,
                sha256: None,
            });
            req.updated_at = self.clock.now();
            let audit = AuditEntry::by(caller, "airlock.upload-link")
                .detail("file", body.name.as_str())
                .detail("added", true);
            self.save_airlock_request(&mut req, version, audit).await?;
        } else {
            // Named before: only a new link is issued, which is recorded all the same.
            self.audit(
                &AuditEntry::by(caller, "airlock.upload-link")
                    .workspace(Some(ws))
                    .resource(rid)
                    .detail("file", body.name.as_str())
                    .detail("added", false),
            )
            .await?;
        }
        let key = object_key(Stage::staging(req.kind), ws, rid, &body.name);
        if let Some(size) = body
            .size
            .filter(|s| *s > super::airlock_upload::MULTIPART_PART_BYTES)
        {
            return super::airlock_upload::multipart_links(
                store.as_ref(),
                ws,
                rid,
                &body.name,
                &key,
                size,
            )
            .await;
        }
        let link = store
            .presign(PresignMethod::Put, &key, LINK_LIFETIME)
            .await?;
        Ok(FileLink {
            file: body.name,
            method: "PUT".into(),
            url: link.url,
            expires_at: link.expires_at,
            multipart: None,
        })
    }

    /// Where the caller may read the request's files from now: reviewers while the request is
    /// in review (its in-review copy), the requester once an export is approved; else `403`.
    pub(super) fn read_stage(
        req: &AirlockRequest,
        caller: &Caller,
        roles: &[WorkspaceRole],
    ) -> AppResult<Stage> {
        let is_requester = req.created_by == caller.id();
        let is_reviewer = roles.contains(&WorkspaceRole::AirlockManager) && !is_requester;
        match (req.status, req.kind) {
            (RequestStatus::InReview, kind) if is_reviewer => Ok(Stage::in_review(kind)),
            (RequestStatus::Approved, RequestType::Export) if is_requester => {
                Ok(Stage::ExportApproved)
            }
            (status, kind) => {
                let who = match (status, kind) {
                    (RequestStatus::InReview, _) => {
                        "only by its reviewers (airlock managers who did not create it)"
                    }
                    (RequestStatus::Approved, RequestType::Export) => "only by its requester",
                    _ => "by no one (reviewers read a request in review; requesters an approved export)",
                };
                Err(AppError::Forbidden(format!(
                    "the files of this {} {} request can be read {who}",
                    status.as_str(),
                    kind.as_str()
                )))
            }
        }
    }

    /// A pre-signed link to read one file of `req` from `stage`.
    pub(super) async fn read_link(
        &self,
        req: &AirlockRequest,
        stage: Stage,
        file: &str,
    ) -> AppResult<FileLink> {
        let key = object_key(stage, &req.workspace_id, &req.id, file);
        let link = self
            .storage()?
            .store(stage)?
            .presign(PresignMethod::Get, &key, LINK_LIFETIME)
            .await?;
        Ok(FileLink {
            file: file.to_string(),
            method: "GET".into(),
            url: link.url,
            expires_at: link.expires_at,
            multipart: None,
        })
    }

    /// A link to read one file (see `read_stage` for who may).
    pub async fn airlock_download_link(
        &self,
        caller: &Caller,
        ws: &str,
        rid: &str,
        file: &str,
    ) -> AppResult<FileLink> {
        let roles = self.airlock_roles(caller, ws).await?;
        let (req, _) = self.load_airlock_request(ws, rid).await?;
        let stage = Self::read_stage(&req, caller, &roles)?;
        if !req.files.iter().any(|f| f.name == file) {
            return Err(AppError::NotFound(format!(
                "request `{rid}` has no file `{file}`"
            )));
        }
        let link = self.read_link(&req, stage, file).await?;
        self.audit(
            &AuditEntry::by(caller, "airlock.download-link")
                .workspace(Some(ws))
                .resource(rid)
                .detail("file", file)
                .detail("stage", stage.as_str()),
        )
        .await?;
        Ok(link)
    }

    pub async fn submit_airlock_request(
        &self,
        caller: &Caller,
        ws: &str,
        rid: &str,
    ) -> AppResult<AirlockRequestView> {
        let roles = self.airlock_roles(caller, ws).await?;
        let (mut req, version) = self.load_airlock_request(ws, rid).await?;
        let who = actor(&req, caller.id(), &roles, Event::Submit);
        let to = next_status(req.status, Event::Submit, who).map_err(|e| refused(req.status, e))?;
        let staging = self.storage()?.store(Stage::staging(req.kind))?;
        // Files uploaded through the request's form (the `link` route) were never named to
        // the API: they are whatever the staging prefix holds.
        self.add_staged_files(staging.as_ref(), &mut req).await?;
        if req.files.is_empty() {
            return Err(AppError::validation("a request needs at least one file"));
        }
        let mut missing = Vec::new();
        for f in &req.files {
            if staging
                .head(&object_key(Stage::staging(req.kind), ws, rid, &f.name))
                .await?
                .is_none()
            {
                missing.push(f.name.clone());
            }
        }
        if !missing.is_empty() {
            return Err(AppError::Validation {
                detail: format!("{} file(s) were never uploaded", missing.len()),
                errors: missing
                    .into_iter()
                    .map(|m| format!("`{m}` was not uploaded"))
                    .collect(),
            });
        }
        Self::transition_as(&mut req, to, caller, self.clock.now(), String::new());
        let notify = self.notification_op(NewNotification {
            kind: NotificationKind::AirlockSubmitted,
            audience: Audience::AirlockManagers {
                workspace_id: ws.to_string(),
            },
            subject: format!("Airlock {} request to review: {}", req.kind.as_str(), req.title),
            text: format!(
                "{} submitted the {} request \"{}\" ({} file(s)) in workspace {ws}. It waits for your review once its scan is done.",
                display(caller),
                req.kind.as_str(),
                req.title,
                req.files.len()
            ),
            link: format!("#/workspaces/{ws}/requests/{rid}"),
            workspace_id: Some(ws.to_string()),
            resource_id: Some(rid.to_string()),
            caused_by: Some(caller.id().to_string()),
        })?;
        let audit = AuditEntry::by(caller, "airlock.submit")
            .detail("files", req.files.len())
            .with_write(notify);
        self.save_airlock_request(&mut req, version, audit).await?;
        let input = json!({
            "requestId": req.id,
            "workspaceId": req.workspace_id,
            "type": req.kind.as_str(),
            "files": req.files.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        });
        if let Err(e) = self
            .workflows
            .start_execution(AIRLOCK_STATE_MACHINE, &req.id, &input)
            .await
        {
            tracing::error!(request_id = %req.id, error = %e, "could not start the airlock workflow");
            // Never leave a request submitted with nothing to move it on.
            let (mut again, v) = self.load_airlock_request(ws, rid).await?;
            let message = format!("the airlock workflow could not be started: {e}");
            Self::transition(
                &mut again,
                RequestStatus::Failed,
                "system",
                self.clock.now(),
                message.clone(),
            );
            self.save_airlock_request(&mut again, v, AuditEntry::system("airlock.status"))
                .await?;
            return Err(AppError::Unavailable(message));
        }
        tracing::info!(request_id = %req.id, "airlock request submitted");
        Ok(Self::view(req, caller, &roles))
    }

    /// Record every object under the request's staging prefix as one of its files. A key
    /// that is not a plain file name below the prefix is refused rather than skipped, so that
    /// nothing uploaded escapes review unnoticed.
    async fn add_staged_files(
        &self,
        staging: &dyn ObjectStore,
        req: &mut AirlockRequest,
    ) -> AppResult<()> {
        let prefix = object_key(Stage::staging(req.kind), &req.workspace_id, &req.id, "");
        let mut after: Option<String> = None;
        let mut bad = Vec::new();
        loop {
            let page = staging.list(&prefix, after.as_deref(), 1000).await?;
            for obj in &page.objects {
                let name = obj.key.strip_prefix(&prefix).unwrap_or(&obj.key);
                if let Err(e) = validate_file_name(name) {
                    bad.push(e);
                } else if !req.files.iter().any(|f| f.name == name) {
                    req.files.push(AirlockFile {
                        name: name.to_string(),
                        size: None,
                        sha256: None,
                    });
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        if !bad.is_empty() {
            return Err(AppError::Validation {
                detail: "the request's upload area holds objects that are not plain file names"
                    .into(),
                errors: bad,
            });
        }
        if req.files.len() > 1000 {
            return Err(AppError::validation("a request holds at most 1000 files"));
        }
        Ok(())
    }
}

/// How a caller is named to people: their name, else their id.
pub(super) fn display(caller: &Caller) -> String {
    if caller.principal.name.trim().is_empty() {
        caller.id().to_string()
    } else {
        caller.principal.name.clone()
    }
}
