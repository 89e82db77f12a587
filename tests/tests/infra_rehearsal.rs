//! Issue 14: the whole of infra/ rehearsed against moto server, once per run: init (offline,
//! local state), validate, apply with `terraform.tfvars.example`, a plan that must report no
//! changes, then — on that one deployment — the wiring: the Lambdas' configuration read back
//! from the emulator, the API's route groups and the status consumer run in-process with exactly
//! that environment against the deployed table, queue and state machines, and every IAM action
//! the code needs found in the deployed policies; the audit trail as deployed (the table's
//! stream, the archive's event source mapping and its filter, the Object Lock of the archive and
//! trail buckets, the trail and its event selectors, GuardDuty with S3 protection, turned on
//! here); a plan of a registry token key rotation; the
//! teardown (deletion protection off, destroy) and a read-back that nothing is left.
//!
//! The same procedure by hand, with the reasons for each step: tests/infra/rehearse.sh. What the
//! emulator override (tests/infra/moto_override.tf) excludes, and why, is printed from its
//! comments. The AWS read-backs the workspace has no SDK crate for (Lambda, IAM, ECS, EC2, ...)
//! go through boto3 (tests/infra/rehearsal.py), which moto's own virtualenv carries.
//!
//! Fails, never skips, without Terraform, the provider mirror (`TRE_TERRAFORM_PLUGIN_DIR`),
//! moto or openssl. `cargo test -p tre-e2e --test infra_rehearsal -- --nocapture` shows each
//! phase's duration.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Map, Value};
use tower::ServiceExt;
use tre_api::RouteGroup;
use tre_testkit::moto::MotoServer;
use tre_testkit::terraform::{self, Layout, Workdir};

/// Terraform waits out fixed delays (lifecycle rules, load balancers): many at once.
const PARALLELISM: &str = "-parallelism=64";
/// A registry bundle, pinned by digest: the workspace's step gets a pull token for it.
const BUNDLE: &str = "registry.tre.example.org/tre/bundles/workspace-base@sha256:5f1d6d0b9c2a4e8f7a6b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
const BUNDLE_REPOSITORY: &str = "tre/bundles/workspace-base";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python with boto3 that `scripts/test` installs beside moto.
fn python() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("TRE_PYTHON") {
        return Ok(p.into());
    }
    let venv = root().join(".venv/bin/python3");
    ensure!(
        venv.exists(),
        "{} is missing: run scripts/test (it installs moto and boto3 there) or set TRE_PYTHON",
        venv.display()
    );
    Ok(venv)
}

/// Each phase's duration, printed as it ends and again, all together, at the end (also when
/// the test fails half-way).
#[derive(Default)]
struct Phases(Vec<(String, Duration)>);

impl Phases {
    fn done(&mut self, name: &str, started: Instant) {
        let took = started.elapsed();
        println!("== {name}: {:.1} s", took.as_secs_f64());
        self.0.push((name.to_string(), took));
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        println!("== durations");
        for (name, took) in &self.0 {
            println!("{name:<28} {:>6.1} s", took.as_secs_f64());
        }
        let total: Duration = self.0.iter().map(|(_, d)| *d).sum();
        println!("{:<28} {:>6.1} s", "total", total.as_secs_f64());
    }
}

// ---------- what the emulator override changes, from its own comments ----------

/// One block of tests/infra/moto_override.tf and the comments that give its reason.
struct OverrideNote {
    address: String,
    what: String,
    why: String,
}

/// Every top-level block of the override with what it does (excludes, ignores read-back
/// differences, replaces) and the comments around it, which say why.
fn override_notes(text: &str) -> anyhow::Result<Vec<OverrideNote>> {
    let body: hcl::Body = hcl::from_str(text).context("tests/infra/moto_override.tf")?;
    let mut comments: Vec<String> = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    let mut blocks: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(c) = t.strip_prefix('#') {
            let c = c.trim();
            // Section rulers (`# ---------- exclusions ----------`) name no reason.
            if !c.starts_with("----------") {
                match &mut current {
                    Some((_, why)) => why.push(c.to_string()),
                    None => comments.push(c.to_string()),
                }
            }
        } else if current.is_none() && !line.starts_with(' ') && line.ends_with('{') {
            let labels: Vec<&str> = line
                .trim_end_matches('{')
                .split_whitespace()
                .map(|w| w.trim_matches('"'))
                .collect();
            let address = match labels.as_slice() {
                ["resource", t, n] => format!("{t}.{n}"),
                ["data", t, n] => format!("data.{t}.{n}"),
                [kind, rest @ ..] => format!("{kind} {}", rest.join(" ")),
                [] => String::new(),
            };
            current = Some((address, std::mem::take(&mut comments)));
        } else if line == "}" {
            if let Some(done) = current.take() {
                blocks.push(done);
            }
        } else if t.is_empty() && current.is_none() {
            comments.clear();
        }
    }
    let parsed: Vec<&hcl::Block> = body.blocks().collect();
    ensure!(
        parsed.len() == blocks.len(),
        "tests/infra/moto_override.tf: {} blocks parsed, {} found line by line (keep each \
         top-level block's header and closing brace on lines of their own)",
        parsed.len(),
        blocks.len()
    );
    let mut notes = Vec::new();
    for ((address, why), block) in blocks.into_iter().zip(parsed) {
        let attr = |name: &str| {
            block
                .body()
                .attributes()
                .find(|a| a.key() == name)
                .map(|a| a.expr().to_string())
        };
        let ignored: Vec<String> = block
            .body()
            .blocks()
            .filter(|b| b.identifier() == "lifecycle")
            .flat_map(|b| b.body().attributes())
            .filter(|a| a.key() == "ignore_changes")
            .map(|a| {
                let list = a.expr().to_string();
                list.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect();
        let what = if block.identifier() == "provider" {
            "emulator settings".to_string()
        } else if attr("count").as_deref() == Some("0") || attr("for_each").as_deref() == Some("{}")
        {
            "EXCLUDED".to_string()
        } else if !ignored.is_empty() {
            format!("ignores changes to {}", ignored.join(", "))
        } else {
            "replaced".to_string()
        };
        notes.push(OverrideNote {
            address,
            what,
            why: why.join(" "),
        });
    }
    Ok(notes)
}

// ---------- the state machines, rendered by Terraform as infra/ would deploy them ----------

/// A test-only .tf file (written into the temporary tree, never into infra/) with one output
/// holding every argument of `aws_sfn_state_machine.machine` of infra/provisioning.tf, for each
/// of its instances: the same expressions, generated from the resource block itself, so the
/// state machines this test creates cannot drift from what infra/ deploys.
fn state_machine_outputs_tf(provisioning: &str) -> anyhow::Result<String> {
    let body: hcl::Body = hcl::from_str(provisioning).context("infra/provisioning.tf")?;
    let block = body
        .blocks()
        .find(|b| {
            b.identifier() == "resource"
                && b.labels().iter().map(|l| l.as_str()).collect::<Vec<_>>()
                    == ["aws_sfn_state_machine", "machine"]
        })
        .context("infra/provisioning.tf has no resource aws_sfn_state_machine.machine")?;
    let each = |e: &hcl::Expression| {
        e.to_string()
            .replace("each.key", "key")
            .replace("each.value", "value")
    };
    let mut for_each = None;
    let mut fields = Vec::new();
    for a in block.body().attributes() {
        match a.key() {
            "for_each" => for_each = Some(a.expr().to_string()),
            // Meta-arguments: how Terraform orders and manages it, not what AWS is sent.
            "depends_on" | "provider" => {}
            k => fields.push(format!("    {k:?} = {}", each(a.expr()))),
        }
    }
    let mut seen = BTreeSet::new();
    for b in block.body().blocks() {
        if b.identifier() == "lifecycle" {
            continue;
        }
        ensure!(
            seen.insert(b.identifier().to_string()) && b.body().blocks().next().is_none(),
            "aws_sfn_state_machine.machine: block `{}` is repeated or nested; teach \
             state_machine_outputs_tf to render it",
            b.identifier()
        );
        let inner: Vec<String> = b
            .body()
            .attributes()
            .map(|a| format!("{:?} = {}", a.key(), each(a.expr())))
            .collect();
        fields.push(format!(
            "    {:?} = {{ {} }}",
            b.identifier(),
            inner.join(", ")
        ));
    }
    let for_each = for_each.context("aws_sfn_state_machine.machine has no for_each")?;
    Ok(format!(
        "# Test-only (tests/tests/infra_rehearsal.rs): every argument of aws_sfn_state_machine.machine\n\
         # (infra/provisioning.tf), generated from that block, for the rehearsal to create the\n\
         # machines moto's ValidateStateMachineDefinition keeps Terraform from creating.\n\
         output \"rehearsal_state_machines\" {{\n  \
           value = {{ for key, value in {for_each} : key => {{\n{}\n  }} }}\n\
         }}\n",
        fields.join("\n")
    ))
}

/// CreateStateMachine with exactly the arguments Terraform rendered; an argument it does not
/// know fails the test rather than being left out.
async fn create_state_machine(
    sfn: &aws_sdk_sfn::Client,
    spec: &Map<String, Value>,
) -> anyhow::Result<String> {
    use aws_sdk_sfn::types::{
        CloudWatchLogsLogGroup, EncryptionConfiguration, EncryptionType, LogDestination, LogLevel,
        LoggingConfiguration, StateMachineType, TracingConfiguration,
    };
    let s = |o: &Map<String, Value>, k: &str| -> anyhow::Result<String> {
        o.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .with_context(|| format!("state machine argument `{k}` is not a string: {o:?}"))
    };
    let mut req = sfn
        .create_state_machine()
        .name(s(spec, "name")?)
        .role_arn(s(spec, "role_arn")?)
        .definition(s(spec, "definition")?);
    for (k, v) in spec {
        let o = v.as_object();
        match (k.as_str(), o) {
            ("name" | "role_arn" | "definition", _) => {}
            ("type", _) => req = req.r#type(StateMachineType::from(s(spec, "type")?.as_str())),
            ("logging_configuration", Some(o)) => {
                let group = CloudWatchLogsLogGroup::builder()
                    .log_group_arn(s(o, "log_destination")?)
                    .build();
                req = req.logging_configuration(
                    LoggingConfiguration::builder()
                        .level(LogLevel::from(s(o, "level")?.as_str()))
                        .include_execution_data(
                            o.get("include_execution_data")
                                .and_then(Value::as_bool)
                                .context("include_execution_data")?,
                        )
                        .destinations(
                            LogDestination::builder()
                                .cloud_watch_logs_log_group(group)
                                .build(),
                        )
                        .build(),
                );
            }
            ("tracing_configuration", Some(o)) => {
                req = req.tracing_configuration(
                    TracingConfiguration::builder()
                        .enabled(
                            o.get("enabled")
                                .and_then(Value::as_bool)
                                .context("enabled")?,
                        )
                        .build(),
                );
            }
            ("encryption_configuration", Some(o)) => {
                let reuse = o
                    .get("kms_data_key_reuse_period_seconds")
                    .and_then(Value::as_i64)
                    .and_then(|n| i32::try_from(n).ok());
                req = req.encryption_configuration(
                    EncryptionConfiguration::builder()
                        .r#type(EncryptionType::from(s(o, "type")?.as_str()))
                        .kms_key_id(s(o, "kms_key_id")?)
                        .set_kms_data_key_reuse_period_seconds(reuse)
                        .build()?,
                );
            }
            _ => bail!(
                "aws_sfn_state_machine.machine sets `{k}` = {v}: pass it to CreateStateMachine here"
            ),
        }
    }
    let out = req.send().await.context("CreateStateMachine")?;
    Ok(out.state_machine_arn().to_string())
}

// ---------- IAM: action matching on the deployed policies ----------

/// IAM action patterns match case-insensitively, `*` any run of characters, `?` one.
fn action_matches(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), action.as_bytes())
}

