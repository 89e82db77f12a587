//! `tre bundle`: package a bundle directory as an OCI artifact, store it in an OCI layout or
//! push it to a registry, and register its template.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use tre_bundle::{BundleRef, Reference};

use crate::client::ApiClient;

#[derive(Subcommand)]
pub enum BundleAction {
    /// Package DIR into an OCI image layout (default: the local stack's, `.tre/bundles`).
    Build {
        dir: PathBuf,
        #[arg(long, default_value = ".tre/bundles")]
        layout: PathBuf,
        /// Tag in the layout (default: the bundle's version).
        #[arg(long)]
        tag: Option<String>,
    },
    /// Package DIR and push it to a registry, e.g. `127.0.0.1:5000/tre/bundles/base:1.0.0`.
    Push {
        dir: PathBuf,
        target: String,
        /// Token for the registry's token flow (defaults to the TRE token).
        #[arg(long, env = "TRE_REGISTRY_TOKEN", hide_env_values = true)]
        registry_token: Option<String>,
    },
    /// Package DIR (into the layout, or pushed to `--push` target) and register its template.
    Register {
        dir: PathBuf,
        #[arg(long, default_value = ".tre/bundles")]
        layout: PathBuf,
        #[arg(long)]
        push: Option<String>,
        #[arg(long, env = "TRE_REGISTRY_TOKEN", hide_env_values = true)]
        registry_token: Option<String>,
    },
}

/// Build, then store; returns the artifact and its digest-pinned reference.
async fn package(
    dir: &Path,
    layout: &Path,
    tag: Option<String>,
    push: Option<&str>,
    token: Option<String>,
) -> anyhow::Result<(tre_bundle::BundleArtifact, String)> {
    let artifact = tre_bundle::build(dir).with_context(|| format!("building {}", dir.display()))?;
    let reference = match push {
        None => {
            let tag = tag.unwrap_or_else(|| artifact.manifest.version.clone());
            tre_bundle::write_layout(layout, &artifact, &tag)?;
            let abs = std::fs::canonicalize(layout).unwrap_or_else(|_| layout.to_path_buf());
            BundleRef::Layout {
                dir: abs,
                reference: Reference::Digest(artifact.digest.clone()),
            }
            .to_string()
        }
        Some(target) => {
            let r = BundleRef::parse(target)?;
            let BundleRef::Registry {
                base,
                repository,
                reference,
            } = &r
            else {
                anyhow::bail!(
                    "push needs a registry reference, e.g. 127.0.0.1:5000/tre/bundles/base:1.0.0"
                );
            };
            let tag = match reference {
                Reference::Tag(t) => t.clone(),
                Reference::Digest(_) => artifact.manifest.version.clone(),
            };
            let client = tre_bundle::RegistryClient::new(base, token)?;
            let digest = client.push(repository, &tag, &artifact).await?;
            r.with_digest(&digest).to_string()
        }
    };
    Ok((artifact, reference))
}

pub async fn run(
    action: BundleAction,
    api: &ApiClient,
    out: &crate::output::Output,
    tre_token: Option<String>,
) -> anyhow::Result<()> {
    match action {
        BundleAction::Build { dir, layout, tag } => {
            let (_, reference) = package(&dir, &layout, tag, None, None).await?;
            println!("{reference}");
        }
        BundleAction::Push {
            dir,
            target,
            registry_token,
        } => {
            let token = registry_token.or(tre_token);
            let (_, reference) = package(&dir, Path::new(""), None, Some(&target), token).await?;
            println!("{reference}");
        }
        BundleAction::Register {
            dir,
            layout,
            push,
            registry_token,
        } => {
            let token = registry_token.or(tre_token);
            let (artifact, reference) =
                package(&dir, &layout, None, push.as_deref(), token).await?;
            let body = artifact.manifest.template_registration(&reference);
            let reply = api
                .call(
                    Method::POST,
                    &artifact.manifest.registration_path(),
                    Some(&body),
                    None,
                )
                .await?;
            out.emit(&reply.body)?;
        }
    }
    Ok(())
}
