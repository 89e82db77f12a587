//! Airlock requests on the wire: Azure TRE's `AirlockRequest`, `AirlockReview` and
//! `AirlockRequestWithAllowedUserActions` models (api_app/models/domain/airlock_request.py,
//! api_app/models/schemas/airlock_request.py), plus what this TRE adds under names of its own
//! (`requiredApprovals`, `scan`, files' `sha256`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tre_core::app::{AirlockLink as CoreLink, AirlockRequestView, FileLink};
use tre_core::domain::airlock::{
    AirlockRequest as Domain, Decision, RequestStatus, RequestType, ScanResult, UserAction,
};
use utoipa::ToSchema;

use super::{when, User};

/// Who the airlock workflow's own transitions are recorded as.
const SYSTEM: &str = "system";

/// An airlock request.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AirlockRequest {
    pub id: String,
    /// Counts the writes to the request (0 at creation).
    pub resource_version: u64,
    pub created_by: User,
    /// POSIX seconds.
    pub created_when: f64,
    /// Who made the last transition.
    pub updated_by: User,
    /// POSIX seconds of the last change.
    pub updated_when: f64,
    /// Each transition after creation, oldest first.
    pub history: Vec<HistoryItem>,
    pub workspace_id: String,
    #[serde(rename = "type")]
    pub kind: RequestType,
    pub files: Vec<File>,
    pub title: String,
    pub business_justification: String,
    pub status: RequestStatus,
    /// Why the workflow failed or blocked the request, when it did.
    pub status_message: Option<String>,
    /// Approvals and rejections, then revocations, oldest first.
    pub reviews: Vec<Review>,
    /// The version tag without quotes (airlock calls take no etag; it is informative).
    #[serde(rename = "_etag")]
    pub etag: String,
    /// Review environments by reviewer id: where each reviewer's user resource is.
    #[schema(value_type = Object)]
    pub review_user_resources: BTreeMap<String, tre_core::domain::airlock::ReviewUserResource>,
    /// Distinct approvals needed (the workspace's `airlock_required_approvals` when opened).
    pub required_approvals: u32,
    /// The scan of the files, once the workflow has run it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanResult>,
}

/// One transition, as Azure TRE's history items carry it (`previousStatus` in `properties`).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = AirlockHistoryItem)]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    /// The transition's number (1 for the first after creation).
    pub resource_version: u64,
    pub updated_when: f64,
    pub updated_by: User,
    pub properties: HistoryProperties,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = AirlockHistoryProperties)]
#[serde(rename_all = "camelCase")]
pub struct HistoryProperties {
    pub previous_status: RequestStatus,
    /// The status the transition led to.
    pub status: RequestStatus,
    /// The review's explanation, the revocation's reason or the workflow's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = AirlockFile)]
pub struct File {
    pub name: String,
    /// Bytes, as measured when the file left staging (`null` before).
    pub size: Option<u64>,
    /// Hex SHA-256, as measured when the file left staging (`null` before).
    pub sha256: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = AirlockReviewDecision)]
#[serde(rename_all = "lowercase")]
pub enum ReviewDecision {
    Approved,
    Rejected,
    Revoked,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = AirlockReview)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub id: String,
    pub reviewer: User,
    /// POSIX seconds.
    pub date_created: f64,
    pub review_decision: ReviewDecision,
    pub decision_explanation: String,
}

/// A request with what the caller may do with it now.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AirlockRequestWithAllowedUserActions {
    pub airlock_request: AirlockRequest,
    pub allowed_user_actions: Vec<UserAction>,
}

/// `GET .../requests/{id}/link`. A draft's requester gets `upload`, a signed form limited to
/// the request's prefix (`containerUrl` is its target); whoever may read the files afterwards
/// gets `files`, one read link each (`containerUrl` is the first).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AirlockLink {
    pub container_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadForm>,
    pub files: Vec<FileLink>,
}

