//! `tre airlock`: requests of a workspace, uploads (streamed, with a progress bar), submission,
//! review and downloads (checked against the checksum the airlock recorded).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::client::ApiClient;
use crate::output::Output;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RequestType {
    Import,
    Export,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Decision {
    Approve,
    Reject,
}

#[derive(Subcommand, Debug)]
pub enum AirlockAction {
    /// The requests of the workspace.
    List,
    /// One request: files with sizes and sha256, scan result, reviews, history.
    Show { request: String },
    /// Open a request (a draft); prints it.
    Create {
        #[arg(long = "type", value_enum)]
        kind: RequestType,
        /// A short title (`Airlock Request` when left out).
        #[arg(long)]
        title: Option<String>,
        /// Why the data must move: what the reviewers decide on.
        #[arg(long, alias = "business-justification")]
        justification: String,
    },
    /// Upload files to a draft (each streamed from disk to its pre-signed link).
    Upload {
        request: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Take a file off a draft (an abandoned upload): deletes what was staged of it, and with
    /// `--upload-id` aborts its upload in parts, so the draft can be submitted without it.
    RemoveFile {
        request: String,
        file: String,
        #[arg(long)]
        upload_id: Option<String>,
    },
    /// Submit a draft: its files are copied, scanned, then reviewed.
    Submit { request: String },
    /// Cancel a draft or a request in review.
    Cancel { request: String },
    /// Approve or reject a request in review (airlock managers; an explanation is mandatory).
    Review {
        request: String,
        #[arg(long, value_enum)]
        decision: Decision,
        /// Why: the requester and the audit history see it.
        #[arg(long, alias = "explanation")]
        comment: String,
    },
    /// Revoke an approved request.
    Revoke {
        request: String,
        /// Why the approval is withdrawn.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Your review environment for a request in review (airlock managers): made where the
    /// workspace's `airlock_review_config` says, unless you have one; `--show` only looks.
    ReviewEnv {
        request: String,
        /// Only show the one you have (404 when none), make nothing.
        #[arg(long)]
        show: bool,
    },
    /// The request's link: in draft a form upload for its files, afterwards a read link per
    /// file (for whoever may read them).
    Link { request: String },
    /// Download a file (reviewers while in review; requesters once an export is approved).
    Download {
        request: String,
        file: String,
        /// Where to write it (default: the file's name in the current folder). Not `-o`:
        /// that is the global `--output` format.
        #[arg(long = "to", value_name = "PATH")]
        dest: Option<PathBuf>,
    },
}

pub(crate) fn bar(len: u64, name: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(name.to_string());
    bar
}

pub(crate) fn file_name(path: &Path) -> anyhow::Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .with_context(|| format!("{} has no usable file name", path.display()))
}

async fn upload(client: &ApiClient, base: &str, path: &Path) -> anyhow::Result<()> {
    let name = file_name(path)?;
    let len = tokio::fs::metadata(path)
        .await
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let link = client
        .call(
            Method::POST,
            &format!("{base}/files"),
            Some(&json!({"name": name, "size": len})),
            None,
        )
        .await?
        .body;
    let progress = bar(len, &name);
    if link["method"] == "MULTIPART" {
        // Large files go up in parts, each to its own link, then are assembled by the API.
        let mut done = Vec::new();
        for part in link["multipart"]["parts"]
            .as_array()
            .context("the API gave no parts")?
        {
            let url = part["url"].as_str().context("a part has no link")?;
            let offset = part["offset"].as_u64().context("a part has no offset")?;
            let size = part["size"].as_u64().context("a part has no size")?;
            let etag = put_range(path, url, offset, size, &progress).await?;
            done.push(json!({"partNumber": part["partNumber"], "etag": etag}));
        }
        let complete = link["url"]
            .as_str()
            .context("the API gave no completion route")?;
        let upload_id = &link["multipart"]["uploadId"];
        client
            .call(
                Method::POST,
                complete,
                Some(&json!({"uploadId": upload_id, "parts": done})),
                None,
            )
            .await?;
    } else {
        let url = link["url"]
            .as_str()
            .context("the API gave no upload link")?;
        put_range(path, url, 0, len, &progress).await?;
    }
    progress.finish();
    Ok(())
}

/// PUT `size` bytes of the file from `offset`, streamed; returns the answer's ETag.
pub(crate) async fn put_range(
    path: &Path,
    url: &str,
    offset: u64,
    size: u64,
    progress: &ProgressBar,
) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let shown = progress.clone();
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(size), 1 << 20).inspect(
        move |chunk| {
            if let Ok(c) = chunk {
                shown.inc(c.len() as u64);
            }
        },
    );
    let resp = reqwest::Client::new()
        .put(url)
        // Pre-signed PUTs need the length: the body is streamed, never held in memory.
        .header(reqwest::header::CONTENT_LENGTH, size)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .with_context(|| format!("uploading {}", path.display()))?;
    let status = resp.status();
    let etag = resp
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        bail!("uploading {}: {status}: {text}", path.display());
    }
    Ok(etag)
}

