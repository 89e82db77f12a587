//! Terraform against moto server: the harness the infrastructure rehearsal, the bundle tests and
//! the benchmarks share. Providers come from a filesystem mirror named by
//! `TRE_TERRAFORM_PLUGIN_DIR` (nothing is downloaded); without one the caller fails, loudly.
//! Emulator-only settings live here, in override files and backend settings written for a test,
//! never in the configuration under test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::moto::MotoServer;

pub const PLUGIN_DIR_ENV: &str = "TRE_TERRAFORM_PLUGIN_DIR";

/// The provider mirror (the folder holding `registry.terraform.io/`), checked to hold the AWS
/// provider.
pub fn plugin_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os(PLUGIN_DIR_ENV).map(PathBuf::from).with_context(|| {
        format!(
            "{PLUGIN_DIR_ENV} is not set: point it at a filesystem mirror of the Terraform providers \
             (the folder holding registry.terraform.io/hashicorp/aws/...); scripts/test finds one"
        )
    })?;
    let aws = dir.join("registry.terraform.io/hashicorp/aws");
    if !aws.is_dir() {
        bail!(
            "{PLUGIN_DIR_ENV}={} holds no hashicorp/aws provider ({} is missing)",
            dir.display(),
            aws.display()
        );
    }
    Ok(dir)
}

/// A provider cache shared by every working directory of a test run, so each init links the
/// provider (hundreds of MB) instead of copying it.
pub fn plugin_cache_dir() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/terraform-plugin-cache");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// A Terraform CLI configuration installing providers from the mirror only, through the cache.
pub fn write_cli_config(path: &Path) -> anyhow::Result<()> {
    let text = format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path = {:?}\n  }}\n}}\nplugin_cache_dir = {:?}\n",
        plugin_dir()?.display().to_string(),
        plugin_cache_dir()?.display().to_string()
    );
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Provider settings for moto: no credential or account checks it cannot answer, three
/// attempts (the provider otherwise retries an unsupported call for minutes; one attempt is
/// too few, as moto can answer 500 to a call that races another inside it), path-style S3.
/// The endpoint itself comes from `AWS_ENDPOINT_URL`.
pub const MOTO_PROVIDER_OVERRIDE: &str = r#"# Test-only: settings for the moto emulator.
provider "aws" {
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  max_retries                 = 3
  s3_use_path_style           = true
}
"#;

/// S3 backend settings for a state bucket in moto (`-backend-config=<file>`).
pub const MOTO_BACKEND_CONFIG: &str = r#"use_path_style              = true
skip_credentials_validation = true
skip_requesting_account_id  = true
skip_metadata_api_check     = true
skip_region_validation      = true
"#;

/// Everything a Terraform process (or a bundle runner that runs one) needs to reach moto.
pub fn moto_env(moto: &MotoServer) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = moto
        .sdk_env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    env.push(("AWS_DEFAULT_REGION".into(), "eu-west-2".into()));
    env.push(("TF_IN_AUTOMATION".into(), "1".into()));
    env.push(("TF_INPUT".into(), "0".into()));
    env
}

/// The bundle runner's environment for deploying into moto: the mirror, the shared cache, the
/// moto provider override and backend settings (written under `dir`), the state bucket.
pub fn runner_env(
    moto: &MotoServer,
    dir: &Path,
    state_bucket: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let overrides = dir.join("terraform-overrides");
    std::fs::create_dir_all(&overrides)?;
    std::fs::write(overrides.join("moto_override.tf"), MOTO_PROVIDER_OVERRIDE)?;
    let backend = dir.join("moto-backend.hcl");
    std::fs::write(&backend, MOTO_BACKEND_CONFIG)?;
    let mut env = moto_env(moto);
    let path = |p: &Path| p.display().to_string();
    env.extend([
        (PLUGIN_DIR_ENV.to_string(), path(&plugin_dir()?)),
        (
            "TRE_TERRAFORM_PLUGIN_CACHE_DIR".into(),
            path(&plugin_cache_dir()?),
        ),
        ("TRE_TERRAFORM_OVERRIDES".into(), path(&overrides)),
        ("TRE_TERRAFORM_BACKEND_CONFIG".into(), path(&backend)),
        ("TRE_BUNDLE_STATE_BUCKET".into(), state_bucket.to_string()),
    ]);
    Ok(env)
}

/// One Terraform working directory against moto: a copy of a module with the moto override
/// beside it, local state.
pub struct Workdir {
    pub dir: PathBuf,
    env: Vec<(String, String)>,
    _tmp: tempfile::TempDir,
}

impl Workdir {
    /// Copy `module` (its `.tf` files and subfolders, not `.terraform` or state) to a fresh
    /// folder, add the moto override and `extra_overrides` (name, text), and write the CLI
    /// configuration.
    pub fn new(
        module: &Path,
        moto: &MotoServer,
        extra_overrides: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let tmp = tempfile::Builder::new().prefix("tre-tf-").tempdir()?;
        let root = tmp.path().to_path_buf();
        let dir = root.join("module");
        copy_module(module, &dir)?;
        std::fs::write(dir.join("zz_moto_override.tf"), MOTO_PROVIDER_OVERRIDE)?;
        for (name, text) in extra_overrides {
            std::fs::write(dir.join(name), text)?;
        }
        Self::finish(tmp, dir, moto)
    }

