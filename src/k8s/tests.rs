//! The plan and the printed manifests: names, the start instant, the Job's fields, and the
//! scenario text surviving the trip through YAML byte for byte.

use std::time::Duration;

use serde_json::Value;

use super::*;

const SCENARIO: &str = "name: Unit_Test.v2\nseed: 42\nduration: 30s\ntarget:\n  url: ws://10.0.0.1:9001/\nclients:\n  count: 1000\n";

fn options(shards: u32) -> K8sOptions {
    K8sOptions {
        shards,
        image: "example/wschaos:1".into(),
        namespace: None,
        start_in: Duration::from_secs(60),
        name: None,
    }
}

fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2030-01-02 03:04:05.250 UTC)
}

fn plan_of(text: &str, options: &K8sOptions) -> Result<job::Plan, K8sError> {
    let scenario = scenario::parse(text, "unit.yaml").expect("valid scenario");
    plan(&scenario, text.to_string(), options, now())
}

/// The printed documents, parsed back.
fn documents(plan: &job::Plan) -> Vec<Value> {
    let yaml = job::render(plan).expect("render");
    let docs: Vec<Value> =
        serde_saphyr::from_str_multiple(&yaml).expect("the output parses as YAML");
    docs
}

#[test]
fn the_start_is_now_plus_start_in_to_the_second_rounded_up() {
    let plan = plan_of(SCENARIO, &options(4)).expect("plan");
    assert_eq!(plan.start_at, "2030-01-02T03:05:06Z");
    let exact = rfc3339_seconds(time::macros::datetime!(2030-01-02 03:04:05 UTC)).expect("format");
    assert_eq!(exact, "2030-01-02T03:04:05Z");
    // The deadline covers the wait, the run and the margin.
    assert_eq!(plan.deadline_s, 60 + 31 + job::DEADLINE_MARGIN_S);
}

#[test]
fn names_seed_and_size_come_from_the_scenario() {
    let plan = plan_of(SCENARIO, &options(4)).expect("plan");
    assert_eq!(plan.name, "wschaos-unit-test-v2");
    assert_eq!(plan.config_map_name(), "wschaos-unit-test-v2-scenario");
    assert_eq!(plan.seed, 42);
    assert_eq!(plan.size.clients, 250);
    assert_eq!(plan.namespace, None);
}

#[test]
fn bad_flags_are_refused_before_anything_is_printed() {
    let err = |options: K8sOptions| match plan_of(SCENARIO, &options) {
        Err(K8sError::Invalid(message)) => message,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(err(options(1001)).contains("more shards than the scenario's 1000 clients"));
    let mut named = options(2);
    named.name = Some("Not_A_Name".into());
    assert!(err(named).starts_with("--name \"Not_A_Name\""));
    let mut namespaced = options(2);
    namespaced.namespace = Some("-x".into());
    assert!(err(namespaced).starts_with("--namespace \"-x\""));
    let mut imageless = options(2);
    imageless.image = " ".into();
    assert!(err(imageless).starts_with("--image"));
}

#[test]
fn the_job_is_indexed_with_one_pod_per_shard_and_no_double_runs() {
    let mut options = options(4);
    options.namespace = Some("load".into());
    let plan = plan_of(SCENARIO, &options).expect("plan");
    let docs = documents(&plan);
    assert_eq!(docs.len(), 2);
    let (config_map, job) = (&docs[0], &docs[1]);
    assert_eq!(config_map["kind"], "ConfigMap");
    assert_eq!(config_map["metadata"]["namespace"], "load");
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["metadata"]["namespace"], "load");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], 4);
    assert_eq!(spec["parallelism"], 4);
    assert_eq!(spec["podReplacementPolicy"], "Failed");
    assert_eq!(spec["backoffLimitPerIndex"], job::BACKOFF_LIMIT_PER_INDEX);
    let rules = spec["podFailurePolicy"]["rules"].as_array().expect("rules");
    assert_eq!(rules[0]["action"], "FailIndex");
    assert_eq!(
        rules[0]["onExitCodes"]["containerName"],
        job::CONTAINER_NAME
    );
    let mut codes: Vec<i64> = rules[0]["onExitCodes"]["values"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, [1, 2, 129, 130, 143]);
    assert_eq!(rules[1]["action"], "Ignore");
    assert_eq!(rules[1]["onPodConditions"][0]["type"], "DisruptionTarget");
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "example/wschaos:1");
    assert_eq!(container["args"][0], "run");
    assert_eq!(container["args"][1], "/scenario/scenario.yaml");
    // The Job controller sets the index: nothing here may set it.
    assert!(container.get("env").is_none(), "{container}");
}

/// Scenario texts a block literal could get wrong: each must come back byte for byte.
#[test]
fn the_scenario_text_survives_yaml_byte_for_byte() {
    let texts = [
        SCENARIO.to_string(),
        SCENARIO.trim_end().to_string(),
        format!("{SCENARIO}\n\n\n"),
        format!("  # indented first line\n{SCENARIO}"),
        SCENARIO.replace('\n', "\r\n"),
        format!("# trailing spaces   \n{SCENARIO}# tab\there\n"),
        format!("---\n{SCENARIO}...\n"),
        format!("{SCENARIO}# ünïcödé ✓\n"),
    ];
    for text in texts {
        let Ok(scenario) = scenario::parse(&text, "unit.yaml") else {
            panic!("not a valid scenario: {text:?}");
        };
        let plan = plan(&scenario, text.clone(), &options(2), now()).expect("plan");
        let docs = documents(&plan);
        assert_eq!(
            docs[0]["data"][job::SCENARIO_KEY].as_str(),
            Some(text.as_str()),
            "{}",
            job::render(&plan).unwrap_or_default()
        );
    }
}

#[test]
fn warnings_name_what_the_pods_lack() {
    let text = "name: w\nduration: 5s\ntarget:\n  url: embedded\nclients:\n  count: 10\n";
    let scenario = scenario::parse(text, "w.yaml").expect("valid");
    let warnings = warnings(&scenario);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("every pod runs its own echo server"));
    let scenario = scenario::parse(SCENARIO, "unit.yaml").expect("valid");
    assert!(super::warnings(&scenario).is_empty());
}
