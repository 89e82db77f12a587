//! Applying runner status messages. Every message is applied with
//! conditional writes; a duplicate, or one older than what the step has seen, changes nothing,
//! so the consumer can be retried and messages may arrive in any order.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{keys, App, AppError, AppResult, AuditEntry};
use crate::domain::operation::step_status;
use crate::domain::{DeploymentStatus, Operation, StepOutcome};
use crate::ports::{Condition, PortError, WriteOp};

/// What a runner sends to the status queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusMessage {
    pub operation_id: String,
    pub step_id: String,
    /// The resource the step acts on.
    pub resource_id: String,
    /// The resource the operation belongs to, when the step acts on another one (a pipeline
    /// step on a child); absent means `resource_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_resource_id: Option<String>,
    pub status: StepOutcome,
    #[serde(default)]
    pub message: String,
    /// Outputs of the step, merged into the resource's properties on success.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub outputs: Map<String, Value>,
    /// Sensitive outputs of the step: kept with the resource's sensitive parameters, never in
    /// its properties (so never returned by the API).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub sensitive_outputs: Map<String, Value>,
    /// Strictly increasing per step across all attempts (runners use a timestamp-based counter).
    pub sequence: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The message moved the step (and perhaps the operation and resource) forward.
    Applied,
    /// Already applied, or older than what the step has seen: nothing changed.
    Ignored,
}

/// The sequence of a report that ends a step for good (the largest integer JSON numbers
/// carry exactly; the state machine's failure report uses it too).
pub const FINAL_SEQUENCE: u64 = 9_007_199_254_740_991;

/// How many times a lost race is retried before giving up (the queue redelivers after that).
const MAX_ATTEMPTS: usize = 8;

impl App {
    pub async fn apply_status(&self, msg: &StatusMessage) -> AppResult<Applied> {
        for _ in 0..MAX_ATTEMPTS {
            match self.try_apply_status(msg).await {
                Err(AppError::PreconditionFailed(_)) => continue,
                other => return other,
            }
        }
        Err(AppError::Unavailable(format!(
            "operation `{}` kept changing under us; will be retried",
            msg.operation_id
        )))
    }

