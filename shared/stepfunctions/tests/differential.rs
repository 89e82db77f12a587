//! Differential test: every definition of `tests/corpus/` runs on our engine and on moto
//! server's Step Functions interpreter (a reference no one here wrote), and both must give the
//! outcome the case expects: the same output, or the same error (and cause, where the case
//! names one). Where moto is known to be wrong, the case records moto's answer and why it is
//! wrong; the test then checks moto still answers that way, so a fixed moto is noticed.
//!
//! Task states use `sqs:sendMessage` (moto's ECS integration does not work). `${QUEUE_URL}` in
//! a definition becomes the URL of a queue that exists on each side.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_sfn::types::ExecutionStatus;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tre_core::ports::Queue;
use tre_embedded::Embedded;
use tre_stepfunctions::{
    Engine, ExecutionOutcome, Integrations, Sleeper, SqsSendMessage, StateMachine,
};
use tre_testkit::moto::MotoServer;

const QUEUE: &str = "differential";
const ROLE: &str = "arn:aws:iam::123456789012:role/differential";

#[derive(Deserialize)]
struct Case {
    description: String,
    definition: Value,
    input: Value,
    expected: Outcome,
    /// moto's (wrong) answer, with `why` it is wrong.
    #[serde(default)]
    moto: Option<Value>,
    /// For `.waitForTaskToken` cases: what the test does with the token that the definition
    /// sends (as `{"token": ...}`) to the case's own queue, `${CASE_QUEUE_URL}`.
    #[serde(default)]
    complete: Option<Completion>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(rename_all = "snake_case")]
enum Completion {
    Success(Value),
    Failure {
        error: String,
        cause: String,
    },
    /// Leave the task waiting (its timeout ends it).
    Never,
}

fn token_of(body: &str) -> Result<String, String> {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_string))
        .ok_or_else(|| format!("the message {body:?} carries no token"))
}

#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
enum Outcome {
    Succeeded {
        output: Value,
    },
    Failed {
        error: String,
        #[serde(default)]
        cause: Option<String>,
    },
    /// Only moto answers this way (see the cases that record it).
    SucceededWithInvalidJson {
        raw_output: String,
    },
}

impl Outcome {
    /// Does this actual outcome satisfy `expected`? A cause is compared only when the expected
    /// outcome names one: the wording of runtime errors is not part of the contract.
    fn satisfies(&self, expected: &Outcome) -> bool {
        match (self, expected) {
            (Outcome::Succeeded { output: a }, Outcome::Succeeded { output: e }) => a == e,
            (
                Outcome::Failed {
                    error: a,
                    cause: ac,
                },
                Outcome::Failed {
                    error: e,
                    cause: ec,
                },
            ) => a == e && (ec.is_none() || ac == ec),
            (
                Outcome::SucceededWithInvalidJson { raw_output: a },
                Outcome::SucceededWithInvalidJson { raw_output: e },
            ) => a == e,
            _ => false,
        }
    }
}

/// Waits return at once: the corpus is about semantics, not time.
struct NoWait;

#[async_trait]
impl Sleeper for NoWait {
    async fn sleep(&self, _d: Duration) {}
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

fn corpus() -> Vec<(String, Case)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("file name")
                .to_string();
            let text = std::fs::read_to_string(&p).expect("read case");
            let case: Case = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not a corpus case: {e}", p.display()));
            (name, case)
        })
        .collect()
}

fn with_queue_urls(definition: &Value, base: &str, case: &str) -> String {
    definition
        .to_string()
        .replace("${QUEUE_URL}", &format!("{base}{QUEUE}"))
        .replace("${CASE_QUEUE_URL}", &format!("{base}{case}"))
}

