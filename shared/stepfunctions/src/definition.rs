//! Parsing and validating a definition. A malformed one is rejected at load, naming the state
//! and the reason, so nothing fails halfway through an execution for a typo.

use std::collections::HashMap;

use serde_json::Value;

use crate::payload::{validate_template, ResultTarget, Selector};
use crate::{choice, errors, intrinsics, path};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("state machine definition: {}{reason}", state.as_ref().map(|s| format!("state `{s}`: ")).unwrap_or_default())]
pub struct DefinitionError {
    pub state: Option<String>,
    pub reason: String,
}

fn top(reason: impl Into<String>) -> DefinitionError {
    DefinitionError {
        state: None,
        reason: reason.into(),
    }
}

#[derive(Clone, Debug)]
pub struct Retrier {
    pub errors: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub full_jitter: bool,
}

#[derive(Clone, Debug)]
pub struct Catcher {
    pub errors: Vec<String>,
    pub next: String,
    pub result_path: ResultTarget,
}

#[derive(Clone, Debug)]
pub(crate) enum Seconds {
    Fixed(u64),
    Path(path::Path),
}

#[derive(Clone, Debug)]
pub(crate) enum WaitFor {
    Seconds(Seconds),
    Timestamp(String),
    TimestampPath(path::Path),
}

