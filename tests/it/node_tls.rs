//! wss:// against a third-party TLS stack: a Node https server (OpenSSL) with the `ws` package
//! (`tests/node/tls_server.js`), started by each test as a child process whose stdout says how
//! every handshake went. Skipped, with a note, where `node` or `tests/node/node_modules/ws`
//! (`npm ci --prefix tests/node`) is missing.

use std::path::Path;
use std::process::Command;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::common::child_server::{ChildServer, node_dir, node_missing};
use crate::common::pki::{Pki, write};
use crate::common::{closed_port, run_scenario_in};
use crate::tls::{quiet, run, scenario};
use wschaos::run::RunOptions;

/// How long after a run the server's last lines may take to arrive.
const SETTLE: Duration = Duration::from_millis(300);

/// Why the Node tests cannot run here, if they cannot.
fn missing() -> Option<String> {
    node_missing("ws")
}

/// The Node server, killed when dropped.
struct NodeServer(ChildServer);

impl NodeServer {
    /// Starts `tls_server.js ARGS`; `None` (after a printed note) where Node cannot run.
    fn start(test: &str, args: &[&str]) -> Option<Self> {
        if let Some(why) = missing() {
            eprintln!("SKIPPED node_tls::{test}: {why}");
            return None;
        }
        let mut command = Command::new("node");
        command.arg(node_dir().join("tls_server.js")).args(args);
        Some(Self(ChildServer::start(command)))
    }

    fn url(&self) -> String {
        format!("  url: wss://127.0.0.1:{}/\n", self.0.port)
    }

    /// The lines printed since the last call, once the server has been quiet for a moment.
    fn printed(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.0.lines.recv_timeout(SETTLE) {
                Ok(line) => lines.push(line),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        lines
    }

    /// Handshakes since the last call: (all, resumed).
    fn handshakes(&self) -> (usize, usize) {
        let printed = self.printed();
        let all = printed
            .iter()
            .filter(|l| l.starts_with("handshake "))
            .count();
        let resumed = printed
            .iter()
            .filter(|l| *l == "handshake resumed=true")
            .count();
        (all, resumed)
    }
}

/// A CA, a server certificate it signed for 127.0.0.1, their files, in `dir`: (ca, cert, key).
fn server_files(pki: &Pki, dir: &Path) -> (String, String, String) {
    let (cert, key, _) = pki.leaf(&["localhost", "127.0.0.1"]);
    (
        write(dir, "ca.pem", &pki.ca_pem),
        write(dir, "cert.pem", &cert),
        write(dir, "key.pem", &key),
    )
}

#[test]
fn wss_to_node_with_its_ca_file_connects_and_heartbeats_are_acked() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = server_files(&pki, dir.path());
    let Some(server) = NodeServer::start(
        "wss_to_node_with_its_ca_file_connects_and_heartbeats_are_acked",
        &["--cert", &cert, "--key", &key],
    ) else {
        return;
    };
    let report = run(&format!("{}  tls: {{ca_file: {ca}}}\n", server.url()), "");
    let c = &report.counters;
    assert_eq!(c.clients_connected, 4, "{c:?}");
    assert_eq!(c.connect_failures, 0, "{c:?}");
    assert_eq!(c.disconnects(), 0, "{c:?}");
    assert!(c.heartbeat_acks >= 4 * 10, "{c:?}");
    assert!(report.histograms["tls_handshake_time"].count >= 4);
    assert_eq!(server.handshakes().0, 4);
}

#[test]
fn an_untrusted_node_server_fails_every_attempt_as_tls_unless_insecure() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, cert, key) = server_files(&pki, dir.path());
    let Some(server) = NodeServer::start(
        "an_untrusted_node_server_fails_every_attempt_as_tls_unless_insecure",
        &["--cert", &cert, "--key", &key],
    ) else {
        return;
    };
    let untrusted = run(&server.url(), "");
    let c = &untrusted.counters;
    assert_eq!(c.connects, 0, "{c:?}");
    assert!(c.connect_failures > 0, "{c:?}");
    assert_eq!(c.connect_failures_tls, c.connect_failures, "{c:?}");
    assert_eq!(c.disconnects(), 0, "{c:?}");
    assert_eq!(server.handshakes().0, 0, "no handshake completed");

    let insecure = run(&format!("{}  tls: {{insecure: true}}\n", server.url()), "");
    assert_eq!(
        insecure.counters.clients_connected, 4,
        "{:?}",
        insecure.counters
    );
    assert!(insecure.counters.heartbeat_acks > 0);
}

