//! Template registration and lookup.

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{keys, App, AppError, AppResult, Caller};
use crate::domain::schema::ParameterSchema;
use crate::domain::template::{validate_template_name, validate_version};
use crate::domain::{CustomAction, ResourceKind, Template};
use crate::ports::{Condition, Item, Query, WriteOp, INDEX_GSI1};

/// Body of `POST /api/<kind>-templates`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterTemplate {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: String,
    /// JSON Schema (object) of the parameters.
    #[schema(value_type = Object)]
    pub parameters: Value,
    #[serde(default)]
    pub custom_actions: Vec<CustomAction>,
    /// Required for user-resource templates: the workspace-service template they extend.
    #[serde(default)]
    pub parent_service_template: Option<String>,
    #[serde(default)]
    pub bundle: Option<String>,
    /// Make this the version new resources get (default true).
    #[serde(default)]
    pub current: Option<bool>,
}

impl App {
    pub async fn register_template(
        &self,
        caller: &Caller,
        kind: ResourceKind,
        req: RegisterTemplate,
    ) -> AppResult<Template> {
        caller.require_admin("register templates")?;
        validate_template_name(&req.name).map_err(AppError::validation)?;
        validate_version(&req.version).map_err(AppError::validation)?;
        ParameterSchema::compile(&req.parameters).map_err(AppError::validation)?;
        for action in &req.custom_actions {
            validate_template_name(&action.name)
                .map_err(|e| AppError::validation(format!("custom action: {e}")))?;
            if ["install", "upgrade", "uninstall"].contains(&action.name.as_str()) {
                return Err(AppError::validation(format!(
                    "custom action `{}` would shadow a standard action",
                    action.name
                )));
            }
        }
        match (kind, &req.parent_service_template) {
            (ResourceKind::UserResource, None) => {
                return Err(AppError::validation(
                    "user-resource templates need `parentServiceTemplate`",
                ))
            }
            (ResourceKind::UserResource, Some(parent)) => {
                let known = self
                    .current_template(ResourceKind::WorkspaceService, parent)
                    .await?
                    .is_some();
                if !known {
                    return Err(AppError::validation(format!(
                        "parentServiceTemplate `{parent}` is not a registered workspace-service template"
                    )));
                }
            }
            (_, Some(_)) => {
                return Err(AppError::validation(
                    "`parentServiceTemplate` applies to user-resource templates only",
                ))
            }
            (_, None) => {}
        }

        if let Some(bundle) = &req.bundle {
            let pinned = bundle.rsplit_once("@sha256:").is_some_and(|(name, hex)| {
                !name.is_empty()
                    && hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
            if !pinned {
                return Err(AppError::validation(format!(
                    "bundle `{bundle}` must be pinned by digest (…@sha256:<64 hex>)"
                )));
            }
        }
        let key = keys::template(kind, &req.name, &req.version);
        if self.table.get(&key).await?.is_some() {
            return Err(AppError::Conflict(format!(
                "template `{}` version {} is already registered",
                req.name, req.version
            )));
        }
        let make_current = req.current.unwrap_or(true);
        let template = Template {
            id: format!("{}:{}", req.name, req.version),
            title: req.title.unwrap_or_else(|| req.name.clone()),
            name: req.name,
            version: req.version,
            description: req.description,
            kind,
            parameters: req.parameters,
            custom_actions: req.custom_actions,
            parent_service_template: req.parent_service_template,
            bundle: req.bundle,
            current: make_current,
            registered_at: self.clock.now(),
            registered_by: caller.id().to_string(),
        };

        let mut ops = vec![WriteOp::Put {
            key: keys::template(kind, &template.name, &template.version),
            index: Some(keys::template_index(
                kind,
                &template.name,
                &template.version,
            )),
            body: serde_json::to_value(&template)?,
            condition: Condition::Absent,
        }];
        if make_current {
            // Demote the previous current version in the same transaction, so there is never a
            // moment with two (or zero) current versions.
            for item in self.template_versions_items(kind, &template.name).await? {
                let mut old: Template = serde_json::from_value(item.body.clone())?;
                if old.current && item.key != key {
                    old.current = false;
                    ops.push(WriteOp::Put {
                        key: item.key,
                        index: item.index,
                        body: serde_json::to_value(&old)?,
                        condition: Condition::Version(item.version),
                    });
                }
            }
        }
        match self.table.transact(&ops).await {
            Ok(_) => Ok(template),
            Err(crate::ports::PortError::ConditionFailed(_)) => {
                if self.table.get(&key).await?.is_some() {
                    Err(AppError::Conflict(format!(
                        "template `{}` version {} is already registered",
                        template.name, template.version
                    )))
                } else {
                    Err(AppError::Conflict(
                        "another version was registered at the same time; retry".into(),
                    ))
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn template_versions_items(
        &self,
        kind: ResourceKind,
        name: &str,
    ) -> AppResult<Vec<Item>> {
        self.query_all(Query {
            pk: keys::template_versions_pk(kind, name),
            sk_prefix: Some("V#".into()),
            ..Default::default()
        })
        .await
    }

    /// All versions of a template, oldest registration first.
    pub async fn template_versions(
        &self,
        caller: &Caller,
        kind: ResourceKind,
        name: &str,
    ) -> AppResult<Vec<Template>> {
        caller.require_user()?;
        let mut out = Vec::new();
        for item in self.template_versions_items(kind, name).await? {
            out.push(serde_json::from_value::<Template>(item.body)?);
        }
        if out.is_empty() {
            return Err(AppError::NotFound(format!("template `{name}` not found")));
        }
        out.sort_by_key(|t| t.registered_at);
        Ok(out)
    }

    pub(super) async fn current_template(
        &self,
        kind: ResourceKind,
        name: &str,
    ) -> AppResult<Option<Template>> {
        for item in self.template_versions_items(kind, name).await? {
            let t: Template = serde_json::from_value(item.body)?;
            if t.current {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    pub(super) async fn template_version(
        &self,
        kind: ResourceKind,
        name: &str,
        version: &str,
    ) -> AppResult<Option<Template>> {
        match self.table.get(&keys::template(kind, name, version)).await? {
            Some(item) => Ok(Some(serde_json::from_value(item.body)?)),
            None => Ok(None),
        }
    }

    /// The current version of each template of a kind.
    pub async fn list_templates(
        &self,
        caller: &Caller,
        kind: ResourceKind,
    ) -> AppResult<Vec<Template>> {
        caller.require_user()?;
        let items = self
            .query_all(Query {
                index: Some(INDEX_GSI1.into()),
                pk: keys::templates_index_pk(kind),
                ..Default::default()
            })
            .await?;
        let mut out = Vec::new();
        for item in items {
            let t: Template = serde_json::from_value(item.body)?;
            if t.current {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// One template: the current version, or the given one.
    pub async fn get_template(
        &self,
        caller: &Caller,
        kind: ResourceKind,
        name: &str,
        version: Option<&str>,
    ) -> AppResult<Template> {
        caller.require_user()?;
        let found = match version {
            Some(v) => self.template_version(kind, name, v).await?,
            None => self.current_template(kind, name).await?,
        };
        found.ok_or_else(|| match version {
            Some(v) => AppError::NotFound(format!("template `{name}` version {v} not found")),
            None => AppError::NotFound(format!("template `{name}` not found")),
        })
    }

    /// Every item of a query, across pages.
    pub(super) async fn query_all(&self, mut query: Query) -> AppResult<Vec<Item>> {
        let mut out = Vec::new();
        loop {
            let page = self.table.query(&query).await?;
            out.extend(page.items);
            match page.next {
                Some(next) => query.cursor = Some(next),
                None => return Ok(out),
            }
        }
    }
}