/// A form upload: POST `multipart/form-data` to `url` with every field of `fields`, then
/// `key` (`keyPrefix` followed by the file's name), then the file as `file`, last.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = AirlockUploadForm)]
#[serde(rename_all = "camelCase")]
pub struct UploadForm {
    pub url: String,
    /// Always `POST`.
    pub method: String,
    pub fields: BTreeMap<String, String>,
    pub key_prefix: String,
    /// Largest file one upload may carry, in bytes.
    pub max_bytes: u64,
    pub expires_at: DateTime<Utc>,
}

/// The bare array `GET /api/requests` answers.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AirlockRequestList(pub Vec<AirlockRequest>);

fn user(id: &str, name: Option<&str>) -> User {
    if id == SYSTEM {
        return User::new(SYSTEM, Some("airlock workflow"));
    }
    User::new(id, name)
}

impl From<&Domain> for AirlockRequest {
    fn from(r: &Domain) -> Self {
        let created_by = user(&r.created_by, r.created_by_name.as_deref());
        let last = r.history.last();
        let updated_by = last
            .map(|t| user(&t.by, t.by_name.as_deref()))
            .unwrap_or_else(|| created_by.clone());
        let history: Vec<HistoryItem> = r
            .history
            .iter()
            .filter_map(|t| Some((t.from?, t)))
            .enumerate()
            .map(|(n, (from, t))| HistoryItem {
                resource_version: n as u64 + 1,
                updated_when: when(t.at),
                updated_by: user(&t.by, t.by_name.as_deref()),
                properties: HistoryProperties {
                    previous_status: from,
                    status: t.to,
                    message: Some(t.message.clone()).filter(|m| !m.is_empty()),
                },
            })
            .collect();
        let mut reviews: Vec<Review> = r
            .reviews
            .iter()
            .enumerate()
            .map(|(n, v)| Review {
                // Reviews stored before they had ids get one derived from their place.
                id: v
                    .id
                    .clone()
                    .unwrap_or_else(|| format!("{}-review-{n}", r.id)),
                reviewer: user(&v.reviewer, v.reviewer_name.as_deref()),
                date_created: when(v.at),
                review_decision: match v.decision {
                    Decision::Approve => ReviewDecision::Approved,
                    Decision::Reject => ReviewDecision::Rejected,
                },
                decision_explanation: v.comment.clone(),
            })
            .collect();
        // A revocation is a transition here; Azure TRE shows it as a `revoked` review.
        reviews.extend(
            r.history
                .iter()
                .enumerate()
                .filter(|(_, t)| t.to == RequestStatus::Revoked)
                .map(|(n, t)| Review {
                    id: format!("{}-revocation-{n}", r.id),
                    reviewer: user(&t.by, t.by_name.as_deref()),
                    date_created: when(t.at),
                    review_decision: ReviewDecision::Revoked,
                    decision_explanation: t.message.clone(),
                }),
        );
        let status_message = last
            .filter(|t| t.by == SYSTEM && t.to == r.status && !t.message.is_empty())
            .map(|t| t.message.clone());
        Self {
            id: r.id.clone(),
            resource_version: r.version.saturating_sub(1),
            created_by,
            created_when: when(r.created_at),
            updated_by,
            updated_when: when(r.updated_at),
            history,
            workspace_id: r.workspace_id.clone(),
            kind: r.kind,
            files: r
                .files
                .iter()
                .map(|f| File {
                    name: f.name.clone(),
                    size: f.size,
                    sha256: f.sha256.clone(),
                })
                .collect(),
            title: r.title.clone(),
            business_justification: r.justification.clone(),
            status: r.status,
            status_message,
            reviews,
            etag: r.version.to_string(),
            review_user_resources: r.review_user_resources.clone(),
            required_approvals: r.required_approvals,
            scan: r.scan.clone(),
        }
    }
}

impl From<&AirlockRequestView> for AirlockRequestWithAllowedUserActions {
    fn from(v: &AirlockRequestView) -> Self {
        Self {
            airlock_request: AirlockRequest::from(&v.request),
            allowed_user_actions: v.allowed_user_actions.clone(),
        }
    }
}

