//! `datasource-import`: fetch every object of a data source into its area of the workspace-data
//! store, measuring size and sha256 and scanning each as it streams, describe them in an
//! RO-Crate 1.1 `ro-crate-metadata.json`, remove what an earlier run left that this one did not
//! bring, and report the outcome to the status queue. A source that cannot be fetched is a
//! reported outcome (`failed`, with the reason), not a crash.

use futures::TryStreamExt;
use serde_json::json;
use tre_core::app::{DataFile, DataSource, DataSourceStatus, ImportOutcome};
use tre_core::domain::airlock::Stage;
use tre_core::domain::datasource::{
    data_key, AllowedNetworks, Connection, DataSourceKind, ExportFormat,
};
use tre_core::domain::rocrate::{self, CrateFile, DatasetInfo, Publisher};
use tre_core::ports::{ByteStream, ObjectStore, PutOptions};

use crate::egress::{self, Egress};
use crate::scan::ContentScan;
use crate::{put_inspected, JobError, Ports};

/// The action name the state machine sets in `TRE_AIRLOCK_ACTION`.
pub const ACTION: &str = "datasource-import";

/// The job's environment (set by `statemachines/datasource-import.asl.json`).
pub const JOB_ENV_VARS: &[&str] = &[
    "TRE_AIRLOCK_ACTION",
    "TRE_DATASOURCE_ID",
    "TRE_DATASOURCE_RUN",
];

/// `1` or `true`: S3-compatible stores that want path-style requests.
pub const ENV_S3_PATH_STYLE: &str = "TRE_DATASOURCE_S3_PATH_STYLE";

/// The import's configuration (the deployment's, not the job's), read once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSettings {
    /// [`egress::ENV_ALLOWED_NETWORKS`]: what data sources may reach beyond global addresses.
    pub allowed_networks: AllowedNetworks,
    /// [`ENV_S3_PATH_STYLE`].
    pub s3_path_style: bool,
}

impl ImportSettings {
    pub fn from_env() -> Result<Self, JobError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, JobError> {
        let allowed_networks = lookup(egress::ENV_ALLOWED_NETWORKS)
            .unwrap_or_default()
            .parse()
            .map_err(|e| JobError::Invalid(format!("{}: {e}", egress::ENV_ALLOWED_NETWORKS)))?;
        let s3_path_style =
            lookup(ENV_S3_PATH_STYLE).is_some_and(|v| matches!(v.trim(), "1" | "true"));
        Ok(Self {
            allowed_networks,
            s3_path_style,
        })
    }
}

#[derive(Clone, Debug)]
pub struct ImportJob {
    pub data_source_id: String,
    pub run: u32,
}

impl ImportJob {
    /// `Some` when the environment asks for a data source import.
    pub fn from_env() -> Result<Option<Self>, JobError> {
        if std::env::var("TRE_AIRLOCK_ACTION").ok().as_deref() != Some(ACTION) {
            return Ok(None);
        }
        let var = |k: &'static str| std::env::var(k).map_err(|_| JobError::Missing(k));
        let run = var("TRE_DATASOURCE_RUN")?
            .parse()
            .map_err(|e| JobError::Invalid(format!("TRE_DATASOURCE_RUN is not a number: {e}")))?;
        Ok(Some(Self {
            data_source_id: var("TRE_DATASOURCE_ID")?,
            run,
        }))
    }
}

/// A file's MIME type from its name (what the RO-Crate's encodingFormat says).
pub fn encoding_format(name: &str) -> &'static str {
    let ext = name
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" => "text/csv",
        "tsv" => "text/tab-separated-values",
        "txt" | "md" => "text/plain",
        "json" => "application/json",
        "parquet" => "application/vnd.apache.parquet",
        "xml" => "application/xml",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// `base` and a relative object path, each segment percent-encoded.
fn object_url(base: &str, object: &str) -> Result<url::Url, String> {
    let mut url = url::Url::parse(base).map_err(|e| format!("baseUrl `{base}`: {e}"))?;
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|_| format!("baseUrl `{base}` cannot have paths"))?;
        segments.pop_if_empty();
        for s in object.split('/') {
            segments.push(s);
        }
    }
    Ok(url)
}

async fn report(ports: &Ports, status: DataSourceStatus) -> Result<(), String> {
    let body = json!({ "dataSourceStatus": status }).to_string();
    ports
        .status_queue
        .send(&body, None)
        .await
        .map(|_| ())
        .map_err(|e| format!("reporting to the status queue: {e}"))
}

