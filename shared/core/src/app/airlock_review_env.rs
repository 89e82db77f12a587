//! Review environments: a user resource made for one airlock manager to inspect one request's
//! in-review files inside the TRE (Azure TRE's `review-user-resource`), instead of downloading
//! them. The request's workspace says where they are made (`airlock_review_config`); the
//! control plane alone marks a resource as one (`airlockReview`), so no caller can make an
//! environment that reads another request's files. When the request leaves review, every
//! environment of it is uninstalled; a sweep retries until each is gone, so none outlives its
//! request across restarts or failed deletions.

use serde_json::{json, Map, Value};

use super::airlock::AirlockRequestView;
use super::resources::decode_resource;
use super::{keys, App, AppError, AppResult, Caller, ResourceScope};
use crate::domain::airlock::{AirlockRequest, RequestStatus, ReviewUserResource};
use crate::domain::airlock_review::review_place;
use crate::domain::operation::actions;
use crate::domain::{
    AirlockReviewOf, DeploymentStatus, Operation, Principal, Resource, ResourceKind, WorkspaceRole,
};
use crate::ports::{Condition, PortError, Query, WriteOp, INDEX_GSI1};

/// A reviewer's environment: the resource, its latest operation and (when just asked for) the
/// request that now names it.
#[derive(Clone, Debug)]
pub struct ReviewEnvironment {
    pub request: Option<AirlockRequestView>,
    pub resource: Resource,
    pub operation: Option<Operation>,
    /// True when this call made it (the API answers 202), false when it already existed.
    pub created: bool,
}

/// Who removes environments whose request left review (recorded on their operations).
const SWEEPER_ID: &str = "tre-airlock";

fn sweeper() -> Caller {
    Caller::new(Principal {
        id: SWEEPER_ID.into(),
        name: "TRE airlock (the review ended)".into(),
        email: None,
        roles: Vec::new(),
    })
}

/// What a sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Environments whose request is still in review.
    pub kept: usize,
    /// Uninstalls started now.
    pub removing: usize,
    /// Environments found gone, and forgotten.
    pub gone: usize,
    /// Environments that could not be handled this time (tried again at the next sweep).
    pub failed: usize,
}

impl App {
    /// May the caller have a review environment for this request? An airlock manager of its
    /// workspace who did not create it, while it is in review.
    async fn reviewer_of(
        &self,
        caller: &Caller,
        ws: &str,
        rid: &str,
    ) -> AppResult<(Vec<WorkspaceRole>, AirlockRequest, u64)> {
        let roles = self.airlock_roles(caller, ws).await?;
        let (req, version) = self.load_airlock_request(ws, rid).await?;
        if !roles.contains(&WorkspaceRole::AirlockManager) {
            return Err(AppError::Forbidden(
                "only an airlock manager of the workspace may have a review environment".into(),
            ));
        }
        if req.created_by == caller.id() {
            return Err(AppError::Forbidden(
                "the requester may not review their own request".into(),
            ));
        }
        Ok((roles, req, version))
    }