async fn download(
    client: &ApiClient,
    base: &str,
    file: &str,
    output: Option<PathBuf>,
) -> anyhow::Result<()> {
    let request = client.get(base).await?;
    let expected = request["airlockRequest"]["files"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["name"] == file))
        .and_then(|f| f["sha256"].as_str())
        .map(str::to_string);
    let link = client.get(&format!("{base}/files/{file}/link")).await?;
    let url = link["url"]
        .as_str()
        .context("the API gave no download link")?;
    let resp = reqwest::get(url)
        .await
        .with_context(|| format!("downloading {file}"))?;
    if !resp.status().is_success() {
        bail!("downloading {file}: {}", resp.status());
    }
    let out = output.unwrap_or_else(|| PathBuf::from(file));
    // Written beside the target and renamed only once the checksum matched.
    let partial = out.with_extension("partial");
    let mut dst = tokio::fs::File::create(&partial)
        .await
        .with_context(|| format!("creating {}", partial.display()))?;
    let progress = bar(resp.content_length().unwrap_or(0), file);
    let mut hasher = Sha256::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.with_context(|| format!("downloading {file}"))?;
        hasher.update(&chunk);
        dst.write_all(&chunk).await?;
        progress.inc(chunk.len() as u64);
    }
    dst.flush().await?;
    progress.finish();
    let got = hex::encode(hasher.finalize());
    if let Some(want) = expected {
        if got != want {
            let _ = tokio::fs::remove_file(&partial).await;
            bail!("{file}: sha256 {got} does not match the recorded {want}; nothing was kept");
        }
    }
    tokio::fs::rename(&partial, &out).await?;
    eprintln!("{file}: sha256 {got} -> {}", out.display());
    Ok(())
}

pub async fn run(
    client: &ApiClient,
    out: &Output,
    workspace: &str,
    action: AirlockAction,
) -> anyhow::Result<()> {
    let requests = format!("/api/workspaces/{workspace}/requests");
    let one = |id: &str| format!("{requests}/{id}");
    let post = |path: String, body: Value| async move {
        client
            .call(Method::POST, &path, Some(&body), None)
            .await
            .map(|r| r.body)
    };
    let shown = match action {
        AirlockAction::List => client.get_all(&requests).await?,
        AirlockAction::Show { request } => client.get(&one(&request)).await?,
        AirlockAction::Create {
            kind,
            title,
            justification,
        } => {
            let kind = match kind {
                RequestType::Import => "import",
                RequestType::Export => "export",
            };
            let mut body = json!({"type": kind, "businessJustification": justification});
            if let Some(t) = title {
                body["title"] = json!(t);
            }
            post(requests.clone(), body).await?
        }
        AirlockAction::Upload { request, files } => {
            for f in &files {
                upload(client, &one(&request), f).await?;
            }
            client.get(&one(&request)).await?
        }
        AirlockAction::RemoveFile {
            request,
            file,
            upload_id,
        } => {
            let mut path = format!("{}/files/{file}", one(&request));
            if let Some(id) = upload_id {
                let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
                path.push_str(&format!("?upload_id={id}"));
            }
            client.call(Method::DELETE, &path, None, None).await?;
            client.get(&one(&request)).await?
        }
        AirlockAction::Submit { request } => {
            post(format!("{}/submit", one(&request)), json!({})).await?
        }
        AirlockAction::Cancel { request } => {
            post(format!("{}/cancel", one(&request)), json!({})).await?
        }
        AirlockAction::Revoke { request, reason } => {
            let body = match reason {
                Some(r) => json!({"reason": r}),
                None => json!({}),
            };
            post(format!("{}/revoke", one(&request)), body).await?
        }
        AirlockAction::Link { request } => client.get(&format!("{}/link", one(&request))).await?,
        AirlockAction::ReviewEnv { request, show } => {
            let path = format!("{}/review-user-resource", one(&request));
            if show {
                client.get(&path).await?
            } else {
                post(path, json!({})).await?
            }
        }
        AirlockAction::Review {
            request,
            decision,
            comment,
        } => {
            let approval = matches!(decision, Decision::Approve);
            post(
                format!("{}/review", one(&request)),
                json!({"approval": approval, "decisionExplanation": comment}),
            )
            .await?
        }
        AirlockAction::Download {
            request,
            file,
            dest,
        } => return download(client, &one(&request), &file, dest).await,
    };
    Ok(out.emit(&shown)?)
}

/// `tre airlock queue`: what waits for the caller's review.
pub async fn queue(client: &ApiClient, out: &Output) -> anyhow::Result<()> {
    let v = client.get_all("/api/airlock/review-queue").await?;
    Ok(out.emit(&v)?)
}

/// `tre airlock mine`: the caller's requests in every workspace, or with `airlock_manager`
/// every request of the workspaces where the caller is an airlock manager.
pub async fn mine(client: &ApiClient, out: &Output, airlock_manager: bool) -> anyhow::Result<()> {
    let v = client
        .get_all(&format!("/api/requests?airlock_manager={airlock_manager}"))
        .await?;
    Ok(out.emit(&v)?)
}
