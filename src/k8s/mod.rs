//! `wschaos k8s`: Kubernetes manifests that run a scenario as N shards, one pod each, on as
//! many nodes as the cluster spreads them over: a ConfigMap with the scenario (`job`), an
//! Indexed Job sized from the scenario (`sizing`), names checked as the API server checks them
//! (`names`), the typed objects (`manifest`) and the kubectl commands that apply, wait,
//! collect and merge (`follow_up`). Nothing here talks to a cluster: it prints text.

pub mod follow_up;
pub mod job;
mod manifest;
pub mod names;
pub mod sizing;

use std::path::Path;
use std::time::Duration;

use crate::scenario::{self, ScenarioError, TargetUrl};

/// `wschaos k8s`'s flags besides the scenario file.
#[derive(Debug, Clone, clap::Args)]
pub struct K8sOptions {
    /// Pods (shards) the clients are spread over: pod i runs clients i, i+N, ...
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub shards: u32,
    /// The container image with wschaos as its entrypoint (see the Dockerfile).
    #[arg(long)]
    pub image: String,
    /// The namespace of the objects [default: kubectl's current one].
    #[arg(long)]
    pub namespace: Option<String>,
    /// Every pod starts its clients this long after the manifests are made (time to apply
    /// them, schedule the pods and pull the image).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = start_in_duration)]
    pub start_in: Duration,
    /// The Job's name [default: wschaos-<scenario name>]; the ConfigMap is <name>-scenario.
    #[arg(long)]
    pub name: Option<String>,
}

fn start_in_duration(text: &str) -> Result<Duration, String> {
    crate::cli::checked_duration::<crate::scenario::value::Dur>(text, "--start-in").map(|d| d.0)
}

#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot print the manifests: {0}")]
    Output(String),
}

/// Validates the scenario (as `check` does), prints the manifests on stdout and the commands
/// that follow on stderr.
pub fn command(file: &Path, options: &K8sOptions) -> Result<(), K8sError> {
    let (scenario, text) = load_with_text(file)?;
    let plan = plan(&scenario, text, options, time::OffsetDateTime::now_utc())?;
    let manifests = job::render(&plan).map_err(K8sError::Output)?;
    for warning in warnings(&scenario) {
        eprintln!("warning: {warning}");
    }
    eprintln!(
        "# {} shards of {:?}: {} clients, at most {} per pod ({} MiB requested, {} MiB limit, \
         {}m CPU each)",
        plan.shards,
        scenario.name,
        scenario.clients.count,
        plan.size.clients,
        plan.size.memory_request_mib,
        plan.size.memory_limit_mib,
        plan.size.cpu_request_millicores,
    );
    eprint!(
        "{}",
        follow_up::commands(&plan, &format!("{}.yaml", plan.name))
    );
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(manifests.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| K8sError::Output(e.to_string()))
}

/// The scenario, validated as `check` validates it, and the file's text as read.
fn load_with_text(file: &Path) -> Result<(scenario::Scenario, String), ScenarioError> {
    use std::io::Read;

    let shown = file.display().to_string();
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(scenario::MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|source| ScenarioError::Read {
            file: shown.clone(),
            source,
        })?;
    let scenario = scenario::from_bytes(&bytes, &shown)?;
    // from_bytes accepted it, so it is UTF-8.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok((scenario, text))
}

/// The plan for `options` at `now`.
fn plan(
    scenario: &scenario::Scenario,
    scenario_text: String,
    options: &K8sOptions,
    now: time::OffsetDateTime,
) -> Result<job::Plan, K8sError> {
    let shards = options.shards;
    if shards > scenario.clients.count {
        return Err(K8sError::Invalid(format!(
            "--shards {shards}: more shards than the scenario's {} clients",
            scenario.clients.count
        )));
    }
    let name = match &options.name {
        Some(name) => {
            names::check_job_name(name, shards).map_err(K8sError::Invalid)?;
            name.clone()
        }
        None => names::default_job_name(&scenario.name, shards),
    };
    if let Some(namespace) = &options.namespace {
        names::check_namespace(namespace).map_err(K8sError::Invalid)?;
    }
    names::check_image(&options.image).map_err(K8sError::Invalid)?;
    let start_at = rfc3339_seconds(now + options.start_in).map_err(K8sError::Output)?;
    let deadline_s = options.start_in.as_secs()
        + scenario.duration.as_secs().saturating_add(1)
        + job::DEADLINE_MARGIN_S;
    Ok(job::Plan {
        name,
        namespace: options.namespace.clone(),
        image: options.image.clone(),
        shards,
        start_at,
        seed: scenario.seed,
        scenario_text,
        size: sizing::PodSize::of(scenario, shards),
        deadline_s,
    })
}

/// `at` in RFC 3339, UTC, to the second (rounded up, so it is never before `at`).
fn rfc3339_seconds(at: time::OffsetDateTime) -> Result<String, String> {
    let whole = at.replace_nanosecond(0).map_err(|e| e.to_string())?;
    let whole = if whole < at {
        whole + time::Duration::SECOND
    } else {
        whole
    };
    whole
        .to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| e.to_string())
}

/// What in the scenario will not work as written inside the pods.
fn warnings(scenario: &scenario::Scenario) -> Vec<String> {
    let mut warnings = Vec::new();
    if scenario.target.command.is_some() {
        warnings.push(
            "target.command: every pod would start its own target from the image, which \
             holds only wschaos; point target.url at a Service instead"
                .to_string(),
        );
    }
    if matches!(scenario.target.url, TargetUrl::Embedded) {
        warnings.push(
            "target.url: embedded: every pod runs its own echo server, so the shards load \
             N servers, not one"
                .to_string(),
        );
    }
    if let Some(tls) = &scenario.target.tls {
        let files = tls.ca_file.iter().chain(
            tls.client_identity
                .iter()
                .flat_map(|id| [&id.cert_file, &id.key_file]),
        );
        for file in files {
            warnings.push(format!(
                "target.tls names {}, which the pods do not have (only the scenario is \
                 mounted): build it into the image or mount it",
                file.display()
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests;
