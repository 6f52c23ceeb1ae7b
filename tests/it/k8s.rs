//! `wschaos k8s`: the printed manifests parsed back and checked field by field, validated
//! against the real Kubernetes schemas with `kubernetes-validate` (skipped, with a note, where it
//! is missing: `python3 -m pip install --user kubernetes-validate`), and the collection step
//! (a pod log's JSON report, filtered as the printed commands do) read by `wschaos merge`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::common::{exits, refused, scenario_file, tiny_scenario_file, wschaos};

fn flaky() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/flaky.yaml")
}

/// `wschaos k8s FILE --shards N --image example/wschaos:1 EXTRA...`: (stdout, stderr).
fn k8s(file: &Path, shards: u32, extra: &[&str]) -> (String, String) {
    exits(
        wschaos()
            .arg("k8s")
            .arg(file)
            .args([
                "--shards",
                &shards.to_string(),
                "--image",
                "example/wschaos:1",
            ])
            .args(extra),
        0,
    )
}

fn documents(yaml: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_str_multiple(yaml).expect("stdout parses as YAML");
    docs
}

/// The ConfigMap and the Job of `yaml`, checked to be those two.
fn config_map_and_job(yaml: &str) -> (Value, Value) {
    let docs = documents(yaml);
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(kinds, ["ConfigMap", "Job"], "{yaml}");
    (docs[0].clone(), docs[1].clone())
}

/// The value after `flag` in `args`.
fn arg_after<'a>(args: &'a [Value], flag: &str) -> &'a str {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    args[at + 1].as_str().expect("a string argument")
}

/// A quantity like `75Mi` or `250m` as a number of its unit.
fn quantity(value: &Value, unit: &str) -> u64 {
    value
        .as_str()
        .and_then(|q| q.strip_suffix(unit))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{value} is not a number of {unit}"))
}

#[test]
fn the_manifests_run_one_shard_per_pod_from_the_scenario_s_text() {
    let before = OffsetDateTime::now_utc();
    let (stdout, stderr) = k8s(&flaky(), 4, &[]);
    let (config_map, job) = config_map_and_job(&stdout);

    // The scenario travels verbatim in the ConfigMap.
    let text = std::fs::read_to_string(flaky()).expect("flaky.yaml");
    assert_eq!(
        config_map["data"]["scenario.yaml"].as_str(),
        Some(text.as_str())
    );
    for object in [&config_map, &job, &job["spec"]["template"]] {
        assert_eq!(
            object["metadata"]["labels"]["app.kubernetes.io/name"],
            "wschaos"
        );
    }
    assert_eq!(job["metadata"]["name"], "wschaos-flaky");
    assert!(job["metadata"].get("namespace").is_none(), "{job}");

    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], 4);
    assert_eq!(spec["parallelism"], 4);
    assert_eq!(spec["podReplacementPolicy"], "Failed");
    assert_eq!(spec["backoffLimitPerIndex"], 1);
    assert!(
        spec["ttlSecondsAfterFinished"].as_u64() >= Some(3600),
        "{spec}"
    );
    // 60 s of --start-in plus the 50 s run, and a margin.
    assert!(spec["activeDeadlineSeconds"].as_u64() > Some(110), "{spec}");

    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    assert_eq!(container["image"], "example/wschaos:1");

    // The args: one shard of the mounted scenario, its report as JSON on stdout.
    let args = container["args"].as_array().expect("args");
    assert_eq!(args[0], "run");
    assert_eq!(args[1], "/scenario/scenario.yaml");
    assert_eq!(arg_after(args, "--shards"), "4");
    assert!(args.contains(&Value::from("--json")), "{args:?}");
    assert!(args.contains(&Value::from("--quiet")), "{args:?}");
    let start_at = OffsetDateTime::parse(arg_after(args, "--start-at"), &Rfc3339)
        .expect("--start-at is RFC 3339");
    let after = OffsetDateTime::now_utc();
    assert!(
        start_at > before + time::Duration::seconds(59),
        "{start_at}"
    );
    assert!(
        start_at <= after + time::Duration::seconds(61),
        "{start_at}"
    );
    assert!(arg_after(args, "--seed").parse::<u64>().is_ok(), "{args:?}");
    // The report directory is on the writable /tmp, an emptyDir.
    assert!(arg_after(args, "--out").starts_with("/tmp/"), "{args:?}");

    // The Job controller sets JOB_COMPLETION_INDEX in every pod: nothing here overrides it.
    let env = container["env"].as_array().cloned().unwrap_or_default();
    assert!(
        env.iter().all(|e| e["name"] != "JOB_COMPLETION_INDEX"),
        "{env:?}"
    );

    // Mounts: the ConfigMap read-only at /scenario, an emptyDir at /tmp.
    let volume_of = |mount_path: &str| {
        let mount = container["volumeMounts"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["mountPath"] == mount_path))
            .unwrap_or_else(|| panic!("nothing mounted at {mount_path}"))
            .clone();
        let volume = pod["volumes"]
            .as_array()
            .and_then(|v| v.iter().find(|v| v["name"] == mount["name"]))
            .expect("the mounted volume")
            .clone();
        (mount, volume)
    };
    let (mount, volume) = volume_of("/scenario");
    assert_eq!(mount["readOnly"], true);
    assert_eq!(volume["configMap"]["name"], config_map["metadata"]["name"]);
    let (_, tmp) = volume_of("/tmp");
    assert!(tmp["emptyDir"].is_object(), "{tmp}");

    // Spread over nodes: preferred anti-affinity to the Job's own pods, by hostname.
    let terms =
        &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"];
    let term = &terms[0]["podAffinityTerm"];
    assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
    let pod_labels = &spec["template"]["metadata"]["labels"];
    let selector = term["labelSelector"]["matchLabels"]
        .as_object()
        .expect("matchLabels");
    assert!(!selector.is_empty());
    for (key, value) in selector {
        assert_eq!(&pod_labels[key], value, "the selector must match the pods");
    }

    // Locked down.
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));

    // Requests and a memory limit; no CPU limit.
    let resources = &container["resources"];
    assert!(quantity(&resources["requests"]["memory"], "Mi") >= 64);
    assert!(quantity(&resources["requests"]["cpu"], "m") >= 250);
    assert!(
        quantity(&resources["limits"]["memory"], "Mi")
            >= quantity(&resources["requests"]["memory"], "Mi")
    );
    assert!(resources["limits"].get("cpu").is_none(), "{resources}");

    // The commands that follow go to stderr; stdout holds only the manifests.
    assert!(!stdout.contains("kubectl"), "{stdout}");
    for line in [
        "kubectl apply -f wschaos-flaky.yaml",
        "for i in $(seq 0 3); do",
        "batch.kubernetes.io/job-completion-index=$i",
        "wschaos merge wschaos-flaky-shards/shard-*.json",
    ] {
        assert!(stderr.contains(line), "{line:?} missing from {stderr}");
    }
}