/// Run one import; `Err` only when the outcome could not be reported.
pub async fn run(job: &ImportJob, ports: &Ports, settings: &ImportSettings) -> Result<(), String> {
    let item = ports
        .table
        .get(&tre_core::app::data_source_key(&job.data_source_id))
        .await
        .map_err(|e| format!("reading data source `{}`: {e}", job.data_source_id))?
        .ok_or_else(|| format!("data source `{}` not found", job.data_source_id))?;
    let ds: DataSource = serde_json::from_value(item.body)
        .map_err(|e| format!("data source `{}`: {e}", job.data_source_id))?;
    if ds.run != job.run {
        // A newer run superseded this one: its report would be ignored anyway.
        tracing::info!(
            run = job.run,
            current = ds.run,
            "superseded import run; nothing done"
        );
        return Ok(());
    }
    let egress = Egress::new(settings.allowed_networks.clone());
    let (outcome, files, reason) = match import(&ds, ports, &egress, settings).await {
        Ok(files) => (ImportOutcome::Imported, files, String::new()),
        Err(reason) => {
            tracing::warn!(data_source_id = %ds.id, %reason, "import failed");
            (ImportOutcome::Failed, Vec::new(), reason)
        }
    };
    report(
        ports,
        DataSourceStatus {
            data_source_id: ds.id.clone(),
            run: job.run,
            outcome,
            files,
            reason,
        },
    )
    .await
}

async fn import(
    ds: &DataSource,
    ports: &Ports,
    egress: &Egress,
    settings: &ImportSettings,
) -> Result<Vec<DataFile>, String> {
    let store = ports
        .storage
        .store(Stage::WorkspaceData)
        .map_err(|e| e.to_string())?;
    // The secret is read now, used once, and never written anywhere: not in reports, not in
    // reasons (which name the secret, not its value).
    let credential = match &ds.spec.credentials_secret {
        Some(name) => Some(
            ports
                .secrets
                .secret(name)
                .await
                .map_err(|e| format!("reading the credentials: {e}"))?,
        ),
        None => None,
    };
    let (files, crate_files) = match &ds.spec.connection {
        Some(Connection::Https { base_url }) => {
            let source = HttpsSource {
                base: base_url,
                credential: credential.as_deref(),
                egress,
            };
            fetch_https(ds, &source, store.as_ref(), ports).await?
        }
        Some(Connection::Postgres {
            host,
            port,
            database,
            user,
            table,
            format,
            ca_certificate,
        }) => {
            let pg = PgSource {
                host,
                port: *port,
                database,
                user,
                table,
                format: *format,
                password: credential.as_deref(),
                ca_certificate: ca_certificate.as_deref(),
            };
            export_postgres(ds, &pg, egress, store.as_ref(), ports).await?
        }
        Some(Connection::S3 { bucket, prefix }) => {
            let source = S3Source {
                bucket,
                prefix,
                path_style: settings.s3_path_style,
                egress,
            };
            fetch_s3(ds, &source, store.as_ref(), ports).await?
        }
        None if ds.spec.kind == DataSourceKind::Uploaded => {
            fetch_uploads(ds, store.as_ref(), ports).await?
        }
        None => return Err("the data source has no connection".into()),
    };
    write_crate(ds, &files, &crate_files, store.as_ref()).await?;
    Ok(files)
}

/// Measure-and-scan outcome of one fetched file, as the data source and its crate record it.
fn recorded(name: &str, measured: crate::Measured, source: String) -> (DataFile, CrateFile) {
    let format = encoding_format(name).to_string();
    (
        DataFile {
            name: name.to_string(),
            size: measured.size,
            sha256: measured.sha256.clone(),
            encoding_format: format.clone(),
        },
        CrateFile {
            name: name.to_string(),
            size: measured.size,
            sha256: measured.sha256,
            encoding_format: format,
            source,
            retrieved: chrono::Utc::now(),
        },
    )
}

/// Store one body under the source's area, scanning it; a finding deletes it and fails.
async fn store_scanned(
    ds: &DataSource,
    name: &str,
    body: ByteStream,
    size: Option<u64>,
    store: &dyn ObjectStore,
    ports: &Ports,
) -> Result<crate::Measured, String> {
    let key = data_key(&ds.id, name);
    let measured = put_inspected(
        body,
        size,
        store,
        &key,
        Some(ContentScan::new(name, &ports.scanners)),
    )
    .await?;
    if !measured.findings.is_empty() {
        let _ = store.delete(&key).await;
        return Err(format!(
            "`{name}` was blocked by the scan: {}",
            measured.findings.join("; ")
        ));
    }
    Ok(measured)
}

