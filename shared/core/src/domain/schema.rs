//! Template parameter schemas: JSON Schema validation (by the `jsonschema` crate), defaults, and
//! the `updateable` / `sensitive` markers our templates put on properties.

use serde_json::{Map, Value};

/// A compiled parameters schema.
pub struct ParameterSchema {
    schema: Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for ParameterSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParameterSchema")
            .field("schema", &self.schema)
            .finish()
    }
}

impl ParameterSchema {
    /// Compile a template's parameters schema. It must be an object schema (`"type": "object"`)
    /// whose `properties` is an object; anything else is a template author's mistake.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        let obj = schema
            .as_object()
            .ok_or_else(|| "parameters schema must be a JSON object".to_string())?;
        if obj.get("type").and_then(Value::as_str) != Some("object") {
            return Err("parameters schema must have \"type\": \"object\"".into());
        }
        if let Some(props) = obj.get("properties") {
            if !props.is_object() {
                return Err("parameters schema `properties` must be an object".into());
            }
        }
        let validator = jsonschema::validator_for(schema)
            .map_err(|e| format!("parameters schema is not a valid JSON Schema: {e}"))?;
        Ok(Self {
            schema: schema.clone(),
            validator,
        })
    }

    fn properties(&self) -> Option<&Map<String, Value>> {
        self.schema.get("properties").and_then(Value::as_object)
    }

    /// A property's declaration: top-level, else in a conditional branch
    /// (`allOf[*].then|else.properties`, as Azure TRE templates declare optional groups).
    fn property(&self, name: &str) -> Option<&Value> {
        self.properties().and_then(|p| p.get(name)).or_else(|| {
            self.schema
                .get("allOf")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|c| [c.get("then"), c.get("else")])
                .flatten()
                .filter_map(|branch| branch.get("properties").and_then(Value::as_object))
                .find_map(|p| p.get(name))
        })
    }

    fn flag(&self, name: &str, flag: &str) -> bool {
        self.property(name)
            .and_then(|p| p.get(flag))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn is_updateable(&self, name: &str) -> bool {
        self.flag(name, "updateable")
    }

    pub fn is_sensitive(&self, name: &str) -> bool {
        self.flag(name, "sensitive")
    }

    pub fn is_declared(&self, name: &str) -> bool {
        self.property(name).is_some()
    }

    /// Fill in `default` values for top-level properties the caller left out.
    pub fn apply_defaults(&self, params: &mut Map<String, Value>) {
        if let Some(props) = self.properties() {
            for (name, prop) in props {
                if let Some(default) = prop.get("default") {
                    params
                        .entry(name.clone())
                        .or_insert_with(|| default.clone());
                }
            }
        }
    }

    /// Validate; on failure every violation, each with the path of the offending value.
    pub fn validate(&self, params: &Map<String, Value>) -> Result<(), Vec<String>> {
        let instance = Value::Object(params.clone());
        let errors: Vec<String> = self
            .validator
            .iter_errors(&instance)
            .map(|e| {
                let path = e.instance_path.to_string();
                if path.is_empty() {
                    e.to_string()
                } else {
                    format!("{path}: {e}")
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Split parameters into (stored with the resource, kept apart as secrets).
    pub fn split_sensitive(
        &self,
        params: Map<String, Value>,
    ) -> (Map<String, Value>, Map<String, Value>) {
        params
            .into_iter()
            .partition(|(name, _)| !self.is_sensitive(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> ParameterSchema {
        ParameterSchema::compile(&json!({
            "type": "object",
            "required": ["display_name"],
            "properties": {
                "display_name": {"type": "string", "minLength": 1, "updateable": true},
                "size": {"type": "integer", "default": 10, "minimum": 1},
                "password": {"type": "string", "sensitive": true}
            },
            "additionalProperties": false
        }))
        .expect("schema compiles")
    }

    #[test]
    fn defaults_validation_and_markers() {
        let s = schema();
        let mut p = Map::new();
        p.insert("display_name".into(), json!("ws"));
        s.apply_defaults(&mut p);
        assert_eq!(p.get("size"), Some(&json!(10)));
        assert!(s.validate(&p).is_ok());
        p.insert("size".into(), json!("big"));
        let errs = s.validate(&p).unwrap_err();
        assert!(errs[0].contains("/size"), "{errs:?}");
        assert!(s.is_updateable("display_name") && !s.is_updateable("size"));
        p.insert("password".into(), json!("x"));
        let (public, secret) = s.split_sensitive(p);
        assert!(!public.contains_key("password") && secret.contains_key("password"));
    }

    /// Templates registered in Azure TRE's shape close their schema with
    /// `unevaluatedProperties: false`; properties of a conditional branch still count.
    #[test]
    fn conditional_properties_are_declared_and_evaluated() {
        let s = ParameterSchema::compile(&json!({
            "type": "object",
            "properties": {"display_name": {"type": "string"}, "backup": {"type": "boolean"}},
            "allOf": [{
                "if": {"properties": {"backup": {"const": true}}, "required": ["backup"]},
                "then": {"properties": {"vault": {"type": "string", "updateable": true}}}
            }],
            "unevaluatedProperties": false
        }))
        .expect("schema compiles");
        let params = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(s
            .validate(&params(json!({"backup": true, "vault": "v"})))
            .is_ok());
        assert!(s.validate(&params(json!({"vault": "v"}))).is_err());
        assert!(s.validate(&params(json!({"surprise": 1}))).is_err());
        assert!(s.is_declared("vault") && s.is_updateable("vault"));
        assert!(!s.is_declared("surprise"));
    }

    #[test]
    fn rejects_non_object_schemas() {
        assert!(ParameterSchema::compile(&json!({"type": "string"})).is_err());
        assert!(ParameterSchema::compile(&json!([])).is_err());
        assert!(ParameterSchema::compile(&json!({"type": "object", "properties": 3})).is_err());
        assert!(
            ParameterSchema::compile(&json!({"type": "object", "minProperties": "x"})).is_err()
        );
    }
}