    /// The workflow of an operation ended without its steps all reporting an end (it failed,
    /// timed out, was aborted, or the engine stopped under it): fail the first unfinished step
    /// with `message`, so the operation cannot stay running forever. Nothing changes when every
    /// step already ended.
    pub async fn fail_unfinished_operation(
        &self,
        resource_id: &str,
        operation_id: &str,
        message: &str,
    ) -> AppResult<Applied> {
        let item = self
            .table
            .get(&keys::operation(resource_id, operation_id))
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "operation `{operation_id}` of resource `{resource_id}` does not exist"
                ))
            })?;
        let op: Operation = serde_json::from_value(item.body)?;
        if op.steps.iter().any(|s| is_failed(s.status)) {
            return Ok(Applied::Ignored);
        }
        let Some(step) = op.steps.iter().find(|s| !s.status.is_final()) else {
            return Ok(Applied::Ignored);
        };
        self.apply_status(&StatusMessage {
            operation_id: op.id.clone(),
            step_id: step.id.clone(),
            resource_id: step.resource_id.clone(),
            operation_resource_id: Some(op.resource_id.clone()),
            status: StepOutcome::Failed,
            message: message.to_string(),
            outputs: Map::new(),
            sensitive_outputs: Map::new(),
            sequence: FINAL_SEQUENCE,
        })
        .await
    }

    /// The write that adds `values` to the resource's sensitive values (conditional on what
    /// was read, like every write of the transaction).
    async fn merge_secrets(
        &self,
        resource_id: &str,
        values: &Map<String, Value>,
    ) -> AppResult<WriteOp> {
        let key = keys::resource_secrets(resource_id);
        let (mut body, condition) = match self.table.get(&key).await? {
            Some(item) => (
                item.body.as_object().cloned().unwrap_or_default(),
                Condition::Version(item.version),
            ),
            None => (Map::new(), Condition::Absent),
        };
        body.extend(values.clone());
        Ok(WriteOp::Put {
            key,
            index: None,
            body: Value::Object(body),
            condition,
        })
    }

    async fn try_apply_status(&self, msg: &StatusMessage) -> AppResult<Applied> {
        let op_resource = msg
            .operation_resource_id
            .as_deref()
            .unwrap_or(&msg.resource_id);
        let op_key = keys::operation(op_resource, &msg.operation_id);
        let op_item = self.table.get(&op_key).await?.ok_or_else(|| {
            AppError::NotFound(format!(
                "operation `{}` of resource `{op_resource}` does not exist",
                msg.operation_id
            ))
        })?;
        let mut op: Operation = serde_json::from_value(op_item.body.clone())?;
        let Some(step_index) = op.steps.iter().position(|s| s.id == msg.step_id) else {
            return Err(AppError::validation(format!(
                "operation `{}` has no step `{}`",
                op.id, msg.step_id
            )));
        };
        let step = &op.steps[step_index];
        if msg.sequence <= step.sequence {
            return Ok(Applied::Ignored);
        }
        // The runner's own failure report says why; the workflow's later report of the same
        // failure (task exited non-zero) must not replace that explanation.
        if msg.status == StepOutcome::Failed && is_failed(step.status) {
            return Ok(Applied::Ignored);
        }
        if step.resource_id != msg.resource_id {
            return Err(AppError::validation(format!(
                "step `{}` acts on `{}`, not on `{}`",
                step.id, step.resource_id, msg.resource_id
            )));
        }
        let now = self.clock.now();
        let status = step_status(&step.action, msg.status);
        {
            let step = &mut op.steps[step_index];
            step.status = status;
            step.message = msg.message.clone();
            step.sequence = msg.sequence;
            step.updated_at = now;
        }
        op.status = operation_status(&op);
        op.message = if msg.message.is_empty() {
            op.message.clone()
        } else {
            msg.message.clone()
        };
        op.updated_at = now;

        // Ended: off its creator's unfinished operations, once (the flag goes with it).
        let close = if op.status.is_final() {
            let close = Self::close_operation(&op);
            op.listed_open = false;
            close
        } else {
            None
        };
        let mut ops = vec![WriteOp::Put {
            key: op_item.key.clone(),
            index: op_item.index.clone(),
            body: serde_json::to_value(&op)?,
            condition: Condition::Version(op_item.version),
        }];
        ops.extend(close);

        // The step's resource follows its step; the operation's own resource shows
        // `pipeline_running` while a multi-step operation runs, then the operation's end.
        let main_status = if op.steps.len() > 1 {
            if op.status.is_final() {
                op.status
            } else {
                DeploymentStatus::PipelineRunning
            }
        } else {
            status
        };
        // An operation that ends failed is told to its resource's owner.
        let mut failed_owner: Option<(String, crate::domain::Resource)> = None;
        // The resource the change's audit event is about (the operation's own, when changed).
        let mut changed_main: Option<crate::domain::Resource> = None;
        let mut targets = vec![(msg.resource_id.clone(), true)];
        if msg.resource_id != op.resource_id {
            targets.push((op.resource_id.clone(), false));
        }
        for (resource_id, is_step_resource) in targets {
            let res_key = keys::resource(&resource_id);
            let Some(res_item) = self.table.get(&res_key).await? else {
                continue;
            };
            let mut resource = super::resources::decode_resource(&res_item)?;
            if resource_id == op.resource_id && op.status.is_final() && is_failed(op.status) {
                failed_owner = Some((resource.owner_id.clone(), resource.clone()));
            }
            let before = resource.clone();
            let new_status = if resource_id == op.resource_id {
                main_status
            } else {
                status
            };
            // A pipeline's main resource is only moved once its turn or the end comes.
            if is_step_resource
                || op.status.is_final()
                || new_status == DeploymentStatus::PipelineRunning
            {
                resource.deployment_status = new_status;
            }
            if is_step_resource && msg.status == StepOutcome::Succeeded {
                for (k, v) in &msg.outputs {
                    resource.properties.insert(k.clone(), v.clone());
                }
                if !msg.sensitive_outputs.is_empty() {
                    ops.push(
                        self.merge_secrets(&resource_id, &msg.sensitive_outputs)
                            .await?,
                    );
                }
            }
            if resource.deployment_status == DeploymentStatus::Deleted {
                resource.is_enabled = false;
            }
            if resource != before {
                if changed_main.is_none() || resource_id == op.resource_id {
                    changed_main = Some(resource.clone());
                }
                resource.updated_at = now;
                let mut snapshot = before.clone();
                snapshot.etag = crate::domain::resource::etag_for_version(res_item.version);
                ops.push(WriteOp::Put {
                    key: res_key,
                    index: res_item.index.clone(),
                    body: serde_json::to_value(&resource)?,
                    condition: Condition::Version(res_item.version),
                });
                ops.push(WriteOp::Put {
                    key: keys::resource_history(&resource.id, res_item.version),
                    index: None,
                    body: serde_json::to_value(&snapshot)?,
                    condition: Condition::Absent,
                });
            }
        }
        let notify = failed_owner.is_some();
        if let Some((owner, resource)) = &failed_owner {
            ops.push(self.failed_operation_notification(owner, resource, &op)?);
        }
        // Every version of a resource is accounted for in the audit trail, the ones the
        // control plane writes as well as the callers'.
        let written = match changed_main {
            Some(main) => {
                let audit = AuditEntry::system(format!("{}.status", main.kind.as_str()))
                    .on_resource(&main)
                    .detail("operation", op.id.as_str())
                    .detail("step", msg.step_id.as_str())
                    .detail("status", serde_json::to_value(status)?);
                self.transact_audited(&ops, &audit).await
            }
            None => self.table.transact(&ops).await,
        };
        match written {
            Ok(_) => {
                if notify {
                    self.nudge_delivery().await;
                }
                Ok(Applied::Applied)
            }
            Err(PortError::ConditionFailed(m)) => Err(AppError::PreconditionFailed(m)),
            Err(e) => Err(e.into()),
        }
    }

    /// The notification that `op` on `resource` failed, for its owner.
    fn failed_operation_notification(
        &self,
        owner: &str,
        resource: &crate::domain::Resource,
        op: &Operation,
    ) -> AppResult<WriteOp> {
        use crate::domain::ResourceKind as K;
        let name = resource
            .properties
            .get("display_name")
            .and_then(|v| v.as_str())
            .unwrap_or(&resource.id)
            .to_string();
        let link = match (
            resource.kind,
            &resource.workspace_id,
            &resource.parent_service_id,
        ) {
            (K::Workspace, _, _) => format!("#/workspaces/{}/operations/{}", resource.id, op.id),
            (K::SharedService, _, _) => format!("#/shared-services/{}", resource.id),
            (K::WorkspaceService, Some(ws), _) => {
                format!("#/workspaces/{ws}/services/{}", resource.id)
            }
            (K::UserResource, Some(ws), Some(svc)) => {
                format!("#/workspaces/{ws}/services/{svc}/resources/{}", resource.id)
            }
            _ => "#/operations".to_string(),
        };
        let kind = resource.kind.as_str().replace('_', " ");
        self.notification_op(super::NewNotification {
            kind: crate::domain::notification::NotificationKind::OperationFailed,
            audience: crate::domain::notification::Audience::Principal {
                id: owner.to_string(),
            },
            subject: format!("The {} of {kind} {name} failed", op.action),
            text: format!(
                "The {} of {kind} \"{name}\" ({}) failed. The operation's page says why.",
                op.action, resource.id
            ),
            link,
            workspace_id: if resource.kind == K::Workspace {
                Some(resource.id.clone())
            } else {
                resource.workspace_id.clone()
            },
            resource_id: Some(resource.id.clone()),
            caused_by: None,
        })
    }
}

/// The operation's status from its steps: failed if any failed, done when all are done,
/// otherwise running (`pipeline_running` when it has several steps).
fn is_failed(status: DeploymentStatus) -> bool {
    matches!(
        status,
        DeploymentStatus::DeploymentFailed
            | DeploymentStatus::UpdatingFailed
            | DeploymentStatus::DeletingFailed
            | DeploymentStatus::ActionFailed
    )
}

fn operation_status(op: &Operation) -> DeploymentStatus {
    if let Some(failed) = op.steps.iter().find(|s| is_failed(s.status)) {
        return failed.status;
    }
    if op.steps.iter().all(|s| s.status.is_final()) {
        // All steps done: the operation ends in the main action's success status.
        return op
            .steps
            .iter()
            .find(|s| s.resource_id == op.resource_id && s.action == op.action)
            .or(op.steps.last())
            .map(|s| s.status)
            .unwrap_or(op.status);
    }
    if op.steps.len() > 1 {
        DeploymentStatus::PipelineRunning
    } else {
        op.steps.first().map(|s| s.status).unwrap_or(op.status)
    }
}
