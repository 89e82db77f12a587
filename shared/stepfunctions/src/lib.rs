//! A local Step Functions engine. It executes Amazon States Language
//! definitions (JSONPath query language) unchanged: Pass, Task, Choice, Wait, Succeed, Fail,
//! Parallel, Map; InputPath, Parameters/ItemSelector (with `.$` keys and the `$$` context
//! object), ResultSelector, ResultPath, OutputPath; intrinsic functions; Retry and Catch;
//! TimeoutSeconds and HeartbeatSeconds; `.waitForTaskToken`. Task resources resolve through a
//! registry of local integrations.

mod choice;
mod definition;
mod engine;
mod integrations;
mod intrinsics;
mod local;
mod path;
mod payload;

pub use definition::{DefinitionError, StateMachine};
pub use engine::{
    Engine, ExecutionOutcome, HistoryEvent, Integration, Integrations, Observer, Sleeper,
    TaskContext, TaskError, TokenError, TokioSleeper,
};
pub use integrations::{QueueLookup, SqsSendMessage};
pub use local::{
    execution_arn, fill_template, state_machine_arn, ExecutionListener, LocalWorkflows,
    ENGINE_STOPPED,
};

/// The standard error names of the States language.
pub mod errors {
    pub const ALL: &str = "States.ALL";
    pub const TIMEOUT: &str = "States.Timeout";
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const RUNTIME: &str = "States.Runtime";
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
}

/// Entry points for the fuzz targets (`fuzz/`), over the parsers of definition text that are
/// otherwise private: not an API.
#[doc(hidden)]
pub mod fuzzing {
    use serde_json::Value;

    /// Parse a Path and a reference path; read and write what parses in `doc`.
    pub fn path(text: &str, doc: &Value) {
        if let Ok(p) = crate::path::parse(text) {
            let _ = crate::path::get(doc, &p.segments);
        }
        if let Ok(p) = crate::path::parse_reference(text) {
            let _ = crate::path::get(doc, &p.segments);
            let mut target = doc.clone();
            let _ = crate::path::set(&mut target, &p.segments, Value::Null);
        }
    }

    /// Parse an intrinsic function call and evaluate what parses against `input`.
    pub fn intrinsic(text: &str, input: &Value, context: &Value) {
        if let Ok(call) = crate::intrinsics::parse(text) {
            let _ = crate::intrinsics::eval(&call, input, context);
        }
    }

    /// Validate a payload template and render what is valid against `input`.
    pub fn template(template: &Value, input: &Value, context: &Value) {
        if crate::payload::validate_template(template).is_ok() {
            let _ = crate::payload::render(template, input, context);
        }
    }
}