    /// A working directory laid out as `layout` says, for a configuration that brings its own
    /// emulator settings (no harness override is added): the module's files chosen by
    /// `layout.include` at `<tmp>/<layout.subdir>`, symlinks beside it (so `../x` references
    /// resolve), and `layout.files` written into it.
    pub fn with_layout(module: &Path, moto: &MotoServer, layout: &Layout) -> anyhow::Result<Self> {
        let tmp = tempfile::Builder::new().prefix("tre-tf-").tempdir()?;
        let root = tmp.path().to_path_buf();
        let dir = root.join(layout.subdir);
        std::fs::create_dir_all(&dir)?;
        for entry in
            std::fs::read_dir(module).with_context(|| format!("reading {}", module.display()))?
        {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if let Some(name) = name.filter(|n| path.is_file() && (layout.include)(n)) {
                std::fs::copy(&path, dir.join(&name))
                    .with_context(|| format!("copying {}", path.display()))?;
            }
        }
        for (name, target) in layout.links {
            symlink(target, &root.join(name))?;
        }
        for (name, text) in layout.files {
            std::fs::write(dir.join(name), text)?;
        }
        Self::finish(tmp, dir, moto)
    }

    /// The CLI configuration beside the module folder, and moto's environment.
    fn finish(tmp: tempfile::TempDir, dir: PathBuf, moto: &MotoServer) -> anyhow::Result<Self> {
        let rc = tmp.path().join("terraformrc");
        write_cli_config(&rc)?;
        let mut env = moto_env(moto);
        env.push(("TF_CLI_CONFIG_FILE".into(), rc.display().to_string()));
        Ok(Self {
            dir,
            env,
            _tmp: tmp,
        })
    }

    /// Add an environment variable (a `TF_VAR_`, say) to every command.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("terraform");
        c.args(args)
            .current_dir(&self.dir)
            .envs(self.env.iter().cloned());
        c
    }

    /// Run a command; its output, and how long it took. Fails with Terraform's output when it
    /// fails.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<(Output, Duration)> {
        let started = Instant::now();
        let out = self
            .command(args)
            .output()
            .context("running terraform (is it on PATH?)")?;
        let took = started.elapsed();
        if !out.status.success() {
            bail!(
                "terraform {} failed after {took:.1?}:\n{}\n{}",
                args.join(" "),
                tail(&out.stdout),
                tail(&out.stderr)
            );
        }
        Ok((out, took))
    }

    /// `plan -detailed-exitcode`: `Ok(None)` when nothing would change, `Ok(Some(plan text))`
    /// when something would.
    pub fn pending_changes(&self, extra: &[&str]) -> anyhow::Result<Option<String>> {
        let mut args = vec!["plan", "-input=false", "-no-color", "-detailed-exitcode"];
        args.extend_from_slice(extra);
        let out = self
            .command(&args)
            .output()
            .context("running terraform plan")?;
        match out.status.code() {
            Some(0) => Ok(None),
            Some(2) => Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned())),
            _ => bail!(
                "terraform plan failed:\n{}\n{}",
                tail(&out.stdout),
                tail(&out.stderr)
            ),
        }
    }

    /// `terraform output -json`, as `{name: value}`.
    pub fn outputs(&self) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
        let (out, _) = self.run(&["output", "-json", "-no-color"])?;
        let all: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&out.stdout)?;
        Ok(all
            .into_iter()
            .map(|(k, v)| (k, v["value"].clone()))
            .collect())
    }
}

/// How [`Workdir::with_layout`] lays out a working directory.
pub struct Layout<'a> {
    /// The module's folder inside the temporary tree (e.g. `infra`).
    pub subdir: &'a str,
    /// Which of the module's files (by name) are copied; subfolders never are.
    pub include: fn(&str) -> bool,
    /// Symlinks beside the module folder: (name, target).
    pub links: &'a [(&'a str, &'a Path)],
    /// Files written into the module folder: (name, text), e.g. an emulator override.
    pub files: &'a [(&'a str, String)],
}

/// Terraform's version (`terraform version -json`); fails, saying so, when it is not on PATH.
pub fn terraform_version() -> anyhow::Result<String> {
    let out = Command::new("terraform")
        .args(["version", "-json"])
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .context(
            "terraform is not on PATH: install Terraform >= 1.11 (the tests run it against moto)",
        )?;
    if !out.status.success() {
        bail!("terraform version failed: {}", tail(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    Ok(v["terraform_version"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> anyhow::Result<()> {
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("linking {} to {}", link.display(), target.display()))
}

#[cfg(not(unix))]
fn symlink(target: &Path, link: &Path) -> anyhow::Result<()> {
    copy_module(target, link)
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Copy a module's files and subfolders, not what an init or apply left (`.terraform`, state).
pub fn copy_module(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let name_s = name.to_string_lossy();
        if name_s == ".terraform" || name_s.starts_with("terraform.tfstate") {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_module(&path, &to.join(&name))?;
        } else {
            std::fs::copy(&path, to.join(&name))?;
        }
    }
    Ok(())
}
