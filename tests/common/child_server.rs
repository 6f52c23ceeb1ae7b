//! A third-party server run as a child process (Node's `ws`, Python's `websockets`) that prints
//! its port on its first line and then a line per event the tests read; killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

/// How long a server may take to print its port.
const START_LIMIT: Duration = Duration::from_secs(20);

pub struct ChildServer {
    child: Child,
    pub port: u16,
    /// What it printed after the port line, line by line.
    pub lines: Receiver<String>,
}

impl ChildServer {
    /// Starts `command` (its stdout is taken) and waits for the port on its first line.
    pub fn start(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv_timeout(START_LIMIT).expect("the port line");
        let port = first.trim().parse().expect("a port on the first line");
        Self { child, port, lines }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tests/node`: the Node servers and their packages (`npm ci --prefix tests/node`).
pub fn node_dir() -> PathBuf {
    node_project("node")
}

/// `tests/<project>`: Node servers with packages of their own (`npm ci --prefix
/// tests/<project>`), like `tests/socketio`.
pub fn node_project(project: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(project)
}

/// Why a Node server of `tests/node` needing `package` cannot run here, if it cannot: no
/// `node`, or the package not installed.
pub fn node_missing(package: &str) -> Option<String> {
    node_missing_in("node", package)
}

/// `node_missing` for the servers of `tests/<project>`.
pub fn node_missing_in(project: &str, package: &str) -> Option<String> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|status| status.success()) {
        return Some("`node` is not on PATH".into());
    }
    if !node_project(project)
        .join("node_modules")
        .join(package)
        .is_dir()
    {
        return Some(format!(
            "tests/{project}/node_modules/{package} is missing (npm ci --prefix tests/{project})"
        ));
    }
    None
}
