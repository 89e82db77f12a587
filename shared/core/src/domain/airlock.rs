//! Airlock requests: the only way data enters (import) or leaves (export) a workspace. The
//! status lifecycle follows Azure TRE's; every transition is a pure rule here, checked before
//! anything is written, and recorded with who and when.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::WorkspaceRole;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestType {
    Import,
    Export,
}

impl RequestType {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Export => "export",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Draft,
    Submitted,
    InReview,
    ApprovalInProgress,
    Approved,
    RejectionInProgress,
    Rejected,
    BlockingInProgress,
    BlockedByScan,
    Cancelled,
    Revoked,
    Failed,
}

impl RequestStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::InReview => "in_review",
            Self::ApprovalInProgress => "approval_in_progress",
            Self::Approved => "approved",
            Self::RejectionInProgress => "rejection_in_progress",
            Self::Rejected => "rejected",
            Self::BlockingInProgress => "blocking_in_progress",
            Self::BlockedByScan => "blocked_by_scan",
            Self::Cancelled => "cancelled",
            Self::Revoked => "revoked",
            Self::Failed => "failed",
        }
    }

    /// Nothing moves a request out of these (an approved one may still be revoked).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Rejected | Self::BlockedByScan | Self::Cancelled | Self::Revoked | Self::Failed
        )
    }
}

/// Where a request's files are. Objects move between stages only by the airlock runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    ImportStaging,
    ImportInReview,
    WorkspaceData,
    ExportStaging,
    ExportInReview,
    ExportApproved,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::ImportStaging,
        Stage::ImportInReview,
        Stage::WorkspaceData,
        Stage::ExportStaging,
        Stage::ExportInReview,
        Stage::ExportApproved,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ImportStaging => "import-staging",
            Self::ImportInReview => "import-in-review",
            Self::WorkspaceData => "workspace-data",
            Self::ExportStaging => "export-staging",
            Self::ExportInReview => "export-in-review",
            Self::ExportApproved => "export-approved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn staging(kind: RequestType) -> Self {
        match kind {
            RequestType::Import => Self::ImportStaging,
            RequestType::Export => Self::ExportStaging,
        }
    }

    pub fn in_review(kind: RequestType) -> Self {
        match kind {
            RequestType::Import => Self::ImportInReview,
            RequestType::Export => Self::ExportInReview,
        }
    }

    pub fn destination(kind: RequestType) -> Self {
        match kind {
            RequestType::Import => Self::WorkspaceData,
            RequestType::Export => Self::ExportApproved,
        }
    }
}

/// Object key of a request's file in a stage: `<workspace>/<request>/<file name>`. Imports land
/// in the workspace's data under `<workspace>/imports/<request>/<file name>`.
pub fn object_key(stage: Stage, workspace_id: &str, request_id: &str, file: &str) -> String {
    match stage {
        Stage::WorkspaceData => format!("{workspace_id}/imports/{request_id}/{file}"),
        _ => format!("{workspace_id}/{request_id}/{file}"),
    }
}