fn as_list(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.clone()],
    }
}

/// A policy document as boto3 returns it (an object; a JSON string is parsed too).
fn document(v: &Value) -> anyhow::Result<Value> {
    match v {
        Value::String(s) => Ok(serde_json::from_str(s)?),
        other => Ok(other.clone()),
    }
}

/// The Allow statements' action patterns of a role as read back (inline and attached).
fn allowed_patterns(role: &Value) -> anyhow::Result<(Vec<String>, usize)> {
    let mut docs = Vec::new();
    for key in ["inline_policies", "attached_policy_documents"] {
        if let Some(m) = role[key].as_object() {
            for d in m.values() {
                docs.push(document(d)?);
            }
        }
    }
    let mut patterns = Vec::new();
    for d in &docs {
        for st in as_list(d.get("Statement")) {
            if st["Effect"].as_str() == Some("Allow") {
                patterns.extend(
                    as_list(st.get("Action"))
                        .iter()
                        .filter_map(|a| a.as_str().map(str::to_string)),
                );
            }
        }
    }
    Ok((patterns, docs.len()))
}

/// Every IAM action `calls` need is allowed by some statement of `role` (action match only:
/// resource scoping and conditions are not evaluated here — real IAM evaluation needs a real
/// account); returns how many actions were checked.
fn check_role_allows(
    who: &str,
    role: &Value,
    calls: &[(&str, &str)],
    missing: &mut Vec<String>,
) -> anyhow::Result<usize> {
    let (patterns, policies) = allowed_patterns(role)?;
    let mut needed = BTreeSet::new();
    for (adapter, op) in calls {
        let actions = tre_aws::iam_actions_for(adapter, op);
        ensure!(
            !actions.is_empty(),
            "{adapter}::{op} has no IAM action in tre_aws::IAM_ACTIONS"
        );
        needed.extend(actions);
    }
    for action in &needed {
        if !patterns.iter().any(|p| action_matches(p, action)) {
            missing.push(format!(
                "{who} (role {}): {action}",
                role["name"].as_str().unwrap_or("?")
            ));
        }
    }
    println!(
        "  {who}: {} action(s) needed, role {} with {policies} policies ({} allowed patterns)",
        needed.len(),
        role["name"].as_str().unwrap_or("?"),
        patterns.len()
    );
    Ok(needed.len())
}

// ---------- the API and the consumer, in-process, with a deployed function's environment ----------

/// An API Gateway (HTTP API, payload 2.0) event as the deployed API sends it to a Lambda: the
/// JWT authorizer's verified claims in the request context, every claim a string.
fn api_event(method: &str, path: &str, claims: Option<&Value>, body: Option<&Value>) -> String {
    let mut context = json!({
        "accountId": "123456789012",
        "apiId": "rehearsal",
        "domainName": "api.example.org",
        "domainPrefix": "api",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                 "sourceIp": "192.0.2.10", "userAgent": "infra-rehearsal"},
        "requestId": "rehearsal",
        "routeKey": format!("{method} {path}"),
        "stage": "$default",
        "time": "01/Jan/2026:00:00:00 +0000",
        "timeEpoch": 1767225600000u64
    });
    if let Some(c) = claims {
        context["authorizer"] = json!({"jwt": {"claims": c, "scopes": null}});
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"accept": "application/json", "content-type": "application/json",
                    "host": "api.example.org"},
        "requestContext": context,
        "isBase64Encoded": false
    });
    if let Some(b) = body {
        event["body"] = Value::String(b.to_string());
    }
    event.to_string()
}