#[test]
fn name_and_namespace_reach_every_object_and_command() {
    let (stdout, stderr) = k8s(
        &flaky(),
        2,
        &[
            "--name",
            "chaos-1",
            "--namespace",
            "load",
            "--start-in",
            "5m",
        ],
    );
    let (config_map, job) = config_map_and_job(&stdout);
    assert_eq!(job["metadata"]["name"], "chaos-1");
    assert_eq!(config_map["metadata"]["name"], "chaos-1-scenario");
    assert_eq!(job["metadata"]["namespace"], "load");
    assert_eq!(config_map["metadata"]["namespace"], "load");
    assert!(
        stderr.contains("kubectl -n load apply -f chaos-1.yaml"),
        "{stderr}"
    );
    let args = job["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .clone();
    let start_at = OffsetDateTime::parse(arg_after(&args, "--start-at"), &Rfc3339).expect("time");
    assert!(start_at > OffsetDateTime::now_utc() + time::Duration::seconds(290));
}

/// The memory and CPU requested of `count` clients over `shards` pods (external target).
fn requests(dir: &Path, count: u32, shards: u32) -> (u64, u64) {
    let yaml = format!(
        "name: size{count}\nduration: 60s\nseed: 1\ntarget:\n  url: ws://10.0.0.1:9001/\n\
         clients:\n  count: {count}\n  ramp: 10s\n"
    );
    let file = scenario_file(dir, &format!("size{count}.yaml"), &yaml);
    let (stdout, _) = k8s(&file, shards, &[]);
    let (_, job) = config_map_and_job(&stdout);
    let requests = &job["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"];
    (
        quantity(&requests["memory"], "Mi"),
        quantity(&requests["cpu"], "m"),
    )
}

#[test]
fn resources_scale_with_the_clients_of_a_pod() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (small_memory, small_cpu) = requests(dir.path(), 4_000, 4);
    let (large_memory, large_cpu) = requests(dir.path(), 400_000, 4);
    let (spread_memory, spread_cpu) = requests(dir.path(), 400_000, 20);
    assert!(
        large_memory > small_memory,
        "{large_memory} vs {small_memory}"
    );
    assert!(large_cpu > small_cpu, "{large_cpu} vs {small_cpu}");
    assert!(
        spread_memory < large_memory,
        "{spread_memory} vs {large_memory}"
    );
    assert!(spread_cpu < large_cpu, "{spread_cpu} vs {large_cpu}");
    // 100,000 clients a pod: 5 cores at 20,000 a core.
    assert_eq!(large_cpu, 5000);
}

