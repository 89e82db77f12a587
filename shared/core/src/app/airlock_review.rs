//! Airlock use cases after submission: review (with distinct approvers), cancellation,
//! revocation, the review queue, and the hand-over of decisions to the waiting workflow.

use serde_json::{json, Value};

use super::airlock::{refused, text_limit, AirlockRequestView};
use super::{
    keys, App, AppError, AppResult, AuditEntry, Caller, NewNotification, ReviewAirlockRequest,
    RevokeAirlockRequest,
};
use crate::domain::airlock::{
    actor, next_status, Actor, AirlockRequest, Decision, Event, RequestStatus, Review,
};
use crate::domain::notification::{Audience, NotificationKind};
use crate::domain::WorkspaceRole;
use crate::ports::{Condition, PortError, WriteOp};

impl App {
    pub async fn cancel_airlock_request(
        &self,
        caller: &Caller,
        ws: &str,
        rid: &str,
    ) -> AppResult<AirlockRequestView> {
        let roles = self.airlock_roles(caller, ws).await?;
        let (mut req, version) = self.load_airlock_request(ws, rid).await?;
        let was = req.status;
        let who = actor(&req, caller.id(), &roles, Event::Cancel);
        let to = next_status(was, Event::Cancel, who).map_err(|e| refused(was, e))?;
        Self::transition_as(&mut req, to, caller, self.clock.now(), String::new());
        self.save_airlock_request(&mut req, version, AuditEntry::by(caller, "airlock.cancel"))
            .await?;
        if was == RequestStatus::InReview {
            // The workflow waits for a review: let it discard the files instead.
            self.complete_review_task(&req, "cancel").await?;
        }
        self.end_review_environments(&req).await;
        Ok(Self::view(req, caller, &roles))
    }

    pub async fn review_airlock_request(
        &self,
        caller: &Caller,
        ws: &str,
        rid: &str,
        body: ReviewAirlockRequest,
    ) -> AppResult<AirlockRequestView> {
        let roles = self.airlock_roles(caller, ws).await?;
        text_limit("decisionExplanation", &body.decision_explanation, 4000)?;
        let decision = body.decision();
        let explanation = body.decision_explanation.trim().to_string();
        let (mut req, version) = self.load_airlock_request(ws, rid).await?;
        // The same review sent again (a retry after a lost answer) re-sends the decision while
        // the workflow may still be waiting for it, and answers as before once it is done.
        if let Some(previous) = req.reviews.iter().find(|r| r.reviewer == caller.id()) {
            let pending = matches!(
                req.status,
                RequestStatus::ApprovalInProgress | RequestStatus::RejectionInProgress
            );
            let done = matches!(
                (decision, req.status),
                (Decision::Approve, RequestStatus::Approved)
                    | (Decision::Reject, RequestStatus::Rejected)
            );
            if previous.decision == decision && pending {
                self.resend_review_task(&req, decision_name(decision))
                    .await?;
                return Ok(Self::view(req, caller, &roles));
            }
            if previous.decision == decision && done {
                return Ok(Self::view(req, caller, &roles));
            }
            if req.status == RequestStatus::InReview {
                return Err(AppError::Conflict(
                    "you have already reviewed this request; approvals must come from distinct airlock managers".into(),
                ));
            }
        }
        let approvals = req
            .reviews
            .iter()
            .filter(|r| r.decision == Decision::Approve)
            .count() as u32
            + u32::from(decision == Decision::Approve);
        let event = Event::Review {
            decision,
            enough: approvals >= req.required_approvals,
        };
        let was = req.status;
        let to = next_status(was, event, actor(&req, caller.id(), &roles, event))
            .map_err(|e| refused(was, e))?;
        let now = self.clock.now();
        req.reviews.push(Review {
            id: Some(self.ids.new_id()),
            reviewer: caller.id().to_string(),
            reviewer_name: Some(caller.principal.name.clone()).filter(|n| !n.is_empty()),
            decision,
            comment: explanation.clone(),
            at: now,
        });
        Self::transition_as(&mut req, to, caller, now, explanation);
        let mut audit =
            AuditEntry::by(caller, "airlock.review").detail("decision", decision_name(decision));
        if to != RequestStatus::InReview {
            let verdict = match decision {
                Decision::Approve => "approved",
                Decision::Reject => "rejected",
            };
            audit = audit.with_write(self.notification_op(NewNotification {
                kind: NotificationKind::AirlockDecided,
                audience: Audience::Principal {
                    id: req.created_by.clone(),
                },
                subject: format!("Your airlock request was {verdict}: {}", req.title),
                text: format!(
                    "{} {verdict} your {} request \"{}\" in workspace {ws}.",
                    super::airlock::display(caller),
                    req.kind.as_str(),
                    req.title
                ),
                link: format!("#/workspaces/{ws}/requests/{rid}"),
                workspace_id: Some(ws.to_string()),
                resource_id: Some(rid.to_string()),
                caused_by: Some(caller.id().to_string()),
            })?);
        }
        self.save_airlock_request(&mut req, version, audit).await?;
        if to != RequestStatus::InReview {
            self.complete_review_task(&req, decision_name(decision))
                .await?;
            self.end_review_environments(&req).await;
        }
        tracing::info!(request_id = %rid, decision = decision_name(decision), status = to.as_str(), "airlock request reviewed");
        Ok(Self::view(req, caller, &roles))
    }