/// The claims an admin's token carries, with the roles where the deployed
/// `TRE_OIDC_ROLES_CLAIM` says (a nested claim arrives as JSON text, an array as `[a b]`).
fn admin_claims(env: &BTreeMap<String, String>) -> anyhow::Result<Value> {
    let var = |k: &str| {
        env.get(k)
            .cloned()
            .with_context(|| format!("{k} is not set"))
    };
    let path = var(tre_auth::ENV_ROLES_CLAIM)?;
    let roles = ["TREAdmin", "TREUser"];
    let mut parts = path.split('.');
    let top = parts.next().context("empty roles claim")?.to_string();
    let rest: Vec<&str> = parts.collect();
    let rendered = if rest.is_empty() {
        format!("[{}]", roles.join(" "))
    } else {
        let mut v = json!(roles);
        for p in rest.iter().rev() {
            let mut m = Map::new();
            m.insert(p.to_string(), v);
            v = Value::Object(m);
        }
        v.to_string()
    };
    let mut claims = json!({
        "sub": "rehearsal-admin",
        "name": "Rehearsal Admin",
        "iss": var(tre_auth::ENV_ISSUER)?,
        "aud": var(tre_auth::ENV_AUDIENCE)?,
    });
    claims[top] = Value::String(rendered);
    Ok(claims)
}

/// One request through a route group's router; (status, JSON body).
async fn call(router: &axum::Router, event: &str) -> anyhow::Result<(u16, Value)> {
    let req = lambda_http::request::from_str(event).context("an API Gateway v2 event")?;
    let req = req.map(|b| tre_api::Body::from(b.to_vec()));
    let resp = router.clone().oneshot(req).await?;
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, body))
}

/// A resource's item in the deployed table, read with the SDK (the body is the JSON string
/// `DynamoTable` writes).
async fn table_item(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    sk: &str,
) -> anyhow::Result<Value> {
    let out = ddb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .with_context(|| format!("GetItem {pk} {sk} on {table}"))?;
    let body = out
        .item()
        .and_then(|i| i.get("body"))
        .and_then(|b| b.as_s().ok())
        .with_context(|| format!("no item {pk} / {sk} in the deployed table {table}"))?;
    Ok(serde_json::from_str(body)?)
}

/// Receive from the status queue until `want` messages came (or `limit` passed) and hand them
/// to the consumer's batch handler as the event source mapping would (an `SqsEvent`); then
/// delete what it applied, as the mapping does. Returns the bodies handled.
async fn consume(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    region: &str,
    consumer: &tre_core::app::App,
    want: usize,
    limit: Duration,
) -> anyhow::Result<Vec<Value>> {
    use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
    let arn = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("the status queue's ARN")?;
    let deadline = Instant::now() + limit;
    let mut messages = Vec::new();
    while messages.len() < want {
        ensure!(
            Instant::now() < deadline,
            "the status queue gave {} of {want} message(s) within {limit:?}",
            messages.len()
        );
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await?;
        messages.extend(out.messages().iter().cloned());
    }
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: Map<String, Value> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone())))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "md5OfBody": m.md5_of_body(),
                "attributes": attributes,
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": region
            })
        })
        .collect();
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(json!({ "Records": records }))?;
    let resp = tre_lambda::status::handle_batch(consumer, event).await;
    let failed: Vec<&str> = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    ensure!(
        failed.is_empty(),
        "the status consumer failed messages {failed:?} of {:?}",
        messages.iter().map(|m| m.body()).collect::<Vec<_>>()
    );
    for m in &messages {
        sqs.delete_message()
            .queue_url(queue_url)
            .set_receipt_handle(m.receipt_handle().map(str::to_string))
            .send()
            .await?;
    }
    messages
        .iter()
        .map(|m| Ok(serde_json::from_str(m.body().unwrap_or_default())?))
        .collect()
}

// ---------- helpers around processes ----------

