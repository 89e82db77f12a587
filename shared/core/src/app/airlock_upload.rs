//! Large uploads: a file above `MULTIPART_PART_BYTES` is uploaded in parts, each through its
//! own pre-signed link, then completed through the API (the requester, while a draft).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::airlock::{AirlockRequestView, FileLink, LINK_LIFETIME};
use super::{App, AppError, AppResult, AuditEntry, Caller};
use crate::domain::airlock::{object_key, validate_file_name, RequestStatus, Stage};
use crate::ports::{ObjectStore, PartInfo, PortError, PresignedPost, PutOptions, MAX_POST_BYTES};

/// Size of the parts of a large upload (S3's parts are 5 MiB to 5 GiB, 10,000 at most).
pub const MULTIPART_PART_BYTES: u64 = 64 * 1024 * 1024;
const MAX_PARTS: u64 = 10_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartLink {
    pub part_number: u32,
    pub url: String,
    /// Bytes of the file this part carries: `[offset, offset + size)`.
    pub offset: u64,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MultipartLinks {
    pub upload_id: String,
    pub part_size: u64,
    pub parts: Vec<PartLink>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompletedPart {
    #[serde(deserialize_with = "crate::domain::whole_number::whole_number")]
    pub part_number: u32,
    /// The `ETag` header the part's upload answered.
    pub etag: String,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompleteAirlockFile {
    pub upload_id: String,
    pub parts: Vec<CompletedPart>,
}

pub(super) async fn multipart_links(
    store: &dyn ObjectStore,
    ws: &str,
    rid: &str,
    name: &str,
    key: &str,
    size: u64,
) -> AppResult<FileLink> {
    // Parts grow with the file so that 10,000 are always enough.
    let part_size = MULTIPART_PART_BYTES.max(size.div_ceil(MAX_PARTS));
    if part_size > 5 * 1024 * 1024 * 1024 {
        return Err(AppError::validation("a file is limited to 50 TB"));
    }
    let upload_id = store.create_multipart(key, PutOptions::default()).await?;
    let mut parts = Vec::new();
    let mut offset = 0;
    let mut expires_at = None;
    while offset < size {
        let n = parts.len() as u32 + 1;
        let link = store
            .presign_part(key, &upload_id, n, LINK_LIFETIME)
            .await?;
        let len = part_size.min(size - offset);
        expires_at = Some(link.expires_at);
        parts.push(PartLink {
            part_number: n,
            url: link.url,
            offset,
            size: len,
        });
        offset += len;
    }
    Ok(FileLink {
        file: name.to_string(),
        method: "MULTIPART".into(),
        url: format!("/api/workspaces/{ws}/requests/{rid}/files/{name}/complete"),
        expires_at: expires_at.unwrap_or_else(chrono::Utc::now),
        multipart: Some(MultipartLinks {
            upload_id,
            part_size,
            parts,
        }),
    })
}

/// What `GET .../requests/{id}/link` gives: S3 has no link to a whole "container", so a draft's
/// requester gets a form upload limited to the request's staging prefix, and whoever may read
/// the files afterwards gets one read link per file.
#[derive(Clone, Debug, PartialEq)]
pub struct AirlockLink {
    pub upload: Option<PresignedPost>,
    pub files: Vec<FileLink>,
}

impl App {
    pub async fn airlock_link(
        &self,
        caller: &Caller,
        ws: &str,
        rid: &str,
    ) -> AppResult<AirlockLink> {
        let roles = self.airlock_roles(caller, ws).await?;
        let (req, _) = self.load_airlock_request(ws, rid).await?;
        if req.status == RequestStatus::Draft {
            if req.created_by != caller.id() {
                return Err(AppError::Forbidden(
                    "only the requester may upload files".into(),
                ));
            }
            let stage = Stage::staging(req.kind);
            let prefix = object_key(stage, ws, rid, "");
            let form = self
                .storage()?
                .store(stage)?
                .presign_post(&prefix, MAX_POST_BYTES, LINK_LIFETIME)
                .await?;
            self.audit(
                &AuditEntry::by(caller, "airlock.upload-link")
                    .workspace(Some(ws))
                    .resource(rid)
                    .detail("form", true),
            )
            .await?;
            return Ok(AirlockLink {
                upload: Some(form),
                files: Vec::new(),
            });
        }
        let stage = Self::read_stage(&req, caller, &roles)?;
        let mut files = Vec::with_capacity(req.files.len());
        for f in &req.files {
            files.push(self.read_link(&req, stage, &f.name).await?);
        }
        self.audit(
            &AuditEntry::by(caller, "airlock.download-link")
                .workspace(Some(ws))
                .resource(rid)
                .detail(
                    "files",
                    files
                        .iter()
                        .map(|f| serde_json::Value::String(f.file.clone()))
                        .collect::<Vec<_>>(),
                )
                .detail("stage", stage.as_str()),
        )
        .await?;
        Ok(AirlockLink {
            upload: None,
            files,
        })
    }

    /// Assemble a large upload from its parts (the requester, while the request is a draft).
    pub async fn complete_airlock_file(
        &self,
        caller: &Caller,
        ws: &str,
        rid: &str,
        file: &str,
        body: CompleteAirlockFile,
    ) -> AppResult<AirlockRequestView> {
        let roles = self.airlock_roles(caller, ws).await?;
        let (req, _) = self.load_airlock_request(ws, rid).await?;
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
        if body.parts.is_empty() {
            return Err(AppError::validation(
                "`parts` lists every uploaded part with its ETag",
            ));
        }
        if !req.files.iter().any(|f| f.name == file) {
            return Err(AppError::NotFound(format!(
                "request `{rid}` has no file `{file}`"
            )));
        }
        let parts: Vec<PartInfo> = body
            .parts
            .into_iter()
            .map(|p| PartInfo {
                part_number: p.part_number,
                etag: p.etag,
            })
            .collect();
        let store = self.storage()?.store(Stage::staging(req.kind))?;
        store
            .complete_multipart(
                &object_key(Stage::staging(req.kind), ws, rid, file),
                &body.upload_id,
                &parts,
            )
            .await?;
        Ok(Self::view(req, caller, &roles))
    }

    /// Take a file off a draft (the requester): abort its multipart upload if `upload_id` names
    /// one, delete whatever was staged under its name, and drop the name so the draft can be
    /// submitted without it. Idempotent: a file that is already gone (or never was) succeeds
    /// the same way, so a retry after a lost answer sees what the first call did.
    pub async fn remove_airlock_file(
        &self,
        caller: &Caller,
        ws: &str,
        rid: &str,
        file: &str,
        upload_id: Option<&str>,
    ) -> AppResult<()> {
        self.airlock_roles(caller, ws).await?;
        validate_file_name(file).map_err(AppError::validation)?;
        let (mut req, version) = self.load_airlock_request(ws, rid).await?;
        if req.created_by != caller.id() {
            return Err(AppError::Forbidden(
                "only the requester may remove files".into(),
            ));
        }
        if req.status != RequestStatus::Draft {
            return Err(AppError::Conflict(format!(
                "files can be removed only from a draft (the request is {})",
                req.status.as_str()
            )));
        }
        let stage = Stage::staging(req.kind);
        let store = self.storage()?.store(stage)?;
        let key = object_key(stage, ws, rid, file);
        if let Some(id) = upload_id.filter(|id| !id.is_empty()) {
            match store.abort_multipart(&key, id).await {
                // Already aborted or completed: nothing left to stop.
                Ok(()) | Err(PortError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // Storage first: if the write below loses a race, a retry still finds the name and
        // finishes; the other order could leave an object no request names.
        store.delete(&key).await?;
        let before = req.files.len();
        req.files.retain(|f| f.name != file);
        if req.files.len() != before {
            req.updated_at = self.clock.now();
            let audit = AuditEntry::by(caller, "airlock.remove-file").detail("file", file);
            self.save_airlock_request(&mut req, version, audit).await?;
        }
        Ok(())
    }
}