struct HttpsSource<'a> {
    base: &'a str,
    /// The whole `Authorization` header value (`Bearer ...`, `Basic ...`).
    credential: Option<&'a str>,
    egress: &'a Egress,
}

async fn fetch_https(
    ds: &DataSource,
    source: &HttpsSource<'_>,
    store: &dyn ObjectStore,
    ports: &Ports,
) -> Result<(Vec<DataFile>, Vec<CrateFile>), String> {
    let egress = source.egress;
    let http = egress
        .http_client()
        .connect_timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("tre-airlock-runner/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let mut files = Vec::new();
    let mut crate_files = Vec::new();
    for object in &ds.spec.objects {
        let url = object_url(source.base, object)?;
        let what = format!("GET {url}");
        egress
            .check_url(&url)
            .map_err(|r| egress.describe(&what, &r))?;
        let mut req = http.get(url.clone());
        if let Some(c) = source.credential {
            req = req.header(reqwest::header::AUTHORIZATION, c);
        }
        let resp = req.send().await.map_err(|e| match egress.take_refusal() {
            Some(r) => egress.describe(&what, &r),
            None => format!("{what}: {e}"),
        })?;
        if !resp.status().is_success() {
            return Err(format!("{what}: {}", resp.status()));
        }
        let size = resp.content_length();
        let body: ByteStream = Box::pin(resp.bytes_stream().map_err(std::io::Error::other));
        let measured = store_scanned(ds, object, body, size, store, ports)
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        let (f, c) = recorded(object, measured, url.to_string());
        files.push(f);
        crate_files.push(c);
    }
    Ok((files, crate_files))
}

/// The files uploaded for an Uploaded source, taken from the import staging area (and removed
/// from it once they are in place).
async fn fetch_uploads(
    ds: &DataSource,
    store: &dyn ObjectStore,
    ports: &Ports,
) -> Result<(Vec<DataFile>, Vec<CrateFile>), String> {
    let staging = ports
        .storage
        .store(Stage::ImportStaging)
        .map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    let mut crate_files = Vec::new();
    for name in &ds.uploads {
        let key = data_key(&ds.id, name);
        let got = staging.get(&key, None).await.map_err(|e| match e {
            tre_core::PortError::NotFound(_) => format!("`{name}` was named but not uploaded"),
            other => format!("reading the upload `{name}`: {other}"),
        })?;
        let size = got.meta.size;
        let measured = store_scanned(ds, name, got.body, Some(size), store, ports).await?;
        let (f, c) = recorded(name, measured, format!("urn:tre:upload:{}/{name}", ds.id));
        files.push(f);
        crate_files.push(c);
    }
    for name in &ds.uploads {
        let key = data_key(&ds.id, name);
        staging
            .delete(&key)
            .await
            .map_err(|e| format!("emptying the staging copy of `{name}`: {e}"))?;
    }
    Ok((files, crate_files))
}

struct S3Source<'a> {
    bucket: &'a str,
    prefix: &'a str,
    path_style: bool,
    egress: &'a Egress,
}

/// Objects read from a bucket with the runner's own AWS identity (its task role in AWS; the
/// environment's credentials elsewhere). Its requests go through the guard like any other
/// source's: an endpoint set in the environment (an S3-compatible store) is checked too.
async fn fetch_s3(
    ds: &DataSource,
    source: &S3Source<'_>,
    store: &dyn ObjectStore,
    ports: &Ports,
) -> Result<(Vec<DataFile>, Vec<CrateFile>), String> {
    let (bucket, prefix, egress) = (source.bucket, source.prefix, source.egress);
    let conf = tre_aws::sdk_config().await;
    // The credentials provider was built with the SDK's own client when the configuration
    // loaded (in Fargate it calls the task's credentials endpoint): only the bucket's requests
    // get the guarded one.
    let s3 = aws_sdk_s3::config::Builder::from(&conf)
        .force_path_style(source.path_style)
        .http_client(egress.s3_http_client())
        .interceptor(egress.s3_interceptor())
        .build();
    let source = tre_aws::S3ObjectStore::new(aws_sdk_s3::Client::from_conf(s3), bucket, prefix);
    let base = format!("s3://{bucket}/{}", prefix.trim_end_matches('/'));
    let mut files = Vec::new();
    let mut crate_files = Vec::new();
    for object in &ds.spec.objects {
        let uri = format!("{}/{object}", base.trim_end_matches('/'));
        let what = format!("reading {uri}");
        let got = source
            .get(object, None)
            .await
            .map_err(|e| match egress.take_refusal() {
                Some(r) => egress.describe(&what, &r),
                None => format!("{what}: {e}"),
            })?;
        let size = got.meta.size;
        let measured = store_scanned(ds, object, got.body, Some(size), store, ports)
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        let (f, c) = recorded(object, measured, uri);
        files.push(f);
        crate_files.push(c);
    }
    Ok((files, crate_files))
}

