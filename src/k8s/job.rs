//! The two objects `wschaos k8s` prints: a ConfigMap holding the scenario file's text and an
//! Indexed Job whose pod `i` runs shard `i` of it (`wschaos run --shards N` reads the index
//! from `JOB_COMPLETION_INDEX`, which the Job controller sets in every pod), all pods starting
//! their clients at one instant (`--start-at`). Each pod prints its report as one JSON document
//! on stdout, where `kubectl logs` finds it.

use std::collections::BTreeMap;

use super::manifest::*;
use super::sizing::PodSize;
use crate::commands::exit;
use crate::signals::StopSignal;

/// The ConfigMap key holding the scenario.
pub const SCENARIO_KEY: &str = "scenario.yaml";
/// Where the ConfigMap is mounted in the pod.
pub const SCENARIO_DIR: &str = "/scenario";
/// The pod's one container (and the name `podFailurePolicy` matches exit codes of).
pub const CONTAINER_NAME: &str = "wschaos";
/// The report directory inside the pod: on the writable /tmp (the root filesystem is
/// read-only). The report that matters is the JSON on stdout; this copy dies with the pod.
pub const REPORT_DIR: &str = "/tmp/report";
/// Retries of one index (a pod that crashed, e.g. OOM-killed, before its run ended). Runs that
/// ended (exit 0 or 1), bad input (2) and runs stopped by a signal (which printed their report)
/// are never retried: see [`failure_policy`].
pub const BACKOFF_LIMIT_PER_INDEX: u32 = 1;
/// The Job and its pods (and with them their logs, where the reports are) are deleted this
/// long after the Job finished: a day to collect the reports.
pub const TTL_AFTER_FINISHED_S: u64 = 24 * 3600;
/// Time beyond `--start-in` plus the scenario's duration before the Job is stopped: image
/// pulls, scheduling, the clients' close and the report.
pub const DEADLINE_MARGIN_S: u64 = 600;
/// A pod told to stop (SIGTERM) ends its run early and prints its report; this is its time to.
pub const TERMINATION_GRACE_S: u64 = 60;
/// The uid and gid of distroless's `nonroot` user, which the image runs as.
pub const NONROOT_ID: u32 = 65532;

/// Everything the manifests are made from.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub namespace: Option<String>,
    pub image: String,
    pub shards: u32,
    /// When every pod starts its clients (RFC 3339, UTC).
    pub start_at: String,
    /// The seed every shard runs with: shards agree on the run's random choices (fault
    /// victims, jitter) only when they share it, and a file without `seed:` draws one per
    /// process.
    pub seed: u64,
    /// The scenario file's text, verbatim.
    pub scenario_text: String,
    pub size: PodSize,
    /// The Job's `activeDeadlineSeconds`.
    pub deadline_s: u64,
}

impl Plan {
    /// Labels on every object; the pods' also select them for anti-affinity.
    pub fn labels(&self) -> Labels {
        BTreeMap::from([
            ("app.kubernetes.io/name".into(), "wschaos".into()),
            ("app.kubernetes.io/instance".into(), self.name.clone()),
        ])
    }

    pub fn config_map_name(&self) -> String {
        format!("{}-scenario", self.name)
    }

    fn meta(&self, name: String) -> ObjectMeta {
        ObjectMeta {
            name,
            namespace: self.namespace.clone(),
            labels: self.labels(),
        }
    }

    /// What the container runs: one shard of the scenario, its report as JSON on stdout.
    pub fn args(&self) -> Vec<String> {
        [
            "run",
            &format!("{SCENARIO_DIR}/{SCENARIO_KEY}"),
            "--shards",
            &self.shards.to_string(),
            "--start-at",
            &self.start_at,
            "--seed",
            &self.seed.to_string(),
            "--out",
            REPORT_DIR,
            "--json",
            "--quiet",
        ]
        .map(String::from)
        .to_vec()
    }

    pub fn config_map(&self) -> ConfigMap {
        ConfigMap {
            api_version: "v1",
            kind: "ConfigMap",
            metadata: self.meta(self.config_map_name()),
            data: BTreeMap::from([(
                SCENARIO_KEY.to_string(),
                serde_saphyr::LitString(self.scenario_text.clone()),
            )]),
        }
    }

    pub fn job(&self) -> Job {
        Job {
            api_version: "batch/v1",
            kind: "Job",
            metadata: self.meta(self.name.clone()),
            spec: JobSpec {
                completion_mode: "Indexed",
                completions: self.shards,
                parallelism: self.shards,
                // A replacement pod waits until the one it replaces has ended: never two pods
                // of one index at once, so no shard's clients run twice.
                pod_replacement_policy: "Failed",
                backoff_limit_per_index: BACKOFF_LIMIT_PER_INDEX,
                pod_failure_policy: failure_policy(),
                active_deadline_seconds: self.deadline_s,
                ttl_seconds_after_finished: TTL_AFTER_FINISHED_S,
                template: PodTemplate {
                    metadata: TemplateMeta {
                        labels: self.labels(),
                    },
                    spec: self.pod_spec(),
                },
            },
        }
    }

