//! A data source imported from a PostgreSQL table: a server from Debian's `postgresql` package,
//! started by the test (its own cluster, trust authentication on loopback), a table exported as
//! CSV and as Parquet through the import job, checked against the table and the RO-Crate 1.1
//! rules; a missing table or server ends the import `Failed` with its reason.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tre_e2e::{sha256_hex, TestStack};

/// Debian's server binaries (the newest installed), or `TRE_PG_BIN`.
fn pg_bin(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("TRE_PG_BIN") {
        return PathBuf::from(dir).join(name);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .map(|d| d.join(name))
        .filter(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("PostgreSQL's {name} not found: install Debian's postgresql (.ci/run does) or set TRE_PG_BIN")
        })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The server refuses to run as root: as root, run it as Debian's `postgres` user.
fn command(program: PathBuf) -> Command {
    if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

struct Postgres {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Postgres {
    fn start() -> Self {
        Self::start_with(false)
    }

    /// With `tls`, a CA and a server certificate for `localhost` are made in the cluster's
    /// folder (`ca.pem`), and the server takes TLS connections only.
    fn start_with(tls: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        if tls {
            make_certificates(dir.path());
        }
        if running_as_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(ok.success(), "chown the cluster's folder to postgres");
        }
        let data = dir.path().join("data");
        let out = command(pg_bin("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "--auth=trust",
                "--username=tre",
                "--no-sync",
                "--no-instructions",
            ])
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut postgres = command(pg_bin("postgres"));
        if tls {
            // TLS or nothing over TCP.
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
            )
            .expect("pg_hba.conf");
            postgres
                .args(["-c", "ssl=on", "-c"])
                .arg(format!(
                    "ssl_cert_file={}",
                    dir.path().join("server.crt").display()
                ))
                .arg("-c")
                .arg(format!(
                    "ssl_key_file={}",
                    dir.path().join("server.key").display()
                ));
        }
        let child = postgres
            .arg("-D")
            .arg(&data)
            .args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-k",
            ])
            .arg(dir.path())
            .args(["-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres");
        let pg = Self {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while pg.psql("SELECT 1").is_err() {
            assert!(Instant::now() < deadline, "postgres did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        pg
    }

    fn psql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new("psql")
            .env("PGSSLMODE", "prefer")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "tre",
                "-d",
                "postgres",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (Debian's openssl package)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a server certificate for `localhost` signed by it.
fn make_certificates(dir: &std::path::Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=TRE test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
    }
}

fn pg_source(port: u16, table: &str, format: &str) -> Value {
    json!({
        "kind": "Import", "displayName": "Warehouse admissions", "project": "Cohort study",
        "licence": "OGL-UK-3.0",
        "publisher": {"organisation": "Example Trust", "contactName": "B. Engineer", "contactRole": "Data engineer"},
        "connection": {"type": "postgres", "host": "127.0.0.1", "port": port,
                       "database": "postgres", "user": "tre", "table": table, "format": format}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_table_is_exported_as_csv_with_a_valid_ro_crate() {
    use tre_core::domain::datasource::data_key;
    use tre_core::domain::rocrate;
    let pg = tokio::task::spawn_blocking(Postgres::start)
        .await
        .expect("join");
    pg.psql(
        "CREATE TABLE public.admissions (region text, week int, admissions int);
         INSERT INTO public.admissions VALUES ('north', 1, 12), ('south', 1, 9), ('east, coast', 2, 4);",
    )
    .expect("create table");
    let t = TestStack::start_allowing_loopback().await.expect("stack");
    let ds = t
        .register_and_import(&pg_source(pg.port, "public.admissions", "csv"))
        .await;
    assert_eq!(ds["dataState"], "InReview", "{ds}");
    let id = ds["id"].as_str().expect("id");
    let name = "public.admissions.csv";
    assert_eq!(ds["files"][0]["name"], name);
    assert_eq!(ds["files"][0]["encodingFormat"], "text/csv");

    let csv = t
        .read_workspace_data(&data_key(id, name))
        .await
        .expect("imported file");
    let text = String::from_utf8(csv.clone()).expect("utf-8");
    assert_eq!(
        text,
        "region,week,admissions\nnorth,1,12\nsouth,1,9\n\"east, coast\",2,4\n"
    );
    assert_eq!(ds["files"][0]["sha256"], sha256_hex(&csv));
    let metadata: Value = serde_json::from_slice(
        &t.read_workspace_data(&data_key(id, rocrate::METADATA_FILE))
            .await
            .expect("imported file"),
    )
    .expect("json");
    let on_disk = vec![(name.to_string(), csv.len() as u64, sha256_hex(&csv))];
    assert_eq!(rocrate::validate(&metadata, &on_disk), Vec::<String>::new());
    let file = metadata["@graph"]
        .as_array()
        .and_then(|g| g.iter().find(|e| e["@id"] == name))
        .cloned()
        .expect("file entity");
    let source = file["isBasedOn"]["@id"].as_str().unwrap_or_default();
    assert!(
        source.starts_with("postgresql://tre@127.0.0.1:"),
        "{source}"
    );
    assert!(source.ends_with("?table=public.admissions"), "{source}");

    // The same table as Parquet: typed columns, the same rows, described in its crate.
    let pq = t
        .register_and_import(&pg_source(pg.port, "public.admissions", "parquet"))
        .await;
    assert_eq!(pq["dataState"], "InReview", "{pq}");
    let pq_id = pq["id"].as_str().expect("id");
    let pq_name = "public.admissions.parquet";
    assert_eq!(
        pq["files"][0]["encodingFormat"],
        "application/vnd.apache.parquet"
    );
    let bytes = t
        .read_workspace_data(&data_key(pq_id, pq_name))
        .await
        .expect("imported file");
    assert_eq!(pq["files"][0]["sha256"], sha256_hex(&bytes));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes.clone()),
    )
    .expect("a Parquet file")
    .build()
    .expect("reader");
    let mut regions = Vec::new();
    let mut weeks = Vec::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let r = batch
            .column_by_name("region")
            .and_then(|c| {
                c.as_any()
                    .downcast_ref::<arrow_array::StringArray>()
                    .cloned()
            })
            .expect("region is text");
        let w = batch
            .column_by_name("week")
            .and_then(|c| {
                c.as_any()
                    .downcast_ref::<arrow_array::Int32Array>()
                    .cloned()
            })
            .expect("week is int32");
        regions.extend(r.iter().map(|v| v.unwrap_or_default().to_string()));
        weeks.extend(w.iter().map(|v| v.unwrap_or_default()));
    }
    assert_eq!(regions, ["north", "south", "east, coast"]);
    assert_eq!(weeks, [1, 1, 2]);
    let pq_metadata: Value = serde_json::from_slice(
        &t.read_workspace_data(&data_key(pq_id, rocrate::METADATA_FILE))
            .await
            .expect("imported file"),
    )
    .expect("json");
    let pq_disk = vec![(pq_name.to_string(), bytes.len() as u64, sha256_hex(&bytes))];
    assert_eq!(
        rocrate::validate(&pq_metadata, &pq_disk),
        Vec::<String>::new()
    );

    // A table that is not there, and a server that is not there: Failed, saying why.
    let missing = t
        .register_and_import(&pg_source(pg.port, "public.nothing", "csv"))
        .await;
    assert_eq!(missing["dataState"], "Failed");
    let reason = missing["failureReason"].as_str().unwrap_or_default();
    assert!(reason.contains("nothing"), "{reason}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let down = t
        .register_and_import(&pg_source(closed, "public.admissions", "csv"))
        .await;
    assert_eq!(down["dataState"], "Failed");
    let reason = down["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("connecting to postgresql://tre@127.0.0.1"),
        "{reason}"
    );
}

/// Over TLS: the source names its server's CA; the import connects over TLS, checks the
/// server's name, and exports the table. Without the CA it would speak in clear, which this
/// server refuses: the import ends Failed saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_server_over_tls_is_exported_when_its_ca_is_named() {
    let pg = tokio::task::spawn_blocking(|| Postgres::start_with(true))
        .await
        .expect("join");
    pg.psql(
        "CREATE TABLE public.visits (site text, n int); INSERT INTO public.visits VALUES ('a', 1);",
    )
    .expect("create table");
    let ca = std::fs::read_to_string(pg._dir.path().join("ca.pem")).expect("ca");
    let t = TestStack::start_allowing_loopback().await.expect("stack");
    let mut body = pg_source(pg.port, "public.visits", "csv");
    body["connection"]["host"] = json!("localhost");
    body["connection"]["caCertificate"] = json!(ca);
    let ds = t.register_and_import(&body).await;
    assert_eq!(ds["dataState"], "InReview", "{ds}");
    let id = ds["id"].as_str().expect("id");
    let csv = t
        .read_workspace_data(&tre_core::domain::datasource::data_key(
            id,
            "public.visits.csv",
        ))
        .await
        .expect("imported file");
    assert_eq!(String::from_utf8_lossy(&csv), "site,n\na,1\n");

    let mut plain = pg_source(pg.port, "public.visits", "csv");
    plain["connection"]["host"] = json!("localhost");
    let refused = t.register_and_import(&plain).await;
    assert_eq!(refused["dataState"], "Failed");
    let reason = refused["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("connecting to postgresql://tre@localhost"),
        "{reason}"
    );
}

/// The guard before any connection: with the runner's allowed networks empty, a server on
/// loopback is refused (its reason in the source's status), before a connection is tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_host_outside_the_allowed_networks_is_refused_before_connecting() {
    let t = TestStack::start_with(|o| {
        o.datasource_allowed_networks = tre_e2e::LOOPBACK.parse().unwrap_or_default();
        if let Some(r) = o.airlock_runner.as_mut() {
            r.env
                .push(("TRE_DATASOURCE_ALLOWED_NETWORKS".into(), String::new()));
        }
    })
    .await
    .expect("stack");
    for (host, reason) in [
        ("127.0.0.1", "refused: 127.0.0.1 is loopback (127.0.0.0/8)"),
        (
            "localhost",
            "refused: `localhost` resolves only to refused addresses",
        ),
    ] {
        let mut body = pg_source(5432, "public.admissions", "csv");
        body["connection"]["host"] = json!(host);
        let failed = t.register_and_import(&body).await;
        assert_eq!(failed["dataState"], "Failed", "{failed}");
        let got = failed["failureReason"].as_str().unwrap_or_default();
        assert!(got.contains(reason), "`{reason}` not in `{got}`");
    }
}