impl From<CoreLink> for AirlockLink {
    fn from(l: CoreLink) -> Self {
        let upload = l.upload.map(|p| UploadForm {
            url: p.url,
            method: "POST".into(),
            fields: p.fields,
            key_prefix: p.key_prefix,
            max_bytes: p.max_bytes,
            expires_at: p.expires_at,
        });
        let container_url = match (&upload, l.files.first()) {
            (Some(u), _) => u.url.clone(),
            (None, Some(f)) => f.url.clone(),
            (None, None) => String::new(),
        };
        Self {
            container_url,
            upload,
            files: l.files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tre_core::domain::airlock::{Review as DomainReview, Transition};

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(s, 0).unwrap_or_default()
    }

    fn transition(from: Option<RequestStatus>, to: RequestStatus, by: &str, s: i64) -> Transition {
        Transition {
            from,
            to,
            by: by.into(),
            by_name: (by != SYSTEM).then(|| format!("{by} name")),
            at: at(s),
            message: if to == RequestStatus::Revoked {
                "leaked".into()
            } else {
                String::new()
            },
        }
    }

    #[test]
    fn a_request_in_azure_tre_names() {
        use RequestStatus as S;
        let domain = Domain {
            id: "rq".into(),
            workspace_id: "ws".into(),
            kind: RequestType::Export,
            title: "Aggregates".into(),
            justification: "for the paper".into(),
            status: S::Revoked,
            files: Vec::new(),
            created_by: "ada".into(),
            created_by_name: Some("Ada".into()),
            created_at: at(100),
            updated_at: at(500),
            required_approvals: 1,
            reviews: vec![DomainReview {
                id: None,
                reviewer: "bob".into(),
                reviewer_name: None,
                decision: Decision::Approve,
                comment: "fine".into(),
                at: at(300),
            }],
            scan: None,
            history: vec![
                transition(None, S::Draft, "ada", 100),
                transition(Some(S::Draft), S::Submitted, "ada", 200),
                transition(Some(S::Submitted), S::InReview, SYSTEM, 250),
                transition(Some(S::InReview), S::ApprovalInProgress, "bob", 300),
                transition(Some(S::ApprovalInProgress), S::Approved, SYSTEM, 400),
                transition(Some(S::Approved), S::Revoked, "bob", 500),
            ],
            sequence: 2,
            review_user_resources: Default::default(),
            version: 9,
        };
        let v = serde_json::to_value(AirlockRequest::from(&domain)).unwrap_or_default();
        assert_eq!(v["businessJustification"], "for the paper");
        assert_eq!(v["createdBy"]["name"], "Ada");
        assert_eq!(v["createdWhen"], 100.0);
        assert_eq!(v["updatedBy"]["id"], "bob");
        assert_eq!(
            (v["_etag"].as_str(), v["resourceVersion"].as_u64()),
            (Some("9"), Some(8))
        );
        assert_eq!(v["history"].as_array().map(Vec::len), Some(5));
        assert_eq!(v["history"][0]["properties"]["previousStatus"], "draft");
        assert_eq!(v["reviews"][0]["reviewDecision"], "approved");
        assert_eq!(v["reviews"][0]["reviewer"]["name"], "bob");
        assert_eq!(v["reviews"][0]["id"], "rq-review-0");
        assert_eq!(v["reviews"][1]["reviewDecision"], "revoked");
        assert_eq!(v["reviews"][1]["decisionExplanation"], "leaked");
        assert_eq!(v["statusMessage"], serde_json::Value::Null);
        assert_eq!(v["reviewUserResources"], serde_json::json!({}));
        assert!(v.get("justification").is_none() && v.get("scan").is_none());
    }
}

/// A reviewer's review environment: the user resource, its latest operation and, when just
/// asked for, the request that now names it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AirlockReviewEnvironment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub airlock_request: Option<AirlockRequestWithAllowedUserActions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<super::operation::Operation>,
    pub user_resource: super::resource::Resource,
}