async fn drive<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(e) = connection.await {
        tracing::warn!(error = %e, "PostgreSQL connection ended");
    }
}

/// TLS that trusts only the source's CA (and checks the server's name against its certificate).
fn tls_connector(pem: &str) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("caCertificate: {e}"))?;
        roots.add(cert).map_err(|e| format!("caCertificate: {e}"))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

struct PgSource<'a> {
    host: &'a str,
    port: u16,
    database: &'a str,
    user: &'a str,
    table: &'a str,
    format: ExportFormat,
    /// From the source's secret.
    password: Option<&'a str>,
    /// PEM: connect over TLS, trusting this CA only.
    ca_certificate: Option<&'a str>,
}

/// The whole table as one CSV file with a header line, streamed out by `COPY ... TO STDOUT`.
async fn export_postgres(
    ds: &DataSource,
    pg: &PgSource<'_>,
    egress: &Egress,
    store: &dyn ObjectStore,
    ports: &Ports,
) -> Result<(Vec<DataFile>, Vec<CrateFile>), String> {
    // Without TLS, only to this machine: credentials and data never cross a network in clear.
    let local = matches!(pg.host, "127.0.0.1" | "localhost" | "::1") || pg.host.starts_with('/');
    if pg.ca_certificate.is_none() && !local {
        return Err(format!(
            "`{}` is not on this machine: name the CA of its certificate (caCertificate) so the import connects over TLS",
            pg.host
        ));
    }
    let source = format!(
        "postgresql://{}@{}:{}/{}?table={}",
        pg.user, pg.host, pg.port, pg.database, pg.table
    );
    let encrypted = pg.ca_certificate.is_some();
    let mut config = tokio_postgres::Config::new();
    if pg.host.starts_with('/') {
        egress
            .check_this_machine(pg.host)
            .map_err(|r| egress.describe(&format!("connecting to {source}"), &r))?;
        config.host(pg.host);
    } else {
        // Connect to the addresses checked (`hostaddr`), keeping the name for TLS.
        let addrs = egress
            .resolve(pg.host, encrypted)
            .await
            .map_err(|e| match e {
                egress::EgressError::Refused(r) => {
                    egress.describe(&format!("connecting to {source}"), &r)
                }
                other => format!("connecting to {source}: {other}"),
            })?;
        if !encrypted && !egress::all_loopback(&addrs) {
            return Err(format!(
                "`{}` is not on this machine: name the CA of its certificate (caCertificate) so the import connects over TLS",
                pg.host
            ));
        }
        for ip in addrs {
            config.host(pg.host).hostaddr(ip);
        }
    }
    config
        .port(pg.port)
        .dbname(pg.database)
        .user(pg.user)
        .application_name("tre-datasource-import")
        .connect_timeout(std::time::Duration::from_secs(30));
    if let Some(p) = pg.password {
        config.password(p);
    }
    let (client, driver) = match pg.ca_certificate {
        Some(pem) => {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let tls = tls_connector(pem).map_err(|e| format!("connecting to {source}: {e}"))?;
            let (client, connection) = config
                .connect(tls)
                .await
                .map_err(|e| format!("connecting to {source} over TLS: {e}"))?;
            (client, tokio::spawn(drive(connection)))
        }
        None => {
            let (client, connection) = config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("connecting to {source}: {e}"))?;
            (client, tokio::spawn(drive(connection)))
        }
    };
    // The identifiers were validated as plain SQL identifiers when the source was registered;
    // quoting keeps them exactly as named.
    let quoted: Vec<String> = pg.table.split('.').map(|p| format!("\"{p}\"")).collect();
    if pg.format == ExportFormat::Parquet {
        let (file, size) = crate::parquet_export::export(&client, &quoted.join("."))
            .await
            .map_err(|e| format!("exporting {source}: {e}"))?;
        drop(client);
        let _ = driver.await;
        let body: ByteStream = Box::pin(tokio_util::io::ReaderStream::with_capacity(
            tokio::fs::File::from_std(file),
            256 * 1024,
        ));
        let name = format!("{}.parquet", pg.table);
        let measured = store_scanned(ds, &name, body, Some(size), store, ports)
            .await
            .map_err(|e| format!("exporting {source}: {e}"))?;
        let (f, c) = recorded(&name, measured, source);
        return Ok((vec![f], vec![c]));
    }
    let copy = format!(
        "COPY (SELECT * FROM {}) TO STDOUT WITH (FORMAT csv, HEADER true)",
        quoted.join(".")
    );
    let stream = client
        .copy_out(copy.as_str())
        .await
        .map_err(|e| format!("exporting {source}: {e}"))?;
    let body: ByteStream = Box::pin(stream.map_err(std::io::Error::other));
    let name = format!("{}.csv", pg.table);
    let measured = store_scanned(ds, &name, body, None, store, ports)
        .await
        .map_err(|e| format!("exporting {source}: {e}"))?;
    drop(client);
    let _ = driver.await;
    let (f, c) = recorded(&name, measured, source);
    Ok((vec![f], vec![c]))
}