    fn pod_spec(&self) -> PodSpec {
        PodSpec {
            restart_policy: "Never",
            automount_service_account_token: false,
            enable_service_links: false,
            termination_grace_period_seconds: TERMINATION_GRACE_S,
            security_context: PodSecurityContext {
                run_as_non_root: true,
                run_as_user: NONROOT_ID,
                run_as_group: NONROOT_ID,
                seccomp_profile: SeccompProfile {
                    kind: "RuntimeDefault",
                },
            },
            affinity: Affinity {
                pod_anti_affinity: PodAntiAffinity {
                    // Preferred, not required: with fewer nodes than shards the rest still run.
                    preferred_during_scheduling_ignored_during_execution: vec![
                        WeightedPodAffinityTerm {
                            weight: 100,
                            pod_affinity_term: PodAffinityTerm {
                                label_selector: LabelSelector {
                                    match_labels: self.labels(),
                                },
                                topology_key: "kubernetes.io/hostname",
                            },
                        },
                    ],
                },
            },
            containers: vec![self.container()],
            volumes: vec![
                Volume {
                    name: "scenario",
                    config_map: Some(ConfigMapVolume {
                        name: self.config_map_name(),
                    }),
                    empty_dir: None,
                },
                Volume {
                    name: "tmp",
                    config_map: None,
                    empty_dir: Some(EmptyDir {}),
                },
            ],
        }
    }

    fn container(&self) -> Container {
        let size = &self.size;
        Container {
            name: CONTAINER_NAME.into(),
            image: self.image.clone(),
            image_pull_policy: "IfNotPresent",
            args: self.args(),
            resources: Resources {
                requests: BTreeMap::from([
                    ("cpu".into(), format!("{}m", size.cpu_request_millicores)),
                    ("memory".into(), format!("{}Mi", size.memory_request_mib)),
                ]),
                // No CPU limit: throttling would delay heartbeats and read as the target's
                // latency.
                limits: BTreeMap::from([("memory".into(), format!("{}Mi", size.memory_limit_mib))]),
            },
            security_context: ContainerSecurityContext {
                allow_privilege_escalation: false,
                read_only_root_filesystem: true,
                privileged: false,
                capabilities: Capabilities { drop: vec!["ALL"] },
            },
            volume_mounts: vec![
                VolumeMount {
                    name: "scenario",
                    mount_path: SCENARIO_DIR,
                    read_only: true,
                },
                VolumeMount {
                    name: "tmp",
                    mount_path: "/tmp",
                    read_only: false,
                },
            ],
        }
    }
}

/// Which failed pods are retried (counted against `backoffLimitPerIndex`) and which fail their
/// index at once. A run that ended on its own (1: a threshold failed, which is usual for a
/// shard judged alone against the whole run's thresholds) or was stopped by a signal (129,
/// 130, 143) printed its report, and one with bad input (2) would fail again: a retry would only
/// run the shard's clients a second time, off the shared timeline. A pod evicted or preempted
/// before that (a `DisruptionTarget` condition) is replaced without counting.
fn failure_policy() -> PodFailurePolicy {
    let mut codes = vec![i32::from(exit::FAILED), i32::from(exit::BAD_INPUT)];
    codes.extend(StopSignal::ALL.map(|signal| i32::from(signal.exit_code())));
    PodFailurePolicy {
        rules: vec![
            PodFailurePolicyRule {
                action: "FailIndex",
                on_exit_codes: Some(OnExitCodes {
                    container_name: CONTAINER_NAME.into(),
                    operator: "In",
                    values: codes,
                }),
                on_pod_conditions: Vec::new(),
            },
            PodFailurePolicyRule {
                action: "Ignore",
                on_exit_codes: None,
                on_pod_conditions: vec![OnPodCondition {
                    kind: "DisruptionTarget",
                    status: "True",
                }],
            },
        ],
    }
}

/// The manifests as one multi-document YAML stream: the ConfigMap, then the Job.
pub fn render(plan: &Plan) -> Result<String, String> {
    let config_map = serde_saphyr::to_string(&plan.config_map()).map_err(|e| e.to_string())?;
    let job = serde_saphyr::to_string(&plan.job()).map_err(|e| e.to_string())?;
    Ok(format!("---\n{config_map}---\n{job}"))
}