#[test]
fn node_requiring_client_certificates_accepts_the_configured_one_and_refuses_a_run_without() {
    let pki = Pki::new();
    let clients = Pki::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = server_files(&pki, dir.path());
    let (client_pem, client_key, _) = clients.leaf(&["client"]);
    let client_ca = write(dir.path(), "client-ca.pem", &clients.ca_pem);
    let client_cert = write(dir.path(), "client.pem", &client_pem);
    let client_key = write(dir.path(), "client.key", &client_key);
    let Some(server) = NodeServer::start(
        "node_requiring_client_certificates_accepts_the_configured_one_and_refuses_a_run_without",
        &["--cert", &cert, "--key", &key, "--ca", &client_ca],
    ) else {
        return;
    };

    let with = run(
        &format!(
            "{}  tls: {{ca_file: {ca}, client_cert: {client_cert}, client_key: {client_key}}}\n",
            server.url()
        ),
        "",
    );
    let c = &with.counters;
    assert_eq!(c.clients_connected, 4, "{c:?}");
    assert_eq!(c.disconnects(), 0, "{c:?}");
    assert!(c.heartbeat_acks > 0, "{c:?}");
    assert_eq!(server.handshakes().0, 4);

    // TLS 1.3: the client sends its (empty) certificate after the server's Finished, so its
    // handshake is complete when the server refuses it; the refusal (a certificate_required
    // alert) arrives while the client waits for the 101: still a failed connect, as TLS.
    let without = run(&format!("{}  tls: {{ca_file: {ca}}}\n", server.url()), "");
    let c = &without.counters;
    assert_eq!(c.connects, 0, "{c:?}");
    assert!(c.connect_failures > 0, "{c:?}");
    assert_eq!(c.connect_failures_tls, c.connect_failures, "{c:?}");
    assert_eq!(c.disconnects_tls_error, 0, "{c:?}");
    let printed = server.printed();
    assert!(
        !printed.iter().any(|l| l.starts_with("handshake ")),
        "{printed:?}"
    );
    assert!(
        printed.iter().any(|l| l.starts_with("refused ")),
        "{printed:?}"
    );
}

#[test]
fn reconnects_to_node_after_a_drop_resume_the_session_unless_resume_is_off() {
    let drop = "faults:\n  - {kind: drop, at: 1s, fraction: 1.0, mode: reset}\n";
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = server_files(&pki, dir.path());
    let Some(server) = NodeServer::start(
        "reconnects_to_node_after_a_drop_resume_the_session_unless_resume_is_off",
        &["--cert", &cert, "--key", &key],
    ) else {
        return;
    };
    for resume in [true, false] {
        let report = quiet(
            &format!(
                "{}  tls: {{ca_file: {ca}, resume: {resume}}}\n",
                server.url()
            ),
            drop,
        );
        assert_eq!(report.counters.reconnects, 4, "{:?}", report.counters);
        let (all, resumed) = server.handshakes();
        assert_eq!(all, 8, "4 first handshakes and 4 after the drop");
        if resume {
            assert_eq!(resumed, 4, "every reconnect resumes");
        } else {
            assert_eq!(resumed, 0);
        }
    }
}

#[test]
fn with_ticket_keys_a_restarted_node_server_resumes_the_sessions_of_the_one_before() {
    if let Some(why) = missing() {
        eprintln!(
            "SKIPPED node_tls::with_ticket_keys_a_restarted_node_server_resumes_the_sessions_of_the_one_before: {why}"
        );
        return;
    }
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = server_files(&pki, dir.path());
    let ticket_keys = dir.path().join("ticket.keys");
    std::fs::write(&ticket_keys, [7u8; 48]).expect("write ticket keys");
    let ticket_keys = ticket_keys.display().to_string();
    let script = node_dir().join("tls_server.js").display().to_string();
    let kill = "faults:\n  - {kind: server_kill, at: 1s, downtime: 300ms}\n";
    for keep_keys in [true, false] {
        let port = closed_port().port().to_string();
        let mut argv = vec![
            "node", &script, "--port", &port, "--cert", &cert, "--key", &key,
        ];
        if keep_keys {
            argv.extend(["--ticket-keys", &ticket_keys]);
        }
        let argv: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
        let target = format!(
            "  url: wss://127.0.0.1:{port}/\n  command: [{}]\n  tls: {{ca_file: {ca}}}\n",
            argv.join(", ")
        );
        let out = dir.path().join(format!("keys-{keep_keys}"));
        let finished = run_scenario_in(scenario(&target, kill), &out, RunOptions::default());
        let c = &finished.report.counters;
        assert_eq!(c.clients_connected, 4, "{c:?}");
        assert!(c.reconnects >= 4, "{c:?}");
        let log = std::fs::read_to_string(finished.dir.join("target.stdout.log"))
            .expect("the server's stdout");
        // The port line starts each server's output: the handshakes after the second are the
        // reconnects to the restarted one.
        let port_line = format!("{port}\n");
        let mut servers = log.split(&port_line).skip(1);
        let first = servers.next().expect("the first server's lines");
        let restarted = servers.next().expect("the restarted server's lines");
        assert_eq!(first.matches("handshake resumed=false").count(), 4, "{log}");
        let resumed = restarted.matches("handshake resumed=true").count();
        let full = restarted.matches("handshake resumed=false").count();
        assert_eq!(resumed + full, 4, "{log}");
        if keep_keys {
            assert_eq!(
                resumed, 4,
                "the same ticket keys: every reconnect resumes\n{log}"
            );
        } else {
            assert_eq!(resumed, 0, "new random ticket keys: no resumption\n{log}");
        }
    }
}