#[derive(Clone, Debug)]
pub(crate) enum Text {
    Fixed(String),
    Path(path::Path),
    Call(intrinsics::Call),
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Pass {
        result: Option<Value>,
        parameters: Option<Value>,
    },
    Task {
        resource: String,
        parameters: Option<Value>,
        timeout: Option<Seconds>,
        heartbeat: Option<Seconds>,
    },
    Choice {
        choices: Vec<Value>,
        default: Option<String>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<Text>,
        cause: Option<Text>,
    },
    Parallel {
        branches: Vec<StateMachine>,
        parameters: Option<Value>,
    },
    Map {
        items_path: Selector,
        item_selector: Option<Value>,
        iterator: Box<StateMachine>,
        max_concurrency: usize,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct State {
    pub kind: Kind,
    pub input_path: Selector,
    pub output_path: Selector,
    pub result_path: ResultTarget,
    pub result_selector: Option<Value>,
    pub next: Option<String>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

/// A parsed, validated state machine (or a Parallel branch / Map iterator).
#[derive(Clone, Debug)]
pub struct StateMachine {
    pub(crate) start_at: String,
    pub(crate) states: HashMap<String, State>,
    pub(crate) timeout_seconds: Option<u64>,
}

impl StateMachine {
    pub fn parse(json: &str) -> Result<Self, DefinitionError> {
        let v: Value = serde_json::from_str(json).map_err(|e| top(format!("not JSON: {e}")))?;
        Self::from_value(&v)
    }

    pub fn from_value(v: &Value) -> Result<Self, DefinitionError> {
        if v.get("QueryLanguage")
            .and_then(Value::as_str)
            .is_some_and(|q| q != "JSONPath")
        {
            return Err(top("only the JSONPath query language is supported"));
        }
        let start_at = v
            .get("StartAt")
            .and_then(Value::as_str)
            .ok_or_else(|| top("`StartAt` is missing"))?;
        let raw = v
            .get("States")
            .and_then(Value::as_object)
            .ok_or_else(|| top("`States` is missing"))?;
        if raw.is_empty() {
            return Err(top("`States` is empty"));
        }
        let mut states = HashMap::new();
        for (name, s) in raw {
            let state = parse_state(s).map_err(|reason| DefinitionError {
                state: Some(name.clone()),
                reason,
            })?;
            states.insert(name.clone(), state);
        }
        let machine = Self {
            start_at: start_at.to_string(),
            states,
            timeout_seconds: v.get("TimeoutSeconds").and_then(Value::as_u64),
        };
        machine.check_targets()?;
        Ok(machine)
    }

    fn check_targets(&self) -> Result<(), DefinitionError> {
        if !self.states.contains_key(&self.start_at) {
            return Err(top(format!(
                "`StartAt` names `{}`, which is not a state",
                self.start_at
            )));
        }
        for (name, s) in &self.states {
            let err = |reason: String| DefinitionError {
                state: Some(name.clone()),
                reason,
            };
            let mut targets: Vec<&String> = s
                .next
                .iter()
                .chain(s.catch.iter().map(|c| &c.next))
                .collect();
            if let Kind::Choice { choices, default } = &s.kind {
                targets.extend(default.iter());
                for c in choices {
                    if let Some(Value::String(n)) = c.get("Next") {
                        if !self.states.contains_key(n) {
                            return Err(err(format!(
                                "a choice goes to `{n}`, which is not a state"
                            )));
                        }
                    }
                }
            }
            for t in targets {
                if !self.states.contains_key(t) {
                    return Err(err(format!("`{t}` is not a state")));
                }
            }
        }
        Ok(())
    }
}

fn seconds(
    s: &serde_json::Map<String, Value>,
    fixed: &str,
    at_path: &str,
) -> Result<Option<Seconds>, String> {
    match (s.get(fixed), s.get(at_path)) {
        (Some(_), Some(_)) => Err(format!("give `{fixed}` or `{at_path}`, not both")),
        (Some(v), None) => v
            .as_u64()
            .filter(|n| *n > 0)
            .map(|n| Some(Seconds::Fixed(n)))
            .ok_or_else(|| format!("`{fixed}` must be a positive integer")),
        (None, Some(v)) => Ok(Some(Seconds::Path(path::parse(
            v.as_str().ok_or(format!("`{at_path}` must be a path"))?,
        )?))),
        (None, None) => Ok(None),
    }
}

fn text(
    s: &serde_json::Map<String, Value>,
    fixed: &str,
    at_path: &str,
) -> Result<Option<Text>, String> {
    match (s.get(fixed), s.get(at_path)) {
        (Some(_), Some(_)) => Err(format!("give `{fixed}` or `{at_path}`, not both")),
        (Some(v), None) => Ok(Some(Text::Fixed(
            v.as_str()
                .ok_or(format!("`{fixed}` must be a string"))?
                .to_string(),
        ))),
        (None, Some(v)) => {
            let t = v.as_str().ok_or(format!(
                "`{at_path}` must be a path or an intrinsic function"
            ))?;
            Ok(Some(if intrinsics::is_call(t) {
                Text::Call(intrinsics::parse(t)?)
            } else {
                Text::Path(path::parse(t)?)
            }))
        }
        (None, None) => Ok(None),
    }
}

fn error_list(v: &Value, what: &str) -> Result<Vec<String>, String> {
    let list: Vec<String> = v
        .get("ErrorEquals")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if list.is_empty() {
        return Err(format!("each {what} needs a non-empty `ErrorEquals`"));
    }
    if list.iter().any(|e| e == errors::ALL) && list.len() > 1 {
        return Err(format!(
            "`States.ALL` must appear alone in a {what}'s `ErrorEquals`"
        ));
    }
    Ok(list)
}

fn parse_retry(v: Option<&Value>) -> Result<Vec<Retrier>, String> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let list = v.as_array().ok_or("`Retry` must be a list")?;
    let mut out = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let errors = error_list(r, "retrier")?;
        if errors.iter().any(|e| e == errors::ALL) && i + 1 != list.len() {
            return Err("a retrier with `States.ALL` must be the last one".into());
        }
        let num = |k: &str, d: f64| {
            r.get(k)
                .map(|v| v.as_f64().ok_or(format!("`{k}` must be a number")))
                .unwrap_or(Ok(d))
        };
        let interval = num("IntervalSeconds", 1.0)?;
        let backoff = num("BackoffRate", 2.0)?;
        let max_attempts = num("MaxAttempts", 3.0)?;
        if interval < 1.0 || interval.fract() != 0.0 {
            return Err("`IntervalSeconds` must be a positive integer".into());
        }
        if backoff < 1.0 {
            return Err("`BackoffRate` must be at least 1.0".into());
        }
        if max_attempts < 0.0 || max_attempts.fract() != 0.0 {
            return Err("`MaxAttempts` must be a non-negative integer".into());
        }
        out.push(Retrier {
            errors,
            interval_seconds: interval,
            max_attempts: max_attempts as u32,
            backoff_rate: backoff,
            max_delay_seconds: r.get("MaxDelaySeconds").and_then(Value::as_f64),
            full_jitter: r.get("JitterStrategy").and_then(Value::as_str) == Some("FULL"),
        });
    }
    Ok(out)
}

fn parse_catch(v: Option<&Value>) -> Result<Vec<Catcher>, String> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let list = v.as_array().ok_or("`Catch` must be a list")?;
    list.iter()
        .map(|c| {
            Ok(Catcher {
                errors: error_list(c, "catcher")?,
                next: c
                    .get("Next")
                    .and_then(Value::as_str)
                    .ok_or("each catcher needs `Next`")?
                    .to_string(),
                result_path: ResultTarget::from_field(c.get("ResultPath"))?,
            })
        })
        .collect()
}