    /// Withdraw an approval; the reason is recorded with the transition (the API shows it as
    /// a `revoked` review, as Azure TRE does).
    pub async fn revoke_airlock_request(
        &self,
        caller: &Caller,
        ws: &str,
        rid: &str,
        body: RevokeAirlockRequest,
    ) -> AppResult<AirlockRequestView> {
        let roles = self.airlock_roles(caller, ws).await?;
        let reason = body.reason.unwrap_or_default().trim().to_string();
        if reason.chars().count() > 4000 {
            return Err(AppError::validation("`reason` has at most 4000 characters"));
        }
        let (mut req, version) = self.load_airlock_request(ws, rid).await?;
        let who = actor(&req, caller.id(), &roles, Event::Revoke);
        let to = next_status(req.status, Event::Revoke, who).map_err(|e| refused(req.status, e))?;
        Self::transition_as(&mut req, to, caller, self.clock.now(), reason);
        self.save_airlock_request(&mut req, version, AuditEntry::by(caller, "airlock.revoke"))
            .await?;
        Ok(Self::view(req, caller, &roles))
    }

    /// A page of the requests waiting for the caller's review: in review, in a workspace where
    /// the caller is an airlock manager, created by someone else, and not yet reviewed by the
    /// caller. Pages walk the workspaces in id order; each page is sorted by last update.
    pub async fn airlock_review_queue(
        &self,
        caller: &Caller,
        page: &super::PageRequest,
    ) -> AppResult<super::Paged<AirlockRequestView>> {
        caller.require_user()?;
        let workspaces = self
            .workspaces_where(caller.id(), WorkspaceRole::AirlockManager)
            .await?;
        let mut found = self
            .requests_across(&workspaces, page, |req| {
                req.status == RequestStatus::InReview
                    && req.created_by != caller.id()
                    && !req.reviews.iter().any(|r| r.reviewer == caller.id())
            })
            .await?;
        found.items.sort_by_key(|r| r.updated_at);
        let mut roles: std::collections::HashMap<String, Vec<WorkspaceRole>> = Default::default();
        let mut items = Vec::with_capacity(found.items.len());
        for req in found.items {
            if !roles.contains_key(&req.workspace_id) {
                let r = self.workspace_roles(caller.id(), &req.workspace_id).await?;
                roles.insert(req.workspace_id.clone(), r);
            }
            let here = roles.get(&req.workspace_id).cloned().unwrap_or_default();
            items.push(Self::view(req, caller, &here));
        }
        Ok(super::Paged {
            items,
            next: found.next,
        })
    }

    /// Hand the review's outcome to the waiting workflow.
    async fn complete_review_task(&self, req: &AirlockRequest, decision: &str) -> AppResult<()> {
        let token = self.review_task_token(req).await?;
        self.workflows
            .send_task_success(&token, &json!({"decision": decision}))
            .await
            .map_err(|e| Self::not_taken(req, e))
    }

