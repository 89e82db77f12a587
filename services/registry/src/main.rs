//! `tre-registry`: the OCI registry as a service (the Fargate task in AWS). Configured by its
//! environment:
//!   TRE_REGISTRY_ADDR            listen address (default 0.0.0.0:5000)
//!   TRE_REGISTRY_BUCKET          S3 bucket of its storage (AWS), or
//!   TRE_REGISTRY_DIR             a directory (anywhere else; the embedded store's format, so
//!                                `tre registry gc --dir` collects it)
//!   TRE_REGISTRY_TOKEN_KEY       base64 key (32+ bytes) shared with the API's token realm
//!   TRE_REGISTRY_REALM           the realm URL (`https://<api>/api/registry/token`)
//!   TRE_REGISTRY_SERVICE         its name in tokens (default tre-registry)
//!   TRE_REGISTRY_REDIRECT_SECONDS  answer blob pulls with a redirect to a pre-signed link of
//!                                this lifetime (S3; unset or 0: the registry streams them)

use std::sync::Arc;

use anyhow::Context;
use base64::Engine;
use tre_core::ports::ObjectStore;

/// Keep the buffers of blob bytes in the heap. Every chunk hyper receives is handed on (to the
/// thread writing the blob), so it allocates a fresh read buffer per chunk, as a pull does per
/// read; glibc serves allocations that size from new mappings and unmaps them when freed, so
/// every byte moved would land on a freshly faulted, zeroed page. A fixed mapping threshold
/// above those sizes lets freed buffers be reused; two arenas, trimmed past 8 MiB free, keep
/// what is held back small (each blocking thread would otherwise keep an arena of its own).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread
    // exists. A refusal (0) leaves glibc's defaults, which are correct, only slower.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 8 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> anyhow::Result<()> {
    tune_allocator();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(serve())
}

async fn serve() -> anyhow::Result<()> {
    tre_telemetry::Telemetry::Service.init();
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let store: Arc<dyn ObjectStore> = match (var("TRE_REGISTRY_BUCKET"), var("TRE_REGISTRY_DIR")) {
        (Some(bucket), _) => {
            let conf = tre_aws::sdk_config().await;
            Arc::new(tre_aws::S3ObjectStore::new(
                tre_aws::S3ObjectStore::client(&conf, false),
                bucket,
                "",
            ))
        }
        (None, Some(dir)) => Arc::new(tre_registry::RegistryFs::open(dir)?),
        (None, None) => anyhow::bail!("set TRE_REGISTRY_BUCKET (S3) or TRE_REGISTRY_DIR"),
    };
    let key = base64::engine::general_purpose::STANDARD
        .decode(
            var("TRE_REGISTRY_TOKEN_KEY")
                .context("set TRE_REGISTRY_TOKEN_KEY: anonymous access is off")?
                .trim(),
        )
        .context("TRE_REGISTRY_TOKEN_KEY is not base64")?;
    let service = var("TRE_REGISTRY_SERVICE").unwrap_or_else(|| "tre-registry".into());
    let key = tre_auth::registry_token::RegistryTokenKey::new(key, service)
        .map_err(anyhow::Error::msg)?;
    let realm = var("TRE_REGISTRY_REALM")
        .context("set TRE_REGISTRY_REALM (the API's /api/registry/token)")?;
    let addr = var("TRE_REGISTRY_ADDR").unwrap_or_else(|| "0.0.0.0:5000".into());
    let mut storage = tre_registry::Storage::new(store);
    // In S3 mode blob pulls may go straight to S3 through short-lived pre-signed links.
    if let Some(secs) = var("TRE_REGISTRY_REDIRECT_SECONDS") {
        let secs: u64 = secs
            .parse()
            .context("TRE_REGISTRY_REDIRECT_SECONDS is a number of seconds")?;
        if secs > 0 {
            storage = storage.redirect_pulls(std::time::Duration::from_secs(secs));
        }
    }
    let app = tre_registry::router(storage, tre_registry::RegistryAuth::Tokens { key, realm });
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    tracing::info!(%addr, "registry listening");
    axum::serve(listener, app).await?;
    Ok(())
}
