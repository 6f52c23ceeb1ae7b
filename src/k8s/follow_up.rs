//! The commands that follow `wschaos k8s` (printed on stderr, stdout holding only the
//! manifests): apply, wait for the Job to end, take each index's report out of its pod's log,
//! merge, clean up.

use std::fmt::Write;

use super::job::Plan;

/// The `sed -n` script that keeps a pod log's report: `run --json` prints it pretty, from a
/// `{` line to a `}` line, the only lines that start with a brace (stderr's lines share the log).
pub const REPORT_LINES_SED: &str = "/^{$/,/^}$/p";

/// Seconds between two looks at the Job while waiting for it.
const POLL_S: u64 = 10;

/// The shell lines (with `#` comments) to run after the manifests were saved to `manifests`.
pub fn commands(plan: &Plan, manifests: &str) -> String {
    let kubectl = match &plan.namespace {
        Some(namespace) => format!("kubectl -n {namespace}"),
        None => "kubectl".to_string(),
    };
    let name = &plan.name;
    let last = plan.shards - 1;
    let dir = format!("{name}-shards");
    let polls = plan.deadline_s.div_ceil(POLL_S) + 1;
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        text,
        "\
# Save the manifests (stdout) as {manifests} and apply them before {start}, when the clients
# of every pod start (needs Kubernetes 1.29 or later: backoffLimitPerIndex, podReplacementPolicy).
{kubectl} apply -f {manifests}

# Wait until every shard has ended: the Job is Complete, or Failed when an index failed (a
# shard judged alone against the run's thresholds usually fails them and exits 1, which fails
# its index without a retry; its report is collected all the same).
for _ in $(seq {polls}); do
  case \"$({kubectl} get job {name} -o jsonpath='{{.status.conditions[?(@.status==\"True\")].type}}')\" in
    *Complete*|*Failed*) break ;;
  esac
  sleep {POLL_S}
done
# (or, when every shard should pass: {kubectl} wait --for=condition=complete job/{name} --timeout={deadline}s)

# Each pod's report is the one JSON document of its log (stdout and stderr share the log, so
# only the lines from '{{' to '}}' at the start of a line are kept); the newest pod of an index
# is the one that counts.
mkdir -p {dir}
for i in $(seq 0 {last}); do
  pod=$({kubectl} get pods -l batch.kubernetes.io/job-name={name},batch.kubernetes.io/job-completion-index=$i \\
    --sort-by=.metadata.creationTimestamp -o name | tail -n 1)
  {kubectl} logs \"$pod\" | sed -n '{REPORT_LINES_SED}' > {dir}/shard-$i.json
  [ -s {dir}/shard-$i.json ] || {{ echo \"shard $i: no report in $pod\" >&2; rm -f {dir}/shard-$i.json; }}
done
wschaos merge {dir}/shard-*.json --out reports/{name}
# (a shard without a report: add --allow-partial to merge those that have one)

# The Job and its pods go {ttl_h} h after it ends (ttlSecondsAfterFinished); the ConfigMap stays:
{kubectl} delete job/{name} configmap/{config_map} --ignore-not-found
",
        start = plan.start_at,
        deadline = plan.deadline_s,
        ttl_h = super::job::TTL_AFTER_FINISHED_S / 3600,
        config_map = plan.config_map_name(),
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::sizing::PodSize;

    fn plan(namespace: Option<&str>) -> Plan {
        Plan {
            name: "wschaos-flaky".into(),
            namespace: namespace.map(String::from),
            image: "example/wschaos:1".into(),
            shards: 4,
            start_at: "2030-01-02T03:04:05Z".into(),
            seed: 7,
            scenario_text: "name: flaky\n".into(),
            size: PodSize {
                clients: 500,
                memory_request_mib: 66,
                memory_limit_mib: 132,
                cpu_request_millicores: 250,
            },
            deadline_s: 710,
        }
    }

    #[test]
    fn the_commands_name_the_job_the_namespace_and_every_index() {
        let text = commands(&plan(Some("load")), "wschaos-flaky.yaml");
        assert!(
            text.contains("kubectl -n load apply -f wschaos-flaky.yaml\n"),
            "{text}"
        );
        assert!(
            text.contains("before 2030-01-02T03:04:05Z, when the clients"),
            "{text}"
        );
        // 710 s of deadline at one look per 10 s, plus one.
        assert!(text.contains("for _ in $(seq 72); do"), "{text}");
        assert!(
            text.contains("kubectl -n load get job wschaos-flaky -o jsonpath="),
            "{text}"
        );
        assert!(text.contains("for i in $(seq 0 3); do"), "{text}");
        assert!(
            text.contains(
                "-l batch.kubernetes.io/job-name=wschaos-flaky,\
                 batch.kubernetes.io/job-completion-index=$i"
            ),
            "{text}"
        );
        assert!(text.contains("sed -n '/^{$/,/^}$/p' > wschaos-flaky-shards/shard-$i.json"));
        assert!(
            text.contains(
                "wschaos merge wschaos-flaky-shards/shard-*.json --out reports/wschaos-flaky"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "kubectl -n load delete job/wschaos-flaky configmap/wschaos-flaky-scenario"
            ),
            "{text}"
        );
        // Every line is a comment or a command (no empty interpolation left behind).
        assert!(
            !text.contains("{kubectl}") && !text.contains("{name}"),
            "{text}"
        );
    }

    #[test]
    fn without_a_namespace_kubectl_uses_the_context_s() {
        let text = commands(&plan(None), "m.yaml");
        assert!(text.contains("\nkubectl apply -f m.yaml\n"), "{text}");
        assert!(!text.contains("kubectl -n"), "{text}");
    }

    /// The collection step's filter keeps the pretty-printed report and drops other log lines.
    #[test]
    fn the_log_filter_keeps_only_the_report() {
        let log = "warning: something\n{\n  \"a\": {\n    \"b\": 1\n  }\n}\nafter\n";
        let sed = std::process::Command::new("sed")
            .args(["-n", REPORT_LINES_SED])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn();
        let Ok(mut sed) = sed else {
            eprintln!("SKIPPED the_log_filter_keeps_only_the_report: no sed");
            return;
        };
        if let Some(mut stdin) = sed.stdin.take() {
            use std::io::Write as _;
            stdin.write_all(log.as_bytes()).expect("write to sed");
        }
        let out = sed.wait_with_output().expect("sed output");
        let kept = String::from_utf8(out.stdout).expect("utf-8");
        assert_eq!(kept, "{\n  \"a\": {\n    \"b\": 1\n  }\n}\n");
        let value: serde_json::Value = serde_json::from_str(&kept).expect("JSON");
        assert_eq!(value["a"]["b"], 1);
    }
}
