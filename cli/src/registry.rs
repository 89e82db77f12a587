//! `tre registry gc`: garbage collection of the registry's storage (a dry run unless `--delete`).
//! `tre registry token`: a short-lived registry token for clients that take one directly.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use tre_core::ports::ObjectStore;

#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Delete the blobs no manifest refers to (reports only, unless --delete).
    Gc {
        /// The registry's storage on disk (its local store)...
        #[arg(long, conflicts_with = "bucket")]
        dir: Option<PathBuf>,
        /// ...or its S3 bucket (credentials and region from the environment).
        #[arg(long)]
        bucket: Option<String>,
        /// Really delete (the default is a dry run).
        #[arg(long)]
        delete: bool,
        /// Keep blobs and uploads younger than this: pushes in flight lose nothing.
        #[arg(long, default_value_t = 3600)]
        grace_secs: u64,
    },
    /// Print a registry token for the given scopes (what the caller may do of them), for
    /// `skopeo --dest-registry-token` / `oras --registry-token`; where the token realm sits behind
    /// a JWT gateway (AWS), this replaces the password-based login.
    Token {
        /// e.g. repository:tre/bundles/base:pull,push (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// The registry's name in tokens.
        #[arg(long, default_value = "tre-registry")]
        service: String,
    },
}

/// `tre registry token`: one call to the API's token realm with the TRE token.
pub async fn token(
    api: &crate::client::ApiClient,
    scopes: &[String],
    service: &str,
) -> anyhow::Result<()> {
    let mut query = vec![format!("service={}", urlencode(service))];
    query.extend(scopes.iter().map(|s| format!("scope={}", urlencode(s))));
    let v = api
        .get(&format!("/api/registry/token?{}", query.join("&")))
        .await?;
    let token = v["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the API answered no token: {v}"))?;
    println!("{token}");
    Ok(())
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn run(cmd: RegistryCommand) -> anyhow::Result<()> {
    let RegistryCommand::Gc {
        dir,
        bucket,
        delete,
        grace_secs,
    } = cmd
    else {
        anyhow::bail!("`tre registry token` needs the API: run it through the CLI's main");
    };
    let store: Arc<dyn ObjectStore> = match (dir, bucket) {
        // The collector signs no links: the base URL and key are never used.
        (Some(dir), None) => Arc::new(tre_embedded::FsObjectStore::open(
            dir,
            "http://127.0.0.1",
            vec![0u8; 32],
        )?),
        (None, Some(bucket)) => {
            let conf = tre_aws::sdk_config().await;
            Arc::new(tre_aws::S3ObjectStore::new(
                tre_aws::S3ObjectStore::client(&conf, false),
                bucket,
                "",
            ))
        }
        _ => anyhow::bail!("name the registry's storage: --dir or --bucket"),
    };
    let report = tre_registry::gc::collect(
        &tre_registry::Storage::new(store),
        Duration::from_secs(grace_secs),
        delete,
    )
    .await?;
    let verb = if delete {
        "deleted"
    } else {
        "would delete (dry run; --delete to do it)"
    };
    for (digest, size) in &report.blobs_swept {
        println!("{verb}: {digest} ({size} bytes)");
    }
    println!(
        "{} repositories, {} manifests; {} blobs in use, {} too young to judge; {verb} {} blobs ({} bytes) and {} abandoned uploads",
        report.repositories,
        report.manifests,
        report.blobs_kept,
        report.blobs_too_young,
        report.blobs_swept.len(),
        report.bytes_swept(),
        report.uploads_swept
    );
    Ok(())
}