#[test]
fn a_bad_scenario_is_refused_with_file_line_column() {
    let original = std::fs::read_to_string(flaky()).expect("flaky.yaml");
    let broken = original.replacen("fraction: 0.1", "fraction: 1.5", 1);
    let line = broken
        .lines()
        .position(|l| l.contains("fraction: 1.5"))
        .expect("replaced")
        + 1;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(dir.path(), "broken.yaml", &broken);
    let mut command = wschaos();
    command
        .arg("k8s")
        .arg(&file)
        .args(["--shards", "4", "--image", "example/wschaos:1"]);
    let out = command.output().expect("run wschaos");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no manifests for a bad scenario");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:{line}:", file.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("expected a number from 0.0 to 1.0"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_are_refused() {
    let cases: [(&[&str], &str); 4] = [
        (&["--shards", "0"], "--shards"),
        (
            &["--shards", "2001"],
            "more shards than the scenario's 2000 clients",
        ),
        (
            &["--shards", "2", "--name", "Bad_Name"],
            "--name \"Bad_Name\"",
        ),
        (
            &["--shards", "2", "--namespace", "x."],
            "--namespace \"x.\"",
        ),
    ];
    for (args, message) in cases {
        let stderr = refused(
            wschaos()
                .arg("k8s")
                .arg(flaky())
                .args(args)
                .args(["--image", "example/wschaos:1"]),
        );
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

/// Why `kubernetes-validate` cannot run here, if it cannot.
fn kubernetes_validate_missing() -> Option<String> {
    let probe = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match probe {
        Err(_) => Some("`python3` is not on PATH".into()),
        Ok(status) if !status.success() => Some(
            "kubernetes-validate is missing (python3 -m pip install --user kubernetes-validate)"
                .into(),
        ),
        Ok(_) => None,
    }
}

/// Every document passes the real Kubernetes schemas (strict: no unknown field), for the oldest
/// version the Job's fields work on by default (1.29) and the newest the validator bundles.
#[test]
fn the_manifests_pass_the_kubernetes_schemas() {
    if let Some(why) = kubernetes_validate_missing() {
        eprintln!("SKIPPED k8s::the_manifests_pass_the_kubernetes_schemas: {why}");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (stdout, _) = k8s(&flaky(), 4, &["--namespace", "load"]);
    let file = dir.path().join("manifests.yaml");
    std::fs::write(&file, &stdout).expect("write manifests");
    for version in [Some("1.29.0"), None] {
        let mut command = Command::new("python3");
        command.args(["-m", "kubernetes_validate", "--strict"]);
        if let Some(version) = version {
            command.args(["-k", version]);
        }
        let out = command
            .arg(&file)
            .output()
            .expect("run kubernetes-validate");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{version:?}: {report}\n{stdout}");
        for object in ["configmap/wschaos-flaky-scenario", "job/wschaos-flaky"] {
            assert!(
                report.contains(&format!("passed for resource {object}")),
                "{version:?}: {report}"
            );
        }
    }
}

/// The collection step, without a cluster: each shard's `run --json --quiet` stdout, with a
/// stray stderr line mixed in as a pod log has it, filtered by the printed `sed` script, is a
/// file `wschaos merge` reads.
#[test]
fn a_filtered_pod_log_is_a_report_merge_reads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = tiny_scenario_file(dir.path(), 4);
    let mut shard_files = Vec::new();
    for index in 0..2 {
        let (stdout, _) = exits(
            wschaos()
                .arg("run")
                .arg(&file)
                .args([
                    "--shard",
                    &format!("{index}/2"),
                    "--json",
                    "--quiet",
                    "--out",
                ])
                .arg(dir.path().join(format!("out-{index}"))),
            0,
        );
        let log = format!("warning: a line the pod wrote to stderr\n{stdout}");
        let filtered = sed_filter(&log);
        let shard_file = dir.path().join(format!("shard-{index}.json"));
        std::fs::write(&shard_file, filtered).expect("write shard");
        shard_files.push(shard_file);
    }
    let merged = dir.path().join("merged");
    exits(
        wschaos()
            .arg("merge")
            .args(&shard_files)
            .arg("--out")
            .arg(&merged),
        0,
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(merged.join("report.json")).expect("merged report.json"),
    )
    .expect("JSON");
    assert_eq!(report["scenario"]["clients"], 4, "{report}");
    // The per-second RTT came through the logs too: the merged hlog adds up to the merged
    // heartbeat RTT, and the carried text stays out of the merged report.json.
    let hlog = std::fs::read(merged.join("heartbeat_rtt.hlog")).expect("merged hlog");
    let intervals = wschaos::report::parse_hlog(&hlog).expect("hlog parses");
    let in_intervals: u64 = intervals
        .iter()
        .filter_map(|i| i.histogram())
        .map(|h| h.len())
        .sum();
    let rtt_count = report["histograms"]["heartbeat_rtt"]["count"]
        .as_u64()
        .expect("heartbeat_rtt count");
    assert!(rtt_count > 0, "{report}");
    assert_eq!(in_intervals, rtt_count);
    assert!(report.get("heartbeat_rtt_hlog").is_none(), "{report}");
}

/// `sed -n SCRIPT` over `log`, as the printed collection loop runs it.
fn sed_filter(log: &str) -> String {
    let mut sed = Command::new("sed")
        .args(["-n", wschaos::k8s::follow_up::REPORT_LINES_SED])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sed");
    sed.stdin
        .take()
        .expect("stdin")
        .write_all(log.as_bytes())
        .expect("write to sed");
    let out = sed.wait_with_output().expect("sed output");
    assert!(out.status.success());
    let kept = String::from_utf8(out.stdout).expect("utf-8");
    assert!(kept.starts_with("{\n") && kept.ends_with("}\n"), "{kept}");
    kept
}
