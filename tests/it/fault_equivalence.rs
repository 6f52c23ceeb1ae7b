//! A proxy fault is the same thing in a scenario file and in `wschaos proxy --fault`: every kind
//! and every knob, with good and bad values, is accepted or rejected alike by both parsers, with
//! the same resulting fault or the same complaint.

use wschaos::chaos::ProxyFault;
use wschaos::scenario::{self, FaultKind, ScenarioError};

/// A value each knob accepts; a new knob must be added here (the test fails until it is).
fn valid(knob: &str) -> &'static str {
    match knob {
        "delay" => "2s",
        "jitter" => "10ms",
        "direction" => "downstream",
        "latency" => "50ms",
        "bytes_per_s" => "1000",
        "probability" => "0.1",
        "idle" => "30s",
        other => panic!("no valid value for the knob `{other}`: add one to this test"),
    }
}

/// Values tried on every knob: valid ones, zero, negative, garbage, the 365-day cap and past it,
/// out-of-range fractions, huge numbers. Nothing with whitespace: a `--fault` word cannot hold it.
const PROBES: &[&str] = &[
    "0",
    "0s",
    "0ms",
    "1ms",
    "1s",
    "2s",
    "-1s",
    "-1",
    "abc",
    "",
    "0.0",
    "0.5",
    "1",
    "1.0",
    "1.5",
    "-0.1",
    "1e3",
    "NaN",
    "inf",
    "true",
    "1000",
    "18446744073709551615",
    "18446744073709551616",
    "365days",
    "366days",
    "8761h",
    "9223372036854775807s",
    "upstream",
    "downstream",
    "both",
    "sideways",
];

/// The result of one fault through the scenario parser: the fault, or the message after its
/// key path.
fn through_scenario(kind: &str, knobs: &[(&str, &str)], plain: bool) -> Result<ProxyFault, String> {
    let mut yaml = String::from(
        "name: t\nduration: 60s\ntarget:\n  url: embedded\nclients:\n  count: 1\nfaults:\n",
    );
    yaml.push_str(&format!("  - kind: {kind}\n    at: 0s\n    duration: 1s\n"));
    for (key, value) in knobs {
        let written = if plain {
            value.to_string()
        } else {
            serde_json::to_string(value).expect("a JSON string is a YAML string")
        };
        yaml.push_str(&format!("    {key}: {written}\n"));
    }
    match scenario::parse(&yaml, "s.yaml") {
        Ok(s) => match &s.faults[0].kind {
            FaultKind::Proxy(fault) => Ok(*fault),
            other => panic!("{kind} became {other:?}"),
        },
        Err(ScenarioError::Invalid { message, .. }) => Err(message),
        Err(other) => panic!("{other}"),
    }
}

fn through_cli(kind: &str, knobs: &[(&str, &str)]) -> Result<ProxyFault, String> {
    let mut spec = kind.to_string();
    for (key, value) in knobs {
        spec.push_str(&format!(" {key}={value}"));
    }
    spec.parse::<ProxyFault>()
}

/// What an error says once its key path (`faults[0].delay: `, `` `latency` delay: ``) is cut.
fn complaint(message: &str) -> &str {
    message.split_once(": ").map_or(message, |(_, rest)| rest)
}

/// A value YAML reads as the same text when written without quotes.
fn plain_in_yaml(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
}

fn compare(kind: &str, knobs: &[(&str, &str)], checked: &mut usize) {
    let cli = through_cli(kind, knobs);
    let mut forms = vec![false];
    if knobs.iter().all(|(_, v)| plain_in_yaml(v)) {
        forms.push(true);
    }
    for plain in forms {
        let file = through_scenario(kind, knobs, plain);
        match (&cli, &file) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{kind} {knobs:?}"),
            (Err(a), Err(b)) => assert_eq!(
                complaint(a),
                complaint(b),
                "{kind} {knobs:?}: --fault says {a:?}, the scenario {b:?}"
            ),
            _ => panic!("{kind} {knobs:?} (plain: {plain}): --fault {cli:?}, scenario {file:?}"),
        }
        *checked += 1;
    }
}

#[test]
fn every_kind_and_knob_is_judged_alike_by_both_parsers() {
    let mut checked = 0;
    let mut rejected_somewhere = 0;
    for info in ProxyFault::KINDS {
        let all: Vec<(&str, &str)> = info.knobs.iter().map(|k| (*k, valid(k))).collect();
        // Every knob at a valid value.
        compare(info.name, &all, &mut checked);
        assert!(through_cli(info.name, &all).is_ok(), "{}", info.name);
        // No knobs at all, and each knob left out in turn (required ones must be missed alike).
        compare(info.name, &[], &mut checked);
        for left_out in info.knobs {
            let rest: Vec<_> = all.iter().copied().filter(|(k, _)| k != left_out).collect();
            compare(info.name, &rest, &mut checked);
        }
        // Each knob at every probe value, the others valid.
        for knob in info.knobs {
            for probe in PROBES {
                let knobs: Vec<_> = all
                    .iter()
                    .map(|&(k, v)| if k == *knob { (k, *probe) } else { (k, v) })
                    .collect();
                if through_cli(info.name, &knobs).is_err() {
                    rejected_somewhere += 1;
                }
                compare(info.name, &knobs, &mut checked);
            }
        }
        // Knobs of other kinds and made-up ones: rejected by both (each front end words it
        // its own way, since a scenario entry also holds `at`, `duration` and `fraction`).
        let foreign = ProxyFault::KINDS
            .iter()
            .flat_map(|k| k.knobs.iter())
            .filter(|k| !info.knobs.contains(k))
            .map(|k| (*k, valid(k)))
            .chain([("colour", "red")]);
        for extra in foreign {
            let mut knobs = all.clone();
            knobs.push(extra);
            assert!(through_cli(info.name, &knobs).is_err(), "{extra:?}");
            assert!(
                through_scenario(info.name, &knobs, false).is_err(),
                "{extra:?}"
            );
        }
    }
    assert!(checked > 300, "only {checked} comparisons");
    assert!(
        rejected_somewhere > 100,
        "only {rejected_somewhere} rejections"
    );
}

#[test]
fn the_two_old_disagreements_are_gone() {
    for (kind, knob) in [
        ("delay_pongs", "delay"),
        ("latency", "latency"),
        ("idle_timeout", "idle"),
    ] {
        for value in ["0s", "9223372036854775807s"] {
            let cli = through_cli(kind, &[(knob, value)]).expect_err(value);
            let file = through_scenario(kind, &[(knob, value)], true).expect_err(value);
            assert!(
                cli.starts_with(&format!("`{kind}` {knob}: expected a duration")),
                "{cli}"
            );
            assert!(
                file.starts_with(&format!("faults[0].{knob}: expected a duration")),
                "{file}"
            );
        }
    }
}