/// A file name: one path segment, printable, no traversal, at most 255 bytes.
pub fn validate_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err("a file name has 1 to 255 bytes".into());
    }
    if name == "." || name == ".." || name.contains(['/', '\\']) {
        return Err(format!(
            "`{name}` is not a file name (no `/`, `\\`, `.` or `..`)"
        ));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err("a file name may not contain control characters".into());
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AirlockFile {
    pub name: String,
    /// Size and checksum as the airlock runner measured them when it copied the file out of
    /// staging (absent while the request is a draft).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    /// Absent in reviews recorded before reviews had ids (the API derives a stable one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub reviewer: String,
    /// Display name of the reviewer at the time (absent in older items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer_name: Option<String>,
    pub decision: Decision,
    pub comment: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanResult {
    /// `clean` or `threat`.
    pub verdict: String,
    /// What found what, e.g. `policy: EICAR test signature in data.csv`.
    #[serde(default)]
    pub findings: Vec<String>,
    pub scanners: Vec<String>,
}

/// One recorded transition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    pub from: Option<RequestStatus>,
    pub to: RequestStatus,
    pub by: String,
    /// Display name of `by` at the time (absent for the workflow and in older items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_name: Option<String>,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AirlockRequest {
    pub id: String,
    pub workspace_id: String,
    #[serde(rename = "type")]
    pub kind: RequestType,
    pub title: String,
    pub justification: String,
    pub status: RequestStatus,
    pub files: Vec<AirlockFile>,
    pub created_by: String,
    /// Display name of `created_by` at the time (absent in older items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Distinct approvals needed (the workspace's setting when the request was created).
    pub required_approvals: u32,
    #[serde(default)]
    pub reviews: Vec<Review>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanResult>,
    #[serde(default)]
    pub history: Vec<Transition>,
    /// Highest airlock-runner status sequence applied (duplicates and reordering ignored).
    #[serde(default)]
    pub sequence: u64,
    /// Review environments by reviewer id (Azure TRE's `reviewUserResources`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub review_user_resources: BTreeMap<String, ReviewUserResource>,
    /// The store's version of the item this was read from (0 for one not read from the
    /// store): the request's etag. Not stored in the item itself.
    #[serde(skip)]
    pub version: u64,
}

/// Where a reviewer's review environment is: a user resource, perhaps in another workspace
/// (imports are reviewed in a dedicated review workspace).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewUserResource {
    pub workspace_id: String,
    pub workspace_service_id: String,
    pub user_resource_id: String,
}

/// Who asks for a transition, as far as the rules care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The requester (the request's creator).
    Requester,
    /// An airlock manager of the request's workspace who did not create it.
    Reviewer,
    /// A workspace owner who did not create it.
    Owner,
    /// The airlock workflow (runner reports and the engine).
    System,
    /// Anyone else in the workspace.
    Member,
}

/// What may happen to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Submit,
    Cancel,
    /// The files were copied and scanned clean: ready for review.
    ScanClean,
    /// The scan found a threat: the files are being removed.
    ScanThreat,
    /// A review decision; `enough` tells whether the approvals now reach the required number.
    Review {
        decision: Decision,
        enough: bool,
    },
    /// The runner finished moving (approve) or deleting (reject, block) the files.
    Finished,
    Revoke,
    Fail,
}

/// What a caller may ask of a request, in Azure TRE's names and order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserAction {
    Review,
    Cancel,
    Submit,
    Revoke,
}

/// Who the caller is to a request for a given event: the one rule the use cases and the
/// advertised actions share, so a client is never offered what would then be refused.
pub fn actor(req: &AirlockRequest, caller: &str, roles: &[WorkspaceRole], event: Event) -> Actor {
    let creator = req.created_by == caller;
    let has = |r: WorkspaceRole| roles.contains(&r);
    match event {
        Event::Submit if creator => Actor::Requester,
        Event::Cancel if creator => Actor::Requester,
        Event::Cancel if has(WorkspaceRole::WorkspaceOwner) => Actor::Owner,
        Event::Review { .. } if creator => Actor::Requester,
        Event::Review { .. } if has(WorkspaceRole::AirlockManager) => Actor::Reviewer,
        Event::Revoke if !creator && has(WorkspaceRole::AirlockManager) => Actor::Reviewer,
        _ => Actor::Member,
    }
}

/// The actions the caller may take on the request now (`allowedUserActions`). A reviewer who
/// already reviewed it may not review again (approvals come from distinct managers).
pub fn allowed_actions(
    req: &AirlockRequest,
    caller: &str,
    roles: &[WorkspaceRole],
) -> Vec<UserAction> {
    let approve = Event::Review {
        decision: Decision::Approve,
        enough: true,
    };
    let may =
        |event: Event| next_status(req.status, event, actor(req, caller, roles, event)).is_ok();
    let mut out = Vec::new();
    if may(approve) && !req.reviews.iter().any(|r| r.reviewer == caller) {
        out.push(UserAction::Review);
    }
    for (event, action) in [
        (Event::Cancel, UserAction::Cancel),
        (Event::Submit, UserAction::Submit),
        (Event::Revoke, UserAction::Revoke),
    ] {
        if may(event) {
            out.push(action);
        }
    }
    out
}