async fn write_crate(
    ds: &DataSource,
    files: &[DataFile],
    crate_files: &[CrateFile],
    store: &dyn ObjectStore,
) -> Result<(), String> {
    let info = DatasetInfo {
        name: ds.spec.display_name.clone(),
        description: ds.spec.description.clone(),
        licence: ds.spec.licence.clone(),
        publisher: Publisher {
            organisation: ds.spec.publisher.organisation.clone(),
            contact_name: ds.spec.publisher.contact_name.clone(),
            contact_role: ds.spec.publisher.contact_role.clone(),
        },
        project: ds.spec.project.clone(),
        published: chrono::Utc::now(),
    };
    let metadata = rocrate::build(&info, crate_files);
    let bytes = serde_json::to_vec_pretty(&metadata).map_err(|e| e.to_string())?;
    store
        .put(
            &data_key(&ds.id, rocrate::METADATA_FILE),
            Box::pin(futures::stream::iter([Ok(bytes::Bytes::from(bytes))])),
            PutOptions {
                content_type: Some("application/ld+json".into()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("writing the RO-Crate: {e}"))?;
    remove_leftovers(store, &ds.id, files).await
}

/// A re-run replaces the last one: what it brought and this one did not goes.
async fn remove_leftovers(
    store: &dyn ObjectStore,
    id: &str,
    files: &[DataFile],
) -> Result<(), String> {
    let prefix = data_key(id, "");
    let mut after = None;
    loop {
        let page = store
            .list(&prefix, after.as_deref(), 1000)
            .await
            .map_err(|e| format!("listing the data source's files: {e}"))?;
        for o in &page.objects {
            let name = o.key.strip_prefix(&prefix).unwrap_or(&o.key);
            if name != rocrate::METADATA_FILE && !files.iter().any(|f| f.name == name) {
                store
                    .delete(&o.key)
                    .await
                    .map_err(|e| format!("removing `{}`: {e}", o.key))?;
            }
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_urls_keep_the_base_and_encode_segments() {
        let url = |base: &str, object: &str| object_url(base, object).map(String::from);
        assert_eq!(
            url("https://data.example.org/exports/", "2026/a b.csv").as_deref(),
            Ok("https://data.example.org/exports/2026/a%20b.csv")
        );
        assert_eq!(
            url("http://127.0.0.1:8000", "x.csv").as_deref(),
            Ok("http://127.0.0.1:8000/x.csv")
        );
        assert_eq!(encoding_format("A.CSV"), "text/csv");
        assert_eq!(encoding_format("blob"), "application/octet-stream");
    }

    #[test]
    fn settings_are_read_once_from_the_environment_and_bad_networks_refused() {
        let settings = |vars: &[(&str, &str)]| {
            ImportSettings::from_lookup(|k| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })
        };
        let none = settings(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(none.allowed_networks.is_empty() && !none.s3_path_style);
        let some = settings(&[
            (egress::ENV_ALLOWED_NETWORKS, "127.0.0.0/8, ::1/128"),
            (ENV_S3_PATH_STYLE, "1"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(some.allowed_networks.to_string(), "127.0.0.0/8,::1/128");
        assert!(some.s3_path_style);
        let bad = settings(&[(egress::ENV_ALLOWED_NETWORKS, "10.0.0.1/8")]);
        assert!(bad
            .err()
            .is_some_and(|e| e.to_string().contains(egress::ENV_ALLOWED_NETWORKS)));
    }
}