fn template(s: &serde_json::Map<String, Value>, key: &str) -> Result<Option<Value>, String> {
    match s.get(key) {
        None => Ok(None),
        Some(v) => {
            validate_template(v).map_err(|e| format!("`{key}`: {e}"))?;
            Ok(Some(v.clone()))
        }
    }
}

fn parse_state(v: &Value) -> Result<State, String> {
    let s = v.as_object().ok_or("a state must be an object")?;
    let ty = s
        .get("Type")
        .and_then(Value::as_str)
        .ok_or("`Type` is missing")?;
    let terminal_kind = matches!(ty, "Succeed" | "Fail" | "Choice");
    let next = s.get("Next").and_then(Value::as_str).map(str::to_string);
    let end = s.get("End").and_then(Value::as_bool).unwrap_or(false);
    if !terminal_kind {
        match (&next, end) {
            (Some(_), true) => return Err("give `Next` or `End`, not both".into()),
            (None, false) => return Err("needs `Next` or `\"End\": true`".into()),
            _ => {}
        }
    } else if next.is_some() || s.contains_key("End") {
        return Err(format!("a {ty} state takes neither `Next` nor `End`"));
    }
    let retry_ok = matches!(ty, "Task" | "Parallel" | "Map");
    if !retry_ok && (s.contains_key("Retry") || s.contains_key("Catch")) {
        return Err(format!("a {ty} state cannot have `Retry` or `Catch`"));
    }
    let kind = match ty {
        "Pass" => Kind::Pass {
            result: s.get("Result").cloned(),
            parameters: template(s, "Parameters")?,
        },
        "Task" => Kind::Task {
            resource: s
                .get("Resource")
                .and_then(Value::as_str)
                .ok_or("a Task needs `Resource`")?
                .to_string(),
            parameters: template(s, "Parameters")?,
            timeout: seconds(s, "TimeoutSeconds", "TimeoutSecondsPath")?,
            heartbeat: seconds(s, "HeartbeatSeconds", "HeartbeatSecondsPath")?,
        },
        "Choice" => {
            let choices = s
                .get("Choices")
                .and_then(Value::as_array)
                .filter(|c| !c.is_empty())
                .ok_or("a Choice needs a non-empty `Choices` list")?;
            for c in choices {
                choice::validate(c, true)?;
            }
            Kind::Choice {
                choices: choices.clone(),
                default: s.get("Default").and_then(Value::as_str).map(str::to_string),
            }
        }
        "Wait" => {
            let given = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
                .iter()
                .filter(|k| s.contains_key(**k))
                .count();
            if given != 1 {
                return Err(
                    "a Wait needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath"
                        .into(),
                );
            }
            Kind::Wait(
                if let Some(secs) = seconds(s, "Seconds", "SecondsPath").or_else(|_| {
                    // `Seconds: 0` is allowed for Wait.
                    match s.get("Seconds").and_then(Value::as_u64) {
                        Some(0) => Ok(Some(Seconds::Fixed(0))),
                        _ => Err("`Seconds` must be a non-negative integer".to_string()),
                    }
                })? {
                    WaitFor::Seconds(secs)
                } else if let Some(t) = s.get("Timestamp") {
                    let t = t.as_str().ok_or("`Timestamp` must be a string")?;
                    chrono::DateTime::parse_from_rfc3339(t)
                        .map_err(|e| format!("`Timestamp`: {e}"))?;
                    WaitFor::Timestamp(t.to_string())
                } else {
                    WaitFor::TimestampPath(path::parse(
                        s.get("TimestampPath")
                            .and_then(Value::as_str)
                            .ok_or("`TimestampPath` must be a path")?,
                    )?)
                },
            )
        }
        "Succeed" => Kind::Succeed,
        "Fail" => Kind::Fail {
            error: text(s, "Error", "ErrorPath")?,
            cause: text(s, "Cause", "CausePath")?,
        },
        "Parallel" => {
            let branches = s
                .get("Branches")
                .and_then(Value::as_array)
                .filter(|b| !b.is_empty())
                .ok_or("a Parallel needs a non-empty `Branches` list")?;
            let branches = branches
                .iter()
                .enumerate()
                .map(|(i, b)| StateMachine::from_value(b).map_err(|e| format!("branch {i}: {e}")))
                .collect::<Result<_, _>>()?;
            Kind::Parallel {
                branches,
                parameters: template(s, "Parameters")?,
            }
        }
        "Map" => {
            let processor = s
                .get("ItemProcessor")
                .or(s.get("Iterator"))
                .ok_or("a Map needs `ItemProcessor` (or `Iterator`)")?;
            let iterator =
                StateMachine::from_value(processor).map_err(|e| format!("item processor: {e}"))?;
            let selector = match template(s, "ItemSelector")? {
                Some(t) => Some(t),
                None => template(s, "Parameters")?,
            };
            Kind::Map {
                items_path: Selector::from_field(s.get("ItemsPath"))?,
                item_selector: selector,
                iterator: Box::new(iterator),
                max_concurrency: s.get("MaxConcurrency").and_then(Value::as_u64).unwrap_or(0)
                    as usize,
            }
        }
        other => return Err(format!("unknown state type `{other}`")),
    };
    let result_ok = matches!(ty, "Pass" | "Task" | "Parallel" | "Map");
    if !result_ok && (s.contains_key("ResultPath") || s.contains_key("ResultSelector")) {
        return Err(format!(
            "a {ty} state cannot have `ResultPath` or `ResultSelector`"
        ));
    }
    Ok(State {
        kind,
        input_path: Selector::from_field(s.get("InputPath"))?,
        output_path: Selector::from_field(s.get("OutputPath"))?,
        result_path: ResultTarget::from_field(s.get("ResultPath"))?,
        result_selector: template(s, "ResultSelector")?,
        next,
        retry: parse_retry(s.get("Retry"))?,
        catch: parse_catch(s.get("Catch"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(def: Value) -> String {
        StateMachine::from_value(&def)
            .expect_err("invalid")
            .to_string()
    }

    #[test]
    fn rejects_malformed_definitions_naming_the_state() {
        assert!(
            err(json!({"StartAt": "A", "States": {"B": {"Type": "Succeed"}}}))
                .contains("`StartAt` names `A`")
        );
        assert!(
            err(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Z"}}}))
                .contains("state `A`: `Z` is not a state")
        );
        assert!(
            err(json!({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}))
                .contains("needs `Next`")
        );
        assert!(
            err(json!({"StartAt": "A", "States": {"A": {"Type": "Bogus", "End": true}}}))
                .contains("unknown state type")
        );
        assert!(
            err(json!({"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": []}}}))
                .contains("non-empty")
        );
        assert!(err(
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "x", "End": true,
            "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]}}})
        )
        .contains("last"));
        assert!(err(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "InputPath": "nope"}}})).contains("must start with `$`"));
        assert!(
            err(json!({"StartAt": "A", "States": {"A": {"Type": "Succeed", "Next": "A"}}}))
                .contains("neither")
        );
        let ok = json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 0, "Next": "B"}, "B": {"Type": "Succeed"}}});
        assert!(StateMachine::from_value(&ok).is_ok());
    }
}