    /// `POST .../requests/{rid}/review-user-resource`: the caller's review environment for the
    /// request, made now unless they have one already.
    pub async fn create_review_environment(
        &self,
        caller: &Caller,
        ws: &str,
        rid: &str,
    ) -> AppResult<ReviewEnvironment> {
        let (roles, req, version) = self.reviewer_of(caller, ws, rid).await?;
        if let Some(existing) = self.existing_environment(caller, &req).await? {
            if existing.resource.deployment_status != DeploymentStatus::DeploymentFailed {
                return Ok(ReviewEnvironment {
                    request: Some(Self::view(req, caller, &roles)),
                    ..existing
                });
            }
            // One that failed to install is replaced; the sweep removes it if this cannot.
            if let Err(e) = self.remove_review_environment(&existing.resource.id).await {
                tracing::warn!(resource_id = %existing.resource.id, error = %e, "a failed review environment is left to the sweep");
            }
        }
        if req.status != RequestStatus::InReview {
            return Err(AppError::validation(format!(
                "a review environment is only made for a request in review; this one is {}",
                req.status.as_str()
            )));
        }
        let workspace = self
            .stored_resource(ws)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("workspace `{ws}` not found")))?;
        let place = review_place(ws, &workspace.0.properties, req.kind)
            .map_err(|e| unprocessable(ws, e))?
            .ok_or_else(|| {
                unprocessable(
                    ws,
                    format!(
                        "this workspace has no review environment for {} requests (its `airlock_review_config` has no `{}`): review the files through their links",
                        req.kind.as_str(),
                        req.kind.as_str()
                    ),
                )
            })?;
        let service = self
            .stored_resource(&place.service_id)
            .await?
            .map(|(r, _)| r)
            .filter(|s| {
                s.kind == ResourceKind::WorkspaceService
                    && s.workspace_id.as_deref() == Some(place.workspace_id.as_str())
                    && s.deployment_status != DeploymentStatus::Deleted
            })
            .ok_or_else(|| {
                unprocessable(
                    ws,
                    format!(
                        "the review service `{}` of workspace `{}` does not exist",
                        place.service_id, place.workspace_id
                    ),
                )
            })?;
        if !service.is_enabled || !service.deployment_status.is_deployed() {
            return Err(AppError::Conflict(format!(
                "the review service `{}` is not deployed and enabled; ask a TRE administrator",
                service.id
            )));
        }
        let template = self
            .current_template(ResourceKind::UserResource, &place.user_resource_template)
            .await?
            .filter(|t| t.parent_service_template.as_deref() == Some(service.template_name.as_str()))
            .ok_or_else(|| {
                unprocessable(
                    ws,
                    format!(
                        "`{}` is not a user-resource template of the review service's template `{}`",
                        place.user_resource_template, service.template_name
                    ),
                )
            })?;
        let scope = ResourceScope::UserResources {
            workspace_id: place.workspace_id.clone(),
            service_id: place.service_id.clone(),
        };
        let mut properties = Map::new();
        let title: String = req.title.chars().take(60).collect();
        properties.insert(
            "display_name".into(),
            Value::String(format!("Review: {title}")),
        );
        properties.insert(
            "description".into(),
            Value::String(format!(
                "Airlock review of {} request {} for {}",
                req.kind.as_str(),
                req.id,
                caller.principal.name
            )),
        );
        // Only keep what the template declares: the schema refuses anything else.
        let declared = template
            .parameters
            .get("properties")
            .and_then(Value::as_object);
        properties.retain(|k, _| declared.is_some_and(|d| d.contains_key(k)));

        let resource_id = self.ids.new_id();
        let mut updated = req.clone();
        updated.review_user_resources.insert(
            caller.id().to_string(),
            ReviewUserResource {
                workspace_id: place.workspace_id.clone(),
                workspace_service_id: place.service_id.clone(),
                user_resource_id: resource_id.clone(),
            },
        );
        updated.updated_at = self.clock.now();
        let extra = vec![
            // The request names the environment only if it is still as read: two calls at
            // once make one environment.
            WriteOp::Put {
                key: keys::airlock_request(ws, rid),
                index: None,
                body: serde_json::to_value(&updated)?,
                condition: Condition::Version(version),
            },
            WriteOp::Put {
                key: keys::review_environment(&resource_id),
                index: None,
                body: json!({
                    "workspaceId": ws, "requestId": rid,
                    "reviewWorkspaceId": place.workspace_id, "serviceId": place.service_id,
                    "userResourceId": resource_id, "reviewer": caller.id(),
                }),
                condition: Condition::Absent,
            },
        ];
        let review = AirlockReviewOf {
            workspace_id: ws.to_string(),
            request_id: rid.to_string(),
            request_type: req.kind,
        };
        let made = self
            .insert_resource(
                caller,
                &scope,
                &template,
                properties,
                Some(review),
                resource_id,
                extra,
                None,
            )
            .await;
        let (resource, operation) = match made {
            Ok(made) => made,
            Err(AppError::PreconditionFailed(_)) | Err(AppError::Conflict(_)) => {
                // Another call made one first: answer with it.
                let (req, _) = self.load_airlock_request(ws, rid).await?;
                return match self.existing_environment(caller, &req).await? {
                    Some(existing) => Ok(ReviewEnvironment {
                        request: Some(Self::view(req, caller, &roles)),
                        ..existing
                    }),
                    None => Err(AppError::Conflict(
                        "the request changed while the review environment was being made; try again".into(),
                    )),
                };
            }
            Err(e) => return Err(e),
        };
        tracing::info!(request_id = %rid, resource_id = %resource.id, "review environment requested");
        updated.version = version + 1;
        Ok(ReviewEnvironment {
            request: Some(Self::view(updated, caller, &roles)),
            resource,
            operation: Some(operation),
            created: true,
        })
    }

    /// `GET .../requests/{rid}/review-user-resource`: the caller's environment for the request.
    pub async fn review_environment(
        &self,
        caller: &Caller,
        ws: &str,
        rid: &str,
    ) -> AppResult<ReviewEnvironment> {
        let (_, req, _) = self.reviewer_of(caller, ws, rid).await?;
        self.existing_environment(caller, &req)
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "you have no review environment for request `{rid}`"
                ))
            })
    }

    /// The caller's environment named by the request, unless it is gone.
    async fn existing_environment(
        &self,
        caller: &Caller,
        req: &AirlockRequest,
    ) -> AppResult<Option<ReviewEnvironment>> {
        let Some(entry) = req.review_user_resources.get(caller.id()) else {
            return Ok(None);
        };
        let Some((resource, _)) = self.stored_resource(&entry.user_resource_id).await? else {
            return Ok(None);
        };
        if resource.deployment_status == DeploymentStatus::Deleted {
            return Ok(None);
        }
        let operation = self.latest_operation(&resource.id).await?;
        Ok(Some(ReviewEnvironment {
            request: None,
            resource,
            operation,
            created: false,
        }))
    }

    async fn stored_resource(&self, id: &str) -> AppResult<Option<(Resource, u64)>> {
        match self.table.get(&keys::resource(id)).await? {
            Some(item) => Ok(Some((decode_resource(&item)?, item.version))),
            None => Ok(None),
        }
    }

    async fn latest_operation(&self, resource_id: &str) -> AppResult<Option<Operation>> {
        let page = self
            .table
            .query(&Query {
                index: Some(INDEX_GSI1.into()),
                pk: keys::operations_index_pk(resource_id),
                descending: true,
                limit: Some(1),
                ..Default::default()
            })
            .await?;
        page.items
            .into_iter()
            .next()
            .map(|i| serde_json::from_value(i.body).map_err(AppError::from))
            .transpose()
    }

    /// Remove the environments of a request that left review (best effort: the sweep retries
    /// what fails here).
    pub(super) async fn end_review_environments(&self, req: &AirlockRequest) {
        if req.status == RequestStatus::InReview {
            return;
        }
        for entry in req.review_user_resources.values() {
            if let Err(e) = self
                .remove_review_environment(&entry.user_resource_id)
                .await
            {
                tracing::warn!(request_id = %req.id, resource_id = %entry.user_resource_id, error = %e, "a review environment could not be removed yet; the sweep retries");
            }
        }
    }

    /// Start uninstalling a review environment unless it is gone or busy. Returns whether it
    /// is gone.
    async fn remove_review_environment(&self, id: &str) -> AppResult<bool> {
        let Some((resource, version)) = self.stored_resource(id).await? else {
            return Ok(true);
        };
        match resource.deployment_status {
            DeploymentStatus::Deleted => return Ok(true),
            // An operation in flight (its install, or an uninstall already started) ends first.
            s if s.is_in_progress() => return Ok(false),
            _ => {}
        }
        let scope = ResourceScope::of(&resource).ok_or_else(|| {
            AppError::Internal(format!("review environment `{id}` has no parents"))
        })?;
        let template = self
            .template_version(
                resource.kind,
                &resource.template_name,
                &resource.template_version,
            )
            .await?
            .ok_or_else(|| {
                AppError::Internal(format!(
                    "the template of review environment `{id}` is missing"
                ))
            })?;
        let caller = sweeper();
        let operation = self.new_operation(&caller, &scope, &resource, actions::UNINSTALL);
        let mut disabled = resource;
        disabled.is_enabled = false;
        self.change_with_operation(
            &caller,
            disabled,
            version,
            template,
            operation,
            Vec::new(),
            &[],
            None,
        )
        .await?;
        tracing::info!(resource_id = %id, "review environment being removed: its request left review");
        Ok(false)
    }

    /// Remove every review environment whose request is no longer in review, and forget those
    /// that are gone. Run periodically (an EventBridge schedule in AWS, a timer in `tre dev`)
    /// and at start, so a restart or a failed uninstall never leaves one behind.
    pub async fn sweep_review_environments(&self) -> AppResult<Swept> {
        let items = self
            .query_all(Query {
                pk: keys::REVIEW_ENVIRONMENTS_PK.into(),
                ..Default::default()
            })
            .await?;
        let mut swept = Swept::default();
        for item in items {
            let text = |k: &str| item.body.get(k).and_then(Value::as_str).unwrap_or_default();
            let (ws, rid, id) = (
                text("workspaceId"),
                text("requestId"),
                text("userResourceId"),
            );
            // Kept while its request is in review and still names it (a replaced one goes).
            let in_review = match self.load_airlock_request(ws, rid).await {
                Ok((req, _)) => {
                    req.status == RequestStatus::InReview
                        && req
                            .review_user_resources
                            .values()
                            .any(|e| e.user_resource_id == id)
                }
                Err(AppError::NotFound(_)) => false,
                Err(e) => {
                    tracing::warn!(request_id = %rid, error = %e, "sweep: the request could not be read");
                    swept.failed += 1;
                    continue;
                }
            };
            if in_review {
                swept.kept += 1;
                continue;
            }
            match self.remove_review_environment(id).await {
                Ok(true) => {
                    match self
                        .table
                        .delete(&item.key, Condition::Version(item.version))
                        .await
                    {
                        Ok(()) | Err(PortError::ConditionFailed(_)) => swept.gone += 1,
                        Err(e) => {
                            tracing::warn!(resource_id = %id, error = %e, "sweep: could not forget a removed environment");
                            swept.failed += 1;
                        }
                    }
                }
                Ok(false) => swept.removing += 1,
                Err(e) => {
                    tracing::warn!(resource_id = %id, error = %e, "sweep: a review environment could not be removed yet");
                    swept.failed += 1;
                }
            }
        }
        if swept != Swept::default() {
            tracing::info!(
                kept = swept.kept,
                removing = swept.removing,
                gone = swept.gone,
                failed = swept.failed,
                "review environments swept"
            );
        }
        Ok(swept)
    }
}

fn unprocessable(ws: &str, detail: String) -> AppError {
    AppError::Unprocessable(format!(
        "workspace `{ws}`'s airlock review configuration: {detail}; ask a TRE administrator to check it"
    ))
}