    /// The same decision again, for a retry: a token the workflow no longer knows (unknown or
    /// spent) means an earlier attempt's decision reached it, and this one is already done.
    async fn resend_review_task(&self, req: &AirlockRequest, decision: &str) -> AppResult<()> {
        let token = self.review_task_token(req).await?;
        match self
            .workflows
            .send_task_success(&token, &json!({"decision": decision}))
            .await
        {
            Ok(()) => Ok(()),
            Err(PortError::NotFound(_) | PortError::Invalid(_)) => {
                tracing::info!(request_id = %req.id, "the workflow already took this decision");
                Ok(())
            }
            Err(e) => Err(Self::not_taken(req, e)),
        }
    }

    fn not_taken(req: &AirlockRequest, e: PortError) -> AppError {
        tracing::error!(request_id = %req.id, error = %e, "could not hand the review to the workflow");
        AppError::Unavailable(format!(
            "the decision is recorded but the workflow did not take it ({e}); send the same review again"
        ))
    }

    async fn review_task_token(&self, req: &AirlockRequest) -> AppResult<String> {
        self.table
            .get(&keys::airlock_token(&req.workspace_id, &req.id))
            .await?
            .and_then(|i| {
                i.body
                    .get("taskToken")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .ok_or_else(|| {
                AppError::Internal(format!(
                    "request `{}` has no review task to complete",
                    req.id
                ))
            })
    }

    /// Store the task token of a request's review step and open it for review (what the
    /// workflow's `airlockReview` message asks). Blocked or failed requests release the workflow
    /// at once so it discards the files.
    pub(crate) async fn open_airlock_review(
        &self,
        ws: &str,
        rid: &str,
        token: &str,
    ) -> AppResult<super::Applied> {
        let (mut req, version) = self.load_airlock_request(ws, rid).await?;
        match req.status {
            RequestStatus::Submitted => {
                let scan = req.scan.as_ref().ok_or_else(|| {
                    AppError::Unavailable(format!(
                        "request `{rid}` has no scan result yet; the review opens after it"
                    ))
                })?;
                let verdict = scan.verdict.clone();
                let event = if verdict == "clean" {
                    Event::ScanClean
                } else {
                    Event::ScanThreat
                };
                let to =
                    next_status(req.status, event, Actor::System).map_err(AppError::Conflict)?;
                Self::transition(&mut req, to, "system", self.clock.now(), String::new());
                let token_key = keys::airlock_token(ws, rid);
                let audit = AuditEntry::system("airlock.status")
                    .workspace(Some(ws))
                    .resource(rid)
                    .versioned(keys::airlock_request(ws, rid))
                    .detail("status", to.as_str())
                    .detail("scan", verdict);
                self.transact_audited(
                    &[
                        WriteOp::Put {
                            key: token_key,
                            index: None,
                            body: json!({"taskToken": token}),
                            condition: Condition::Absent,
                        },
                        WriteOp::Put {
                            key: keys::airlock_request(ws, rid),
                            index: None,
                            body: serde_json::to_value(&req)?,
                            condition: Condition::Version(version),
                        },
                    ],
                    &audit,
                )
                .await?;
                if to != RequestStatus::InReview {
                    self.complete_review_task(&req, "block").await?;
                }
                Ok(super::Applied::Applied)
            }
            RequestStatus::BlockingInProgress
            | RequestStatus::Failed
            | RequestStatus::Cancelled => {
                self.workflows
                    .send_task_success(token, &json!({"decision": "discard"}))
                    .await
                    .or_else(|e| match e {
                        crate::PortError::NotFound(_) | crate::PortError::Invalid(_) => Ok(()),
                        other => Err(other),
                    })?;
                Ok(super::Applied::Applied)
            }
            _ => Ok(super::Applied::Ignored),
        }
    }
}

fn decision_name(d: Decision) -> &'static str {
    match d {
        Decision::Approve => "approve",
        Decision::Reject => "reject",
    }
}