fn run_python(python: &Path, env: &[(String, String)], args: &[&str]) -> anyhow::Result<String> {
    let script = root().join("tests/infra/rehearsal.py");
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .envs(env.iter().cloned())
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    ensure!(
        out.status.success(),
        "rehearsal.py {} failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// The `# ...` headers and the summary line of a plan: what would change.
fn plan_summary(text: &str) -> String {
    text.lines()
        .filter(|l| l.starts_with("  # ") || l.starts_with("Plan:") || l.starts_with("Error"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn tfvars(text: &str, name: &str) -> anyhow::Result<String> {
    let body: hcl::Body = hcl::from_str(text).context("terraform.tfvars.example")?;
    body.attributes()
        .find(|a| a.key() == name)
        .and_then(|a| match a.expr() {
            hcl::Expression::String(s) => Some(s.clone()),
            _ => None,
        })
        .with_context(|| format!("terraform.tfvars.example sets no string `{name}`"))
}

/// The infra/ files a deployment uses: the configuration, its data files and the example
/// values; never local state, per-deployment values or override files.
fn infra_file(name: &str) -> bool {
    (name.ends_with(".tf") && !name.ends_with("_override.tf"))
        || name.ends_with(".json")
        || name == "terraform.tfvars.example"
}

/// The console talks to the airlock buckets straight from the browser through the API's links:
/// each bucket a link points at must answer the console's origin (read back with GetBucketCors)
/// with the methods its stage needs, exposing `ETag`, and be named in the console's connect-src;
/// the bucket no link points at (workspace data) has no CORS at all.
async fn check_airlock_cors(
    moto: &MotoServer,
    region: &str,
    account: &str,
    prefix: &str,
    rendered: &Map<String, Value>,
) -> anyhow::Result<()> {
    let origin = rendered["console_url"]
        .as_str()
        .context("the console_url output")?
        .trim_end_matches('/')
        .to_string();
    let connects = rendered["rehearsal_console_connects"]
        .as_str()
        .context("the console's connect-src")?;
    let sdk = moto.sdk_config_in(region).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let stages: [(&str, &[&str]); 5] = [
        ("import-staging", &["POST", "PUT"]),
        ("export-staging", &["POST", "PUT"]),
        ("import-in-review", &["GET", "HEAD"]),
        ("export-in-review", &["GET", "HEAD"]),
        ("export-approved", &["GET", "HEAD"]),
    ];
    for (stage, methods) in stages {
        let bucket = format!("{prefix}-{account}-airlock-{stage}");
        let cors = s3
            .get_bucket_cors()
            .bucket(&bucket)
            .send()
            .await
            .with_context(|| format!("GetBucketCors {bucket}"))?;
        let rules = cors.cors_rules();
        ensure!(
            rules.len() == 1,
            "{bucket}: {} CORS rules, one expected",
            rules.len()
        );
        let rule = &rules[0];
        ensure!(
            rule.allowed_origins() == [origin.clone()],
            "{bucket} allows origins {:?}, only the console's {origin} expected",
            rule.allowed_origins()
        );
        let mut got: Vec<&str> = rule.allowed_methods().iter().map(String::as_str).collect();
        got.sort_unstable();
        ensure!(
            got == methods,
            "{bucket} allows {got:?}, {methods:?} expected"
        );
        ensure!(
            rule.expose_headers()
                .iter()
                .any(|h| h.eq_ignore_ascii_case("etag")),
            "{bucket} does not expose ETag: {:?}",
            rule.expose_headers()
        );
        let endpoint = format!("https://{bucket}.s3.{region}.amazonaws.com");
        ensure!(
            connects.split_whitespace().any(|c| c == endpoint),
            "the console's connect-src does not name {endpoint}: {connects}"
        );
        println!("{bucket}: CORS {origin} {got:?}, in connect-src");
    }
    let data = format!("{prefix}-{account}-airlock-workspace-data");
    ensure!(
        s3.get_bucket_cors().bucket(&data).send().await.is_err(),
        "{data} answers browsers, but no link points at it"
    );
    Ok(())
}

/// The audit trail as deployed, read back through the AWS APIs: the table streams NEW_IMAGE;
/// the archive function's one event source mapping reads that stream, filtered to inserts of
/// audit events, reports partial failures, keeps what fails in its failure queue; the archive
/// bucket its deployed environment names, and the trail's, are versioned, locked in compliance
/// mode for the configured days, KMS-encrypted with the deployment's key, private, TLS only;
/// the trail covers every region with log file validation, management events and the objects
/// of the airlock, workspace and archive buckets; GuardDuty's detector has S3 protection on.
#[allow(clippy::too_many_arguments)]
async fn check_audit(
    moto: &MotoServer,
    python: &Path,
    env: &[(String, String)],
    region: &str,
    account: &str,
    prefix: &str,
    archive_env: &BTreeMap<String, String>,
    key_arn: &str,
    retention_days: (i32, i32),
) -> anyhow::Result<()> {
    use aws_sdk_s3::types::{ObjectLockEnabled, ObjectLockRetentionMode, ServerSideEncryption};
    let sdk = moto.sdk_config_in(region).await;
    let s3 = tre_aws::S3ObjectStore::client(&sdk, true);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);

    // The table's stream.
    let table = format!("{prefix}-tre");
    let described = ddb.describe_table().table_name(&table).send().await?;
    let t = described.table().context("DescribeTable: no table")?;
    let spec = t
        .stream_specification()
        .context("the table has no stream")?;
    ensure!(
        spec.stream_enabled()
            && spec.stream_view_type() == Some(&aws_sdk_dynamodb::types::StreamViewType::NewImage),
        "the table's stream: {spec:?}"
    );
    let stream_arn = t.latest_stream_arn().context("no stream ARN")?.to_string();
    println!("{table}: stream {stream_arn} (NEW_IMAGE)");

    // The buckets: the archive as the deployed function's configuration names it, the trail's.
    let config =
        tre_lambda::audit_archive::ArchiveConfig::from_lookup(|k| archive_env.get(k).cloned())
            .context("the audit-archive function's deployed environment")?;
    let archive = format!("{prefix}-{account}-audit-archive");
    ensure!(
        config.bucket == archive,
        "the audit-archive function writes to {}, not {archive}",
        config.bucket
    );
    let trail_bucket = format!("{prefix}-{account}-cloudtrail");
    for (bucket, days, writer) in [
        (&archive, retention_days.0, None),
        (
            &trail_bucket,
            retention_days.1,
            Some("cloudtrail.amazonaws.com"),
        ),
    ] {
        let lock = s3
            .get_object_lock_configuration()
            .bucket(bucket)
            .send()
            .await
            .with_context(|| format!("GetObjectLockConfiguration {bucket}"))?;
        let c = lock
            .object_lock_configuration()
            .with_context(|| format!("{bucket}: no Object Lock configuration"))?;
        let retention = c.rule().and_then(|r| r.default_retention());
        ensure!(
            c.object_lock_enabled() == Some(&ObjectLockEnabled::Enabled)
                && retention.and_then(|r| r.mode()) == Some(&ObjectLockRetentionMode::Compliance)
                && retention.and_then(|r| r.days()) == Some(days)
                // AWS leaves Years out beside Days; moto 5.2.5 answers Years 0.
                && retention.and_then(|r| r.years()).unwrap_or(0) == 0,
            "{bucket}: Object Lock {c:?}, COMPLIANCE for {days} days expected"
        );
        let sse = s3
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .with_context(|| format!("GetBucketEncryption {bucket}"))?;
        let default = sse
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .with_context(|| format!("{bucket}: no default encryption"))?;
        ensure!(
            default.sse_algorithm() == &ServerSideEncryption::AwsKms
                && default.kms_master_key_id() == Some(key_arn),
            "{bucket}: encryption {default:?}, the deployment's key {key_arn} expected"
        );
        let public = s3
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .with_context(|| format!("GetPublicAccessBlock {bucket}"))?;
        let p = public
            .public_access_block_configuration()
            .with_context(|| format!("{bucket}: no public access block"))?;
        ensure!(
            p.block_public_acls() == Some(true)
                && p.block_public_policy() == Some(true)
                && p.ignore_public_acls() == Some(true)
                && p.restrict_public_buckets() == Some(true),
            "{bucket}: public access {p:?}"
        );
        let policy: Value = serde_json::from_str(
            s3.get_bucket_policy()
                .bucket(bucket)
                .send()
                .await
                .with_context(|| format!("GetBucketPolicy {bucket}"))?
                .policy()
                .unwrap_or("{}"),
        )?;
        let statements = as_list(policy.get("Statement"));
        ensure!(
            statements.iter().any(|s| s["Effect"] == "Deny"
                && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"),
            "{bucket}: no TLS-only statement in {policy}"
        );
        if let Some(service) = writer {
            ensure!(
                statements.iter().any(|s| s["Effect"] == "Allow"
                    && s["Principal"]["Service"] == service
                    && as_list(s.get("Action")).contains(&json!("s3:PutObject"))),
                "{bucket}: {service} may not write: {policy}"
            );
        }
        println!("{bucket}: Object Lock COMPLIANCE {days} days, aws:kms with the deployment's key, private, TLS only");
    }

    // The parts the workspace has no SDK crate for: boto3.
    let function = format!("{prefix}-audit-archive");
    let trail_name = format!("{prefix}-tre");
    let audit: Value = serde_json::from_str(&run_python(
        python,
        env,
        &["audit", &function, &trail_name, &archive, &trail_bucket],
    )?)
    .context("rehearsal.py audit: JSON")?;
    // Versioning through boto3 (rehearsal.py says why).
    for bucket in [&archive, &trail_bucket] {
        ensure!(
            audit["versioning"][bucket.as_str()] == "Enabled",
            "{bucket}: versioning {}",
            audit["versioning"][bucket.as_str()]
        );
    }
    println!("{archive}, {trail_bucket}: versioning Enabled");

    let mappings = audit["event_source_mappings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        mappings.len() == 1,
        "{function} has {} event source mappings, one expected: {mappings:?}",
        mappings.len()
    );
    let m = &mappings[0];
    let patterns: Vec<Value> = as_list(m["FilterCriteria"].get("Filters"))
        .iter()
        .map(|f| serde_json::from_str(f["Pattern"].as_str().unwrap_or("null")))
        .collect::<Result<_, _>>()?;
    let want_pattern = json!({
        "eventName": ["INSERT"],
        "dynamodb": {"Keys": {"sk": {"S": [{"prefix": tre_lambda::audit_archive::AUDIT_SK_PREFIX}]}}}
    });
    ensure!(
        m["EventSourceArn"] == stream_arn.as_str()
            && m["FunctionArn"]
                .as_str()
                .is_some_and(|a| a.ends_with(&format!(":function:{function}")))
            && m["StartingPosition"] == "TRIM_HORIZON"
            && m["FunctionResponseTypes"] == json!(["ReportBatchItemFailures"])
            && m["BisectBatchOnFunctionError"] == true
            && m["MaximumRetryAttempts"] == 10
            && m["DestinationConfig"]["OnFailure"]["Destination"]
                .as_str()
                .is_some_and(|d| d.ends_with(&format!(":{function}-dlq")))
            && patterns == [want_pattern],
        "the audit archive's event source mapping: {m:#}"
    );
    println!(
        "{function}: fed by {stream_arn}, filter {}, partial batch failures, failures to {}",
        patterns[0], m["DestinationConfig"]["OnFailure"]["Destination"]
    );

    let trails = audit["trails"].as_array().cloned().unwrap_or_default();
    ensure!(trails.len() == 1, "trail {trail_name}: {trails:?}");
    let trail = &trails[0];
    ensure!(
        trail["S3BucketName"] == trail_bucket.as_str()
            && trail["IsMultiRegionTrail"] == true
            && trail["IncludeGlobalServiceEvents"] == true
            && trail["LogFileValidationEnabled"] == true
            && trail["KmsKeyId"] == key_arn
            && audit["trail_status"]["IsLogging"] == true,
        "the trail: {trail:#}, status {}",
        audit["trail_status"]
    );
    let selectors = audit["advanced_event_selectors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let fields = |s: &Value| -> Vec<(String, String, Vec<String>)> {
        as_list(s.get("FieldSelectors"))
            .iter()
            .map(|f| {
                let (op, values) = f
                    .as_object()
                    .and_then(|o| o.iter().find(|(k, _)| k.as_str() != "Field"))
                    .map(|(k, v)| {
                        let mut vs: Vec<String> = as_list(Some(v))
                            .iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect();
                        vs.sort();
                        (k.clone(), vs)
                    })
                    .unwrap_or_default();
                (
                    f["Field"].as_str().unwrap_or_default().to_string(),
                    op,
                    values,
                )
            })
            .collect()
    };
    let mut data_prefixes: Vec<String> = [
        "import-staging",
        "import-in-review",
        "workspace-data",
        "export-staging",
        "export-in-review",
        "export-approved",
    ]
    .iter()
    .map(|s| format!("arn:aws:s3:::{prefix}-{account}-airlock-{s}/"))
    .chain([
        "arn:aws:s3:::tre-ws-".to_string(),
        format!("arn:aws:s3:::{archive}/"),
    ])
    .collect();
    data_prefixes.sort();
    let s = |v: &str| v.to_string();
    let want = vec![
        vec![(s("eventCategory"), s("Equals"), vec![s("Management")])],
        vec![
            (s("eventCategory"), s("Equals"), vec![s("Data")]),
            (s("resources.type"), s("Equals"), vec![s("AWS::S3::Object")]),
            (s("resources.ARN"), s("StartsWith"), data_prefixes),
        ],
    ];
    // Field selectors are a set (the provider sends them in any order): compare them sorted.
    let got: Vec<_> = selectors
        .iter()
        .map(|s| {
            let mut f = fields(s);
            f.sort();
            f
        })
        .collect();
    let want: Vec<_> = want
        .into_iter()
        .map(|mut f| {
            f.sort();
            f
        })
        .collect();
    ensure!(
        got == want
            && audit["event_selectors"]
                .as_array()
                .is_none_or(Vec::is_empty),
        "the trail's event selectors: {got:#?}, want {want:#?}"
    );
    println!(
        "trail {trail_name}: all regions, log file validation, logging to {trail_bucket};          management events and the objects of the airlock, workspace and archive buckets"
    );

    let detectors = audit["guardduty_detectors"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    ensure!(detectors.len() == 1, "GuardDuty detectors: {detectors:?}");
    let (id, detector) = detectors.iter().next().context("a detector")?;
    ensure!(
        detector["Status"] == "ENABLED"
            && as_list(detector.get("Features"))
                .iter()
                .any(|f| f["Name"] == "S3_DATA_EVENTS" && f["Status"] == "ENABLED"),
        "GuardDuty detector {id}: {detector:#}"
    );
    println!("GuardDuty detector {id}: enabled, S3 protection (S3_DATA_EVENTS) enabled");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infra_applies_serves_and_tears_down_on_moto() -> anyhow::Result<()> {
    let mut phases = Phases::default();
    let started = Instant::now();

    // ---------- what is needed, or a precise failure ----------
    let tf_version = terraform::terraform_version()?;
    let plugins = terraform::plugin_dir()?;
    let openssl = Command::new("openssl").arg("version").output().context(
        "openssl is not on PATH: the rehearsal makes the registry's self-signed certificate with it",
    )?;
    ensure!(openssl.status.success(), "openssl version failed");
    let python = python()?;
    println!(
        "terraform {tf_version}, providers from {}, {}",
        plugins.display(),
        String::from_utf8_lossy(&openssl.stdout).trim()
    );

    let infra = root().join("infra");
    let override_text = std::fs::read_to_string(root().join("tests/infra/moto_override.tf"))?;
    let notes = override_notes(&override_text)?;
    println!("== what tests/infra/moto_override.tf changes for moto 5.2.5, and why");
    for n in &notes {
        println!("- {} [{}]: {}", n.address, n.what, n.why);
        ensure!(
            !n.why.is_empty(),
            "tests/infra/moto_override.tf: `{}` has no comment saying why",
            n.address
        );
    }
    let excluded: BTreeSet<&str> = notes
        .iter()
        .filter(|n| n.what == "EXCLUDED")
        .map(|n| n.address.as_str())
        .collect();
    println!("excluded from the apply: {excluded:?}");
    let example = std::fs::read_to_string(infra.join("terraform.tfvars.example"))?;
    let prefix = tfvars(&example, "name_prefix")?;
    let registry_domain = tfvars(&example, "registry_domain")?;

    // ---------- moto ----------
    let t = Instant::now();
    // AWS managed policies exist (AWSLambdaVPCAccessExecutionRole is attached to every function).
    let moto = MotoServer::start_with(&[("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")]).await?;
    // CloudFront distributions are Deployed at once (the provider waits on create and delete).
    moto.set_transition(
        "cloudfront::distribution",
        json!({"progression": "immediate"}),
    )
    .await?;
    let env = terraform::moto_env(&moto);
    phases.done("moto", t);

    // ---------- what the example values name but a rehearsal must make ----------
    let t = Instant::now();
    let fixtures = tempfile::Builder::new()
        .prefix("tre-rehearsal-")
        .tempdir()?;
    let (crt, key) = (
        fixtures.path().join("registry.crt"),
        fixtures.path().join("registry.key"),
    );
    let cert = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-subj")
        .arg(format!("/CN={registry_domain}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{registry_domain}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()?;
    ensure!(
        cert.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&cert.stderr)
    );
    let cert_arn = run_python(
        &python,
        &env,
        &[
            "import-certificate",
            &crt.display().to_string(),
            &key.display().to_string(),
        ],
    )?;
    let crates: Vec<String> = std::fs::read_dir(root().join("functions"))?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<anyhow::Result<_>>()?;
    let lambda_dir = fixtures.path().join("lambda");
    let mut zips = vec!["lambda-zips".to_string(), lambda_dir.display().to_string()];
    zips.extend(crates.iter().cloned());
    run_python(
        &python,
        &env,
        &zips.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    let outputs_tf =
        state_machine_outputs_tf(&std::fs::read_to_string(infra.join("provisioning.tf"))?)?;
    let console = root().join("console");
    let statemachines = root().join("statemachines");
    let wd = Arc::new(Workdir::with_layout(
        &infra,
        &moto,
        &Layout {
            subdir: "infra",
            include: infra_file,
            // infra/ reads ../console and ../statemachines.
            links: &[
                ("console", console.as_path()),
                ("statemachines", statemachines.as_path()),
            ],
            files: &[
                (
                    "moto_override.tf",
                    override_text.replace("MOTO_ENDPOINT", &moto.endpoint()),
                ),
                ("rehearsal_outputs.tf", outputs_tf),
                // The console's CSP is in a response headers policy moto lacks: read its
                // connect-src from what Terraform renders instead.
                (
                    "rehearsal_console.tf",
                    "output \"rehearsal_console_connects\" {\n  value = local.console_connects\n}\n"
                        .to_string(),
                ),
            ],
        },
    )?);
    let lambda_var = format!("lambda_artifacts_dir={}", lambda_dir.display());
    let cert_var = format!("registry_certificate_arn={cert_arn}");
    let vars = [
        "-var-file=terraform.tfvars.example",
        "-var",
        &lambda_var,
        "-var",
        &cert_var,
        // GuardDuty is off by default (an account usually has its detector already): on here,
        // so the detector and its S3 protection are applied and read back too.
        "-var",
        "enable_guardduty=true",
    ];
    let with = |args: &[&str], extra: &[&str]| -> Vec<String> {
        args.iter()
            .chain(vars.iter())
            .chain(extra.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        wd.run(&args)
            .map(|(out, _)| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    phases.done("fixtures", t);

    // ---------- Terraform: init, validate, apply, a plan with no changes ----------
    let t = Instant::now();
    wd.run(&["init", "-input=false", "-no-color"])?;
    phases.done("init", t);
    let t = Instant::now();
    wd.run(&["validate", "-no-color"])?;
    phases.done("validate", t);
    let t = Instant::now();
    let applied = run(with(
        &[
            "apply",
            PARALLELISM,
            "-auto-approve",
            "-input=false",
            "-no-color",
        ],
        &[],
    ))?;
    ensure!(
        applied.contains("Apply complete!"),
        "apply did not complete:\n{applied}"
    );
    let state = run(vec!["state".into(), "list".into()])?;
    let resources = state.lines().filter(|l| !l.starts_with("data.")).count();
    println!("{resources} resources applied");
    phases.done("apply", t);

    // What Terraform rendered for the state machines (read before the plans below hold the
    // state's lock).
    let rendered = wd.outputs()?;

    // The two plans read the deployment only, and nothing the wiring writes (items, messages,
    // executions, the test's own state machines) is in Terraform's state: they run one after
    // the other alongside the read-back and the wiring, whose longest part is waiting for moto's
    // execution. First the plan that must report no changes, then the rotation plan.
    let plans = {
        let wd = Arc::clone(&wd);
        let no_change = with(&[PARALLELISM], &[]);
        let rotate = with(&[PARALLELISM], &["-var", "registry_token_key_version=2"]);
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let plan = |args: &[String]| {
                let started = Instant::now();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                wd.pending_changes(&args).map(|p| (p, started.elapsed()))
            };
            Ok((plan(&no_change)?, plan(&rotate)?))
        })
    };

    // ---------- read-back of what was deployed ----------
    let t = Instant::now();
    let deployed: Value = serde_json::from_str(&run_python(&python, &env, &["deployed"])?)
        .context("rehearsal.py deployed: JSON")?;
    let functions = deployed["functions"]
        .as_object()
        .context("no functions read back")?;
    let want: BTreeSet<String> = crates.iter().map(|c| format!("{prefix}-{c}")).collect();
    let got: BTreeSet<String> = functions.keys().cloned().collect();
    ensure!(
        got == want,
        "deployed Lambdas {got:?}, one per crate of functions/ expected: {want:?}"
    );
    let mut envs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (name, f) in functions {
        let c = &f["configuration"];
        let crate_name = name.trim_start_matches(&format!("{prefix}-")).to_string();
        ensure!(
            c["Handler"] == "bootstrap" && c["Runtime"] == "provided.al2023",
            "{name}: handler {} runtime {}",
            c["Handler"],
            c["Runtime"]
        );
        let role = c["Role"].as_str().unwrap_or_default();
        ensure!(
            role.ends_with(&format!(":role/{name}")) && f["role"]["arn"] == c["Role"],
            "{name} runs as {role}, not its own role"
        );
        let vars: BTreeMap<String, String> = c["Environment"]["Variables"]
            .as_object()
            .with_context(|| format!("{name} has no environment"))?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        for v in tre_lambda::AWS_ENV_VARS {
            ensure!(vars.contains_key(*v), "{name}: {v} is not set");
        }
        println!(
            "{name}: handler {} role {role}, {} variables",
            c["Handler"],
            vars.len()
        );
        envs.insert(crate_name, vars);
    }
    let region = functions
        .values()
        .next()
        .and_then(|f| f["configuration"]["FunctionArn"].as_str())
        .and_then(|arn| arn.split(':').nth(3))
        .context("the functions' region")?
        .to_string();
    let account = functions
        .values()
        .next()
        .and_then(|f| f["configuration"]["FunctionArn"].as_str())
        .and_then(|arn| arn.split(':').nth(4))
        .context("the functions' account")?
        .to_string();
    // Review environments are swept on a schedule: a rule sends the status queue a message the
    // status consumer understands.
    let sweep = &deployed["schedules"][format!("{prefix}-review-sweep")];
    ensure!(
        sweep["schedule"] == "rate(5 minutes)" && sweep["state"] == "ENABLED",
        "the review sweep's schedule: {sweep}"
    );
    let targets = sweep["targets"].as_array().cloned().unwrap_or_default();
    ensure!(
        targets.len() == 1
            && targets[0]["arn"]
                .as_str()
                .is_some_and(|a| a.ends_with(&format!(":{prefix}-status"))),
        "the review sweep must target the status queue: {sweep}"
    );
    let input = targets[0]["input"].as_str().unwrap_or_default();
    ensure!(
        matches!(
            tre_core::app::StatusQueueMessage::parse(input),
            Ok(tre_core::app::StatusQueueMessage::SweepReviewEnvironments)
        ),
        "the review sweep sends {input:?}, which the status consumer does not take as a sweep"
    );
    phases.done("read-back", t);

    // ---------- browser uploads and downloads: the airlock buckets' CORS, the console's CSP ----------
    let t = Instant::now();
    check_airlock_cors(&moto, &region, &account, &prefix, &rendered).await?;
    phases.done("airlock-cors", t);

    // ---------- the audit trail: stream, archive, CloudTrail, GuardDuty ----------
    let t = Instant::now();
    for (function, vars) in tre_lambda::FUNCTION_ENV_VARS {
        for v in *vars {
            ensure!(
                envs[*function].contains_key(*v),
                "{function}: {v} is not set"
            );
        }
    }
    let key_arn = functions[&format!("{prefix}-audit-archive")]["configuration"]["KMSKeyArn"]
        .as_str()
        .context("the functions' KMS key")?
        .to_string();
    let days = |name: &str| -> anyhow::Result<i32> {
        let body: hcl::Body = hcl::from_str(&example)?;
        let v = body
            .attributes()
            .find(|a| a.key() == name)
            .map(|a| a.expr().to_string())
            .with_context(|| format!("terraform.tfvars.example sets no {name}"))?;
        Ok(v.trim().parse()?)
    };
    check_audit(
        &moto,
        &python,
        &env,
        &region,
        &account,
        &prefix,
        &envs["audit-archive"],
        &key_arn,
        (
            days("audit_retention_days")?,
            days("cloudtrail_retention_days")?,
        ),
    )
    .await?;
    phases.done("audit", t);

    // ---------- every IAM action the code needs, in the deployed policies ----------
    let t = Instant::now();
    let mut missing = Vec::new();
    let mut checked = 0;
    println!("IAM (action match on the deployed policies):");
    for (function, calls) in tre_lambda::FUNCTION_SDK_CALLS {
        let f = &functions[&format!("{prefix}-{function}")];
        checked += check_role_allows(function, &f["role"], calls, &mut missing)?;
    }
    let tasks = &deployed["task_definitions"];
    for (family, calls) in [
        ("bundle-runner", bundle_runner::SDK_CALLS),
        ("airlock-runner", airlock_runner::process::SDK_CALLS),
        ("registry", tre_registry::SDK_CALLS),
    ] {
        let role = &tasks[format!("{prefix}-{family}")]["task_role"];
        ensure!(
            role.is_object(),
            "the {prefix}-{family} task definition has no task role read back"
        );
        checked += check_role_allows(family, role, calls, &mut missing)?;
    }
    ensure!(
        missing.is_empty(),
        "the code calls what the deployed policies do not allow:\n{}",
        missing.join("\n")
    );
    println!("{checked} (role, action) pairs allowed");
    phases.done("iam", t);

    // ---------- the wiring ----------
    let t = Instant::now();
    // Only what an emulator needs: its endpoint and test credentials; the region the
    // functions run in.
    let sdk = moto.sdk_config_in(&region).await;
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);

    // moto's interpreter runs executions (its default only records them); it is a backend of
    // its own, so it is on before the machines are created.
    moto.enable_state_machine_execution().await?;
    let machines = rendered["rehearsal_state_machines"]
        .as_object()
        .context("the rehearsal_state_machines output")?
        .clone();
    let mut created = Vec::new();
    if excluded.contains("aws_sfn_state_machine.machine") {
        for spec in machines.values() {
            let spec = spec.as_object().context("a state machine's arguments")?;
            created.push(create_state_machine(&sfn, spec).await?);
        }
        println!(
            "created {} state machines as infra/ renders them: {created:?}",
            created.len()
        );
    }

    let settings = |function: &str| -> anyhow::Result<tre_lambda::Settings> {
        let env = envs
            .get(function)
            .with_context(|| format!("no environment read back for {function}"))?;
        let s = tre_lambda::Settings::from_lookup(|k| env.get(k).cloned());
        ensure!(
            s.data_dir.is_none(),
            "{function}'s environment selects the embedded backend"
        );
        Ok(s)
    };
    let router = |group: RouteGroup| -> anyhow::Result<axum::Router> {
        let s = settings(group.function_name())?;
        let app = tre_lambda::app_from_settings(&s, &sdk)?;
        Ok(tre_lambda::api_router(group, app, &s)?)
    };
    let workspaces_env = &envs["api-workspaces"];
    let claims = admin_claims(workspaces_env)?;

    // Health through the meta group: a GetItem on the deployed table.
    let (status, body) = call(
        &router(RouteGroup::Meta)?,
        &api_event("GET", "/api/health", None, None),
    )
    .await?;
    ensure!(
        status == 200 && body["status"] == "ok",
        "GET /api/health: {status} {body}"
    );

    // A template, through the templates group, as TREAdmin.
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(
        root().join("events/api-templates/register-workspace-template.json"),
    )?)?;
    let mut template: Value =
        serde_json::from_str(sample["body"].as_str().context("sample body")?)?;
    template["bundle"] = json!(BUNDLE);
    let (status, body) = call(
        &router(RouteGroup::Templates)?,
        &api_event(
            "POST",
            "/api/workspace-templates",
            Some(&claims),
            Some(&template),
        ),
    )
    .await?;
    ensure!(
        status == 201,
        "POST /api/workspace-templates: {status} {body}"
    );
    let template_name = template["name"].as_str().context("template name")?;

    // A workspace, through the workspaces group.
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(
        root().join("events/api-workspaces/create-workspace.json"),
    )?)?;
    let create: Value = serde_json::from_str(sample["body"].as_str().context("sample body")?)?;
    let (status, body) = call(
        &router(RouteGroup::Workspaces)?,
        &api_event("POST", "/api/workspaces", Some(&claims), Some(&create)),
    )
    .await?;
    ensure!(status == 202, "POST /api/workspaces: {status} {body}");
    let ws_id = body["operation"]["resourceId"]
        .as_str()
        .context("workspace id")?
        .to_string();
    let op_id = body["operation"]["id"]
        .as_str()
        .context("operation id")?
        .to_string();
    let step_id = body["operation"]["steps"][0]["id"]
        .as_str()
        .context("step id")?
        .to_string();

    // Its item is in the DEPLOYED table.
    let table = workspaces_env[tre_aws::ENV_TABLE].clone();
    let item = table_item(&ddb, &table, &format!("RES#{ws_id}"), "META").await?;
    ensure!(
        item["id"] == ws_id.as_str()
            && item["templateName"] == template_name
            && item["deploymentStatus"] == "awaiting_deployment",
        "the workspace item in {table}: {item}"
    );
    println!("workspace {ws_id} in {table}: {}", item["deploymentStatus"]);

    // It started an execution of the deployed resource-action state machine.
    let machine_arn = format!(
        "{}resource-action",
        workspaces_env[tre_aws::ENV_STATE_MACHINE_PREFIX]
    );
    let listed = sfn
        .list_executions()
        .state_machine_arn(&machine_arn)
        .send()
        .await
        .context("ListExecutions")?;
    let names: Vec<&str> = listed.executions().iter().map(|e| e.name()).collect();
    ensure!(
        names == [op_id.as_str()],
        "executions of {machine_arn}: {names:?}, want one named after operation {op_id}"
    );
    let execution_arn = listed.executions()[0].execution_arn().to_string();
    let described = sfn
        .describe_execution()
        .execution_arn(&execution_arn)
        .send()
        .await?;
    let input: Value = serde_json::from_str(described.input().unwrap_or("null"))?;
    let step = &input["steps"][0];
    ensure!(
        input["operationId"] == op_id.as_str()
            && input["resourceId"] == ws_id.as_str()
            && input["action"] == "install"
            && step["stepId"] == step_id.as_str()
            && step["bundle"] == BUNDLE
            && step["templateName"] == template_name,
        "the execution's input: {input}"
    );
    // The pull token in it is signed with the deployed key (the registry's secret).
    let key = settings("api-workspaces")?
        .registry_token_key()?
        .context("api-workspaces has no registry token key")?;
    let (subject, access) = key
        .verify(step["registryToken"].as_str().unwrap_or_default())
        .map_err(|e| anyhow::anyhow!("the step's registry token: {e}"))?;
    ensure!(
        subject == "bundle-runner"
            && access
                .iter()
                .any(|a| a.allows("repository", BUNDLE_REPOSITORY, "pull")),
        "the step's registry token grants {access:?} to {subject}"
    );

    // The status consumer, with its own deployed environment, applies a runner's message
    // received from the deployed status queue.
    let consumer = tre_lambda::app_from_settings(&settings("status-consumer")?, &sdk)?;
    let queue_url = envs["status-consumer"][tre_aws::ENV_STATUS_QUEUE_URL].clone();
    let running = tre_core::app::StatusMessage {
        operation_id: op_id.clone(),
        step_id: step_id.clone(),
        resource_id: ws_id.clone(),
        operation_resource_id: None,
        status: tre_core::domain::StepOutcome::Running,
        message: "the rehearsal's runner started".into(),
        outputs: Map::new(),
        sensitive_outputs: Map::new(),
        sequence: 1,
    };
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body(serde_json::to_string(&running)?)
        .send()
        .await
        .context("SendMessage to the status queue")?;
    consume(
        &sqs,
        &queue_url,
        &region,
        &consumer,
        1,
        Duration::from_secs(30),
    )
    .await?;
    let item = table_item(&ddb, &table, &format!("RES#{ws_id}"), "META").await?;
    ensure!(
        item["deploymentStatus"] == "deploying",
        "after the running message the workspace is {}",
        item["deploymentStatus"]
    );

    // What moto 5.2.5 does with the execution (its interpreter on): the Map and the Choice
    // reach RunBundleAction (ecs:runTask.sync) with the deployed cluster, task definition,
    // subnets and security group. moto's port of the interpreter hands the state's Parameters
    // to botocore as written (PascalCase: `Cluster`), where ECS's JSON API names them in
    // camelCase, so botocore's serializer fails on the unknown member and the task is never
    // started: TaskFailed States.Runtime, cause `'Cluster'`, on the first attempt and on each
    // of the Retry's 3 (5, 10, 20 s apart). The Catch then sends the failure report to the
    // deployed status queue and the execution fails TRE.StepFailed — the path a real account
    // takes when a task cannot start.
    let deadline = Instant::now() + Duration::from_secs(120);
    let ended = loop {
        let d = sfn
            .describe_execution()
            .execution_arn(&execution_arn)
            .send()
            .await?;
        if d.status() != &aws_sdk_sfn::types::ExecutionStatus::Running {
            break d;
        }
        ensure!(
            Instant::now() < deadline,
            "execution {execution_arn} still RUNNING after 2 minutes"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    ensure!(
        ended.status() == &aws_sdk_sfn::types::ExecutionStatus::Failed
            && ended.error() == Some("TRE.StepFailed"),
        "execution ended {:?} {:?} {:?}",
        ended.status(),
        ended.error(),
        ended.cause()
    );
    let history = sfn
        .get_execution_history()
        .execution_arn(&execution_arn)
        .max_results(1000)
        .send()
        .await?;
    let definition: Value = serde_json::from_str(
        machines["resource-action"]["definition"]
            .as_str()
            .context("resource-action definition")?,
    )?;
    let task_params = &definition["States"]["RunSteps"]["ItemProcessor"]["States"]
        ["RunBundleAction"]["Parameters"];
    let (mut ecs_scheduled, mut ecs_failed, mut reported) = (0, 0, 0);
    for e in history.events() {
        if let Some(s) = e.task_scheduled_event_details() {
            let params: Value = serde_json::from_str(s.parameters())?;
            match (s.resource_type(), s.resource()) {
                ("ecs", "runTask.sync") => {
                    ensure!(
                        params["Cluster"] == task_params["Cluster"]
                            && params["TaskDefinition"] == task_params["TaskDefinition"]
                            && params["NetworkConfiguration"]
                                == task_params["NetworkConfiguration"],
                        "RunBundleAction was scheduled with {params}"
                    );
                    ecs_scheduled += 1;
                }
                ("sqs", "sendMessage") => {
                    ensure!(
                        params["QueueUrl"] == queue_url.as_str()
                            && params["MessageBody"]["status"] == "failed",
                        "the failure report went as {params}"
                    );
                    reported += 1;
                }
                other => bail!("unexpected task {other:?} in the execution"),
            }
        }
        if let Some(f) = e.task_failed_event_details() {
            ensure!(
                f.error() == Some("States.Runtime") && f.cause() == Some("'Cluster'"),
                "RunBundleAction failed otherwise than moto 5.2.5 does: {:?} {:?}",
                f.error(),
                f.cause()
            );
            ecs_failed += 1;
        }
    }
    ensure!(
        ecs_scheduled == 4 && ecs_failed == 4 && reported == 1,
        "want RunBundleAction tried 4 times (1 + Retry 3), failing each, then one failure \
         report; got {ecs_scheduled} scheduled, {ecs_failed} failed, {reported} reported"
    );
    println!(
        "execution {op_id}: RunBundleAction tried {ecs_scheduled} times, failed in moto's \
         interpreter ('Cluster'), failure reported, ended {:?} {:?}",
        ended.status(),
        ended.error()
    );

    // The state machine's own failure report, from the deployed queue, through the consumer.
    let bodies = consume(
        &sqs,
        &queue_url,
        &region,
        &consumer,
        1,
        Duration::from_secs(30),
    )
    .await?;
    ensure!(
        bodies[0]["operationId"] == op_id.as_str() && bodies[0]["status"] == "failed",
        "the failure report: {}",
        bodies[0]
    );
    let item = table_item(&ddb, &table, &format!("RES#{ws_id}"), "META").await?;
    let op = table_item(
        &ddb,
        &table,
        &format!("RES#{ws_id}"),
        &format!("OP#{op_id}"),
    )
    .await?;
    ensure!(
        item["deploymentStatus"] == "deployment_failed"
            && op["status"] == "deployment_failed"
            && op["steps"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("States.Runtime")),
        "after the failure report: workspace {}, operation {op}",
        item["deploymentStatus"]
    );
    println!("workspace {ws_id}: deploying, then deployment_failed, in {table}");

    // Nothing of the test's own may outlive the deployment (the leftovers check).
    for arn in &created {
        sfn.delete_state_machine()
            .state_machine_arn(arn)
            .send()
            .await
            .context("DeleteStateMachine")?;
    }
    phases.done("wiring", t);

    let t = Instant::now();
    let ((after_apply, took), (rotation, rotation_took)) = plans.await??;
    if let Some(plan) = after_apply {
        bail!(
            "the plan right after apply is not empty (a perpetual diff):\n{}\n\n---- the plan ----\n{plan}",
            plan_summary(&plan)
        );
    }
    println!(
        "plan right after apply ({:.1} s, alongside): no changes",
        took.as_secs_f64()
    );
    // Rotating the registry token key (registry.tf) replaces the secret's version and, with it,
    // changes every Lambda's environment and the registry's task definition.
    let plan = rotation.context("rotating the registry token key plans no change")?;
    let mut expected = vec![
        "# aws_secretsmanager_secret_version.registry_token_key must be replaced".to_string(),
        "# aws_ecs_task_definition.registry must be replaced".to_string(),
    ];
    expected.extend(
        crates
            .iter()
            .map(|c| format!("# aws_lambda_function.function[\"{c}\"] will be updated in-place")),
    );
    for line in &expected {
        ensure!(
            plan.contains(line.as_str()),
            "the rotation plan lacks `{line}`:\n{}",
            plan_summary(&plan)
        );
    }
    println!(
        "rotation plan ({:.1} s, alongside): {}",
        rotation_took.as_secs_f64(),
        plan.lines().find(|l| l.starts_with("Plan:")).unwrap_or("?")
    );
    phases.done("plans (what outlasted the wiring)", t);

    // ---------- teardown, as in a real account ----------
    let t = Instant::now();
    let teardown = [
        "-refresh=false",
        "-auto-approve",
        "-no-color",
        "-input=false",
    ];
    let off = ["-var", "deletion_protection=false"];
    let unprotect = run(with(
        &[&["apply", PARALLELISM][..], &teardown[..]].concat(),
        &off,
    ))?;
    ensure!(
        unprotect.contains("Apply complete!"),
        "unprotect:\n{unprotect}"
    );
    phases.done("unprotect", t);
    // moto 5.2.5 answers 500 deleting a delete marker in a bucket whose versioning is suspended:
    // suspend the console bucket's versioning first (tests/infra/rehearse.sh says more).
    let t = Instant::now();
    run(with(
        &[&["destroy", PARALLELISM][..], &teardown[..]].concat(),
        &[&off[..], &["-target=aws_s3_bucket_versioning.console"][..]].concat(),
    ))?;
    phases.done("destroy (console versioning)", t);
    let t = Instant::now();
    let destroyed = run(with(
        &[&["destroy", PARALLELISM][..], &teardown[..]].concat(),
        &off,
    ))?;
    ensure!(
        destroyed.contains("Destroy complete!"),
        "destroy:\n{destroyed}"
    );
    let state = run(vec!["state".into(), "list".into()])?;
    ensure!(state.trim().is_empty(), "left in the state:\n{state}");
    phases.done("destroy", t);

    let t = Instant::now();
    // moto 5.2.5 ignores DeleteTrail by ARN, which is how the provider deletes the trail
    // (tests/infra/rehearsal.py trail_gap says more): delete it by name first.
    println!(
        "{}",
        run_python(&python, &env, &["trail-gap", &format!("{prefix}-tre")])?
    );
    let left: Value = serde_json::from_str(&run_python(&python, &env, &["leftovers"])?)?;
    ensure!(
        left.as_object().is_some_and(Map::is_empty),
        "left behind after destroy (read back through the AWS APIs): {left:#}"
    );
    println!("nothing left behind");
    phases.done("leftovers", t);
    println!("whole rehearsal: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
