//! Large uploads: a file above `MULTIPART_PART_BYTES` is uploaded in parts, each through its
//! own pre-signed link, then completed through the API (the requester, while a draft).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::airlock::{AirlockRequestView, FileLink, LINK_LIFETIME};
use super::{App, AppError, AppResult, Caller};
use crate::domain::airlock::{object_key, RequestStatus, Stage};
use crate::ports::{ObjectStore, PartInfo, PresignedPost, PutOptions, MAX_POST_BYTES};

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
}