/// The status a request moves to, or why it may not.
pub fn next_status(
    current: RequestStatus,
    event: Event,
    actor: Actor,
) -> Result<RequestStatus, String> {
    use Actor as A;
    use RequestStatus as S;
    // Who may ask comes first, whatever the status: a caller without the right learns nothing
    // about where the request stands.
    let who = match (event, actor) {
        (Event::Submit, A::Requester)
        | (Event::Cancel, A::Requester | A::Owner)
        | (Event::Review { .. } | Event::Revoke, A::Reviewer)
        | (Event::ScanClean | Event::ScanThreat | Event::Finished | Event::Fail, A::System) => {
            Ok(())
        }
        (Event::Review { .. }, A::Requester) => {
            Err("the requester may not review their own request".to_string())
        }
        (Event::Submit, _) => Err("only the requester may do this".into()),
        (Event::Cancel, _) => Err("only the requester or a workspace owner may do this".into()),
        (Event::Review { .. } | Event::Revoke, _) => Err(
            "only an airlock manager of the workspace who did not create the request may do this"
                .into(),
        ),
        (_, _) => Err("only the airlock workflow may do this".into()),
    };
    who?;
    match (event, current) {
        (Event::Submit, S::Draft) => Ok(S::Submitted),
        (Event::Cancel, S::Draft | S::InReview) => Ok(S::Cancelled),
        (Event::ScanClean, S::Submitted) => Ok(S::InReview),
        (Event::ScanThreat, S::Submitted) => Ok(S::BlockingInProgress),
        (Event::Review { decision, enough }, S::InReview) => Ok(match (decision, enough) {
            (Decision::Reject, _) => S::RejectionInProgress,
            (Decision::Approve, true) => S::ApprovalInProgress,
            (Decision::Approve, false) => S::InReview,
        }),
        (Event::Finished, S::ApprovalInProgress) => Ok(S::Approved),
        (Event::Finished, S::RejectionInProgress) => Ok(S::Rejected),
        (Event::Finished, S::BlockingInProgress) => Ok(S::BlockedByScan),
        (Event::Revoke, S::Approved) => Ok(S::Revoked),
        (Event::Fail, s) if !s.is_final() && s != S::Approved => Ok(S::Failed),
        (_, s) => Err(format!(
            "a request that is {} cannot be {}",
            s.as_str(),
            match event {
                Event::Submit => "submitted",
                Event::Cancel => "cancelled",
                Event::ScanClean | Event::ScanThreat => "scanned",
                Event::Review { .. } => "reviewed",
                Event::Finished => "finished",
                Event::Revoke => "revoked",
                Event::Fail => "failed",
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestStatus as S;

    #[test]
    fn the_happy_paths() {
        let s = next_status(S::Draft, Event::Submit, Actor::Requester).unwrap();
        let s = next_status(s, Event::ScanClean, Actor::System).unwrap();
        assert_eq!(s, S::InReview);
        let first = Event::Review {
            decision: Decision::Approve,
            enough: false,
        };
        assert_eq!(next_status(s, first, Actor::Reviewer).unwrap(), S::InReview);
        let second = Event::Review {
            decision: Decision::Approve,
            enough: true,
        };
        let s = next_status(s, second, Actor::Reviewer).unwrap();
        assert_eq!(s, S::ApprovalInProgress);
        assert_eq!(
            next_status(s, Event::Finished, Actor::System).unwrap(),
            S::Approved
        );
    }

    #[test]
    fn no_status_can_be_skipped_and_no_one_reviews_their_own() {
        // Every status, every event, every actor: only the listed moves are allowed.
        let all = [
            S::Draft,
            S::Submitted,
            S::InReview,
            S::ApprovalInProgress,
            S::Approved,
            S::RejectionInProgress,
            S::Rejected,
            S::BlockingInProgress,
            S::BlockedByScan,
            S::Cancelled,
            S::Revoked,
            S::Failed,
        ];
        let events = [
            Event::Submit,
            Event::Cancel,
            Event::ScanClean,
            Event::ScanThreat,
            Event::Review {
                decision: Decision::Approve,
                enough: true,
            },
            Event::Review {
                decision: Decision::Reject,
                enough: false,
            },
            Event::Finished,
            Event::Revoke,
            Event::Fail,
        ];
        let actors = [
            Actor::Requester,
            Actor::Reviewer,
            Actor::Owner,
            Actor::System,
            Actor::Member,
        ];
        let mut allowed = Vec::new();
        for s in all {
            for e in events {
                for a in actors {
                    if let Ok(to) = next_status(s, e, a) {
                        allowed.push((s, to, a));
                    }
                }
            }
        }
        for (from, to, actor) in &allowed {
            let ok = match (from, to) {
                (S::Draft, S::Submitted) => *actor == Actor::Requester,
                (S::Draft | S::InReview, S::Cancelled) => {
                    matches!(actor, Actor::Requester | Actor::Owner)
                }
                (S::Submitted, S::InReview | S::BlockingInProgress) => *actor == Actor::System,
                (S::InReview, S::ApprovalInProgress | S::RejectionInProgress) => {
                    *actor == Actor::Reviewer
                }
                (S::ApprovalInProgress, S::Approved)
                | (S::RejectionInProgress, S::Rejected)
                | (S::BlockingInProgress, S::BlockedByScan) => *actor == Actor::System,
                (S::Approved, S::Revoked) => *actor == Actor::Reviewer,
                (f, S::Failed) => *actor == Actor::System && !f.is_final() && *f != S::Approved,
                _ => false,
            };
            assert!(ok, "{from:?} -> {to:?} by {actor:?} must not be allowed");
        }
        assert!(next_status(
            S::InReview,
            Event::Review {
                decision: Decision::Approve,
                enough: true
            },
            Actor::Requester
        )
        .unwrap_err()
        .contains("own request"));
    }

    fn request(status: RequestStatus, created_by: &str) -> AirlockRequest {
        let at = DateTime::<Utc>::default();
        AirlockRequest {
            id: "r".into(),
            workspace_id: "w".into(),
            kind: RequestType::Import,
            title: "t".into(),
            justification: "j".into(),
            status,
            files: Vec::new(),
            created_by: created_by.into(),
            created_by_name: None,
            created_at: at,
            updated_at: at,
            required_approvals: 1,
            reviews: Vec::new(),
            scan: None,
            history: Vec::new(),
            sequence: 0,
            review_user_resources: Default::default(),
            version: 0,
        }
    }

    #[test]
    fn allowed_actions_follow_the_transition_rules() {
        use UserAction as U;
        use WorkspaceRole as R;
        let researcher = [R::WorkspaceResearcher];
        let manager = [R::AirlockManager];
        let owner = [R::WorkspaceOwner];
        let draft = request(S::Draft, "ada");
        assert_eq!(
            allowed_actions(&draft, "ada", &researcher),
            [U::Cancel, U::Submit]
        );
        assert_eq!(allowed_actions(&draft, "bob", &owner), [U::Cancel]);
        assert!(allowed_actions(&draft, "bob", &manager).is_empty());
        let mut review = request(S::InReview, "ada");
        assert_eq!(allowed_actions(&review, "bob", &manager), [U::Review]);
        // The requester never reviews their own, even as a manager.
        assert_eq!(
            allowed_actions(&review, "ada", &[R::AirlockManager, R::WorkspaceResearcher]),
            [U::Cancel]
        );
        review.reviews.push(Review {
            id: None,
            reviewer: "bob".into(),
            reviewer_name: None,
            decision: Decision::Approve,
            comment: "ok".into(),
            at: DateTime::<Utc>::default(),
        });
        assert!(allowed_actions(&review, "bob", &manager).is_empty());
        let approved = request(S::Approved, "ada");
        assert_eq!(allowed_actions(&approved, "bob", &manager), [U::Revoke]);
        assert!(allowed_actions(&approved, "ada", &manager).is_empty());
        assert!(allowed_actions(&request(S::Submitted, "ada"), "ada", &researcher).is_empty());
    }

    #[test]
    fn file_names() {
        assert!(validate_file_name("cohort.csv").is_ok());
        for bad in ["", ".", "..", "a/b", "..\\x", "a\u{0}b"] {
            assert!(validate_file_name(bad).is_err(), "{bad:?}");
        }
    }
}
