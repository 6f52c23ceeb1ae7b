//! `run --threads N`: the process runs exactly N client threads (actix arbiters; /proc names
//! each `actix-rt|system`, the name cut at 15 bytes), and `run --procs N` gives each shard its
//! share of the cores, at least one.

use std::process::{Child, Stdio};

use crate::common::*;

/// Client threads of process `pid` now.
fn client_threads(pid: u32) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim_end() == "actix-rt|system")
        })
        .count()
}

/// The processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                // Field 4, after the parenthesised name (which may hold spaces).
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(parent)
            })
        })
        .collect()
}

/// A run of four clients against a closed port, started in the background; the tests kill it
/// once they have seen what they look for (the duration only bounds a run left behind).
fn start_run(dir: &std::path::Path, name: &str, args: &[&str]) -> Child {
    let yaml = format!(
        "name: {name}\nseed: 1\nduration: 15s\ntarget: {{url: \"ws://{}/\"}}\nclients: {{count: 4}}\n",
        closed_port()
    );
    let file = scenario_file(dir, &format!("{name}.yaml"), &yaml);
    run_command(&file, &dir.join(name))
        .args(args)
        .arg("--quiet")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wschaos run")
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn threads_sets_how_many_client_threads_the_run_has() {
    let dir = tempfile::tempdir().expect("temp dir");
    for threads in [1usize, 3] {
        let child = start_run(
            dir.path(),
            &format!("threads-{threads}"),
            &["--threads", &threads.to_string()],
        );
        let pid = child.id();
        let counted = eventually(ms(10_000), || client_threads(pid) == threads);
        let seen = client_threads(pid);
        stop(child);
        assert!(counted, "--threads {threads}: {seen} client threads");
    }
}

#[test]
fn procs_gives_each_shard_its_share_of_the_cores() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let share = (cores / 2).max(1);
    let parent = start_run(dir.path(), "procs", &["--procs", "2"]);
    let pid = parent.id();
    // The shards make their client threads at the common start, 1.5 s after they are started.
    let shards_up = eventually(ms(10_000), || {
        let shards = children_of(pid);
        shards.len() == 2 && shards.iter().all(|&s| client_threads(s) == share)
    });
    let seen: Vec<usize> = children_of(pid).into_iter().map(client_threads).collect();
    stop(parent);
    assert!(
        shards_up,
        "{cores} cores: client threads per shard {seen:?}, expected {share}"
    );
}