async fn run_ours(
    engine: &Engine,
    embedded: &Embedded,
    name: &str,
    case: &Case,
) -> Result<Outcome, String> {
    let text = with_queue_urls(&case.definition, "http://local/000000000000/", name);
    let machine = StateMachine::parse(&text).map_err(|e| format!("rejected: {e}"))?;
    let machine_arn = format!("arn:aws:states:local:000000000000:stateMachine:{name}");
    let execution_arn = format!("arn:aws:states:local:000000000000:execution:{name}:{name}");
    let execution = engine.execute(
        &machine,
        &machine_arn,
        &execution_arn,
        name,
        case.input.clone(),
    );
    let complete = async {
        let Some(completion) = &case.complete else {
            return Ok(());
        };
        let queue = embedded.queue(name, None).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let message = loop {
            let got = queue
                .receive(1, Duration::from_secs(30), Duration::from_millis(200))
                .await
                .map_err(|e| e.to_string())?;
            if let Some(m) = got.into_iter().next() {
                break m;
            }
            if Instant::now() > deadline {
                return Err("no task token arrived in 30 s".to_string());
            }
        };
        let token = token_of(&message.body)?;
        match completion {
            Completion::Success(output) => engine.send_task_success(&token, output.clone()),
            Completion::Failure { error, cause } => engine.send_task_failure(&token, error, cause),
            Completion::Never => Ok(()),
        }
        .map_err(|e| e.to_string())
    };
    let (outcome, completed) = tokio::join!(execution, complete);
    completed?;
    Ok(match outcome {
        ExecutionOutcome::Succeeded(output) => Outcome::Succeeded { output },
        ExecutionOutcome::Failed { error, cause } => Outcome::Failed {
            error,
            cause: Some(cause),
        },
    })
}

