//! Reading operations.

use super::authz::Intent;
use super::{keys, App, AppError, AppResult, Caller, ResourceScope};
use crate::domain::Operation;
use crate::ports::{Query, INDEX_GSI1};

impl App {
    /// A resource's operations, newest first.
    pub async fn list_operations(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        resource_id: &str,
    ) -> AppResult<Vec<Operation>> {
        self.load_resource(caller, scope, resource_id, Intent::Read)
            .await?;
        self.query_all(Query {
            index: Some(INDEX_GSI1.into()),
            pk: keys::operations_index_pk(resource_id),
            descending: true,
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|i| Ok(serde_json::from_value(i.body)?))
        .collect()
    }

    pub async fn get_operation(
        &self,
        caller: &Caller,
        scope: &ResourceScope,
        resource_id: &str,
        operation_id: &str,
    ) -> AppResult<Operation> {
        self.load_resource(caller, scope, resource_id, Intent::Read)
            .await?;
        let item = self
            .table
            .get(&keys::operation(resource_id, operation_id))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("operation `{operation_id}` not found")))?;
        Ok(serde_json::from_value(item.body)?)
    }
}