async fn run_moto(
    sfn: &aws_sdk_sfn::Client,
    sqs: &aws_sdk_sqs::Client,
    queue_base: &str,
    name: &str,
    case: &Case,
) -> Result<Outcome, String> {
    let case_queue = match case.complete {
        Some(_) => Some(
            sqs.create_queue()
                .queue_name(name)
                .send()
                .await
                .map_err(|e| format!("CreateQueue: {e:?}"))?
                .queue_url()
                .unwrap_or_default()
                .to_string(),
        ),
        None => None,
    };
    let machine = sfn
        .create_state_machine()
        .name(name)
        .definition(with_queue_urls(&case.definition, queue_base, name))
        .role_arn(ROLE)
        .send()
        .await
        .map_err(|e| format!("CreateStateMachine: {e:?}"))?;
    let execution = sfn
        .start_execution()
        .state_machine_arn(machine.state_machine_arn())
        .name(name)
        .input(case.input.to_string())
        .send()
        .await
        .map_err(|e| format!("StartExecution: {e:?}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pending = case.complete.clone().zip(case_queue);
    loop {
        if let Some((completion, url)) = &pending {
            let got = sqs
                .receive_message()
                .queue_url(url)
                .wait_time_seconds(0)
                .send()
                .await
                .map_err(|e| format!("ReceiveMessage: {e:?}"))?;
            if let Some(body) = got.messages().first().and_then(|m| m.body()) {
                let token = token_of(body)?;
                match completion {
                    Completion::Success(output) => sfn
                        .send_task_success()
                        .task_token(token)
                        .output(output.to_string())
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("SendTaskSuccess: {e:?}"))?,
                    Completion::Failure { error, cause } => sfn
                        .send_task_failure()
                        .task_token(token)
                        .error(error)
                        .cause(cause)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("SendTaskFailure: {e:?}"))?,
                    Completion::Never => {}
                }
                pending = None;
            }
        }
        let d = sfn
            .describe_execution()
            .execution_arn(execution.execution_arn())
            .send()
            .await
            .map_err(|e| format!("DescribeExecution: {e:?}"))?;
        match d.status() {
            ExecutionStatus::Running => {}
            ExecutionStatus::Succeeded => {
                let raw = d.output().unwrap_or("null");
                return Ok(match serde_json::from_str(raw) {
                    Ok(output) => Outcome::Succeeded { output },
                    Err(_) => Outcome::SucceededWithInvalidJson {
                        raw_output: raw.to_string(),
                    },
                });
            }
            other => {
                return Ok(Outcome::Failed {
                    error: d.error().unwrap_or(other.as_str()).to_string(),
                    cause: d.cause().map(str::to_string),
                })
            }
        }
        if Instant::now() > deadline {
            return Err("still running after 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_gives_the_same_outcomes_on_our_engine_and_on_moto() {
    let cases = corpus();
    assert!(cases.len() >= 30, "the corpus has {} cases", cases.len());

    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = Embedded::open(dir.path()).expect("embedded store");
    // Only the corpus queue and the token cases' own queues exist, as on moto.
    let token_cases: Vec<String> = cases
        .iter()
        .filter(|(_, c)| c.complete.is_some())
        .map(|(n, _)| n.clone())
        .collect();
    let queues = embedded.clone();
    let sqs = SqsSendMessage::new(Arc::new(move |name: &str| {
        if name != QUEUE && !token_cases.iter().any(|c| c == name) {
            return Err(format!("there is no queue `{name}`"));
        }
        queues
            .queue(name, None)
            .map(|q| Arc::new(q) as Arc<dyn Queue>)
            .map_err(|e| e.to_string())
    }));
    let engine =
        Engine::new(Integrations::new().prefix("arn:aws:states:::sqs:sendMessage", Arc::new(sqs)))
            .with_sleeper(Arc::new(NoWait));

    let moto = MotoServer::start().await.expect("moto server");
    moto.enable_state_machine_execution()
        .await
        .expect("moto executes state machines");
    let conf = moto.sdk_config().await;
    let sfn = aws_sdk_sfn::Client::new(&conf);
    let sqs_client = aws_sdk_sqs::Client::new(&conf);
    let queue_url = sqs_client
        .create_queue()
        .queue_name(QUEUE)
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_string();
    let queue_base = queue_url
        .strip_suffix(QUEUE)
        .expect("a queue URL ends in the queue's name")
        .to_string();

    let results: Vec<(String, Vec<String>)> = futures::stream::iter(cases.iter())
        .map(|(name, case)| {
            let (engine, embedded, sfn, sqs, queue_base) =
                (&engine, &embedded, &sfn, &sqs_client, &queue_base);
            async move {
                let mut problems = Vec::new();
                let (ours, theirs) = tokio::join!(
                    run_ours(engine, embedded, name, case),
                    run_moto(sfn, sqs, queue_base, name, case)
                );
                match &ours {
                    Ok(o) if o.satisfies(&case.expected) => {}
                    other => problems.push(format!(
                        "our engine gave {other:?}, expected {:?}",
                        case.expected
                    )),
                }
                match (&case.moto, &theirs) {
                    (None, Ok(t)) if t.satisfies(&case.expected) => {}
                    (None, other) => problems.push(format!(
                        "moto gave {other:?}, expected {:?} (a new divergence: find out who is wrong, and record it in the case if it is moto)",
                        case.expected
                    )),
                    (Some(recorded), theirs) => {
                        let why = recorded.get("why").and_then(Value::as_str).unwrap_or("");
                        assert!(!why.is_empty(), "{name}: a moto divergence must say why");
                        let recorded: Outcome = serde_json::from_value(recorded.clone())
                            .unwrap_or_else(|e| panic!("{name}: moto's recorded outcome: {e}"));
                        match theirs {
                            Ok(t) if t.satisfies(&recorded) => {}
                            other => problems.push(format!(
                                "moto no longer gives the recorded divergence {recorded:?} but {other:?}: update the case"
                            )),
                        }
                    }
                }
                (format!("{name} ({})", case.description), problems)
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;

    let failures: Vec<String> = results
        .iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(n, p)| format!("{n}:\n  {}", p.join("\n  ")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
}
