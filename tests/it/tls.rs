//! wss://: the embedded server over TLS, certificates the clients do or do not trust
//! (`insecure`, `ca_file`), mutual TLS and session resumption against a TLS test server that
//! records each handshake.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use rustls::{HandshakeKind, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wschaos::report::Report;
use wschaos::scenario::parse;
use wschaos::tls::ServerIdentity;

use crate::common::pki::{Pki, write};
use crate::common::run_scenario;

pub(crate) fn scenario(target: &str, extra: &str) -> wschaos::scenario::Scenario {
    let yaml = format!(
        "name: tls\nseed: 3\nduration: 3s\ntarget:\n{target}clients:\n  count: 4\n  \
         connect_timeout: 2s\n  heartbeat: {{interval: 200ms, timeout: 1s}}\n  \
         reconnect: {{backoff: fixed, initial: 200ms, jitter: none}}\n{extra}"
    );
    parse(&yaml, "tls.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

pub(crate) fn run(target: &str, extra: &str) -> Report {
    run_scenario(scenario(target, extra)).report
}
#[test]
fn wss_against_the_embedded_tls_server_connects_and_acks_heartbeats() {
    let report = run("  url: embedded\n  tls: true\n", "");
    let c = &report.counters;
    assert_eq!(c.clients_connected, 4, "{c:?}");
    assert_eq!(c.connect_failures, 0, "{c:?}");
    assert!(c.heartbeat_acks > 0, "{c:?}");
    assert!(
        report
            .scenario
            .target
            .starts_with("embedded (wss://127.0.0.1:")
    );
    assert!(!report.scenario.tls_insecure);
    for name in ["tls_handshake_time", "tcp_connect_time", "upgrade_time"] {
        assert!(report.histograms[name].count >= 4, "{name}");
    }
}

#[test]
fn a_ws_run_has_no_tls_handshake_samples() {
    let report = run("  url: embedded\n", "");
    assert_eq!(report.histograms["tls_handshake_time"].count, 0);
    assert!(report.histograms["upgrade_time"].count >= 4);
}

#[test]
fn an_untrusted_certificate_fails_every_attempt_as_tls_unless_insecure_or_its_ca_is_given() {
    let pki = Pki::new();
    let (_, _, identity) = pki.leaf(&["localhost", "127.0.0.1"]);
    let addr = crate::common::server::embedded_on_own_thread(Some(identity));
    let url = format!("  url: wss://127.0.0.1:{}/\n", addr.port());

    let untrusted = run(&url, "");
    let c = &untrusted.counters;
    assert_eq!(c.connects, 0, "{c:?}");
    assert!(c.connect_failures > 0, "{c:?}");
    assert_eq!(c.connect_failures_tls, c.connect_failures, "{c:?}");
    assert_eq!(c.disconnects_io_error, 0);
    let terminal = wschaos::report::render_summary(&untrusted);
    assert!(
        terminal.contains(&format!("{} TLS)", c.connect_failures_tls)),
        "{terminal}"
    );

    let insecure = run(&format!("{url}  tls: {{insecure: true}}\n"), "");
    assert_eq!(insecure.counters.clients_connected, 4);
    assert!(insecure.scenario.tls_insecure);
    assert!(wschaos::report::render_summary(&insecure).contains("WARNING: target.tls.insecure"));
    let json = serde_json::to_value(&insecure).expect("json");
    assert_eq!(json["scenario"]["tls_insecure"], true);

    let dir = tempfile::tempdir().expect("temp dir");
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let trusted = run(&format!("{url}  tls: {{ca_file: {ca}}}\n"), "");
    assert_eq!(trusted.counters.clients_connected, 4);
    assert_eq!(trusted.counters.connect_failures, 0);
}

/// What the TLS test server saw: how each handshake went, and connections refused.
#[derive(Default)]
struct Seen {
    kinds: Vec<HandshakeKind>,
    refused: usize,
}

/// A TLS server that answers the upgrade with a 101 and then reads until EOF, recording how
/// each handshake went. `client_ca`: client certificates are required, from that CA.
fn recording_server(
    identity: ServerIdentity,
    client_ca: Option<CertificateDer<'static>>,
) -> (SocketAddr, Arc<Mutex<Seen>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca).expect("client CA");
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(identity.certs, identity.key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let record = seen.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while let Ok(Ok((tcp, _))) = tokio::time::timeout_at(deadline, listener.accept()).await
            {
                let acceptor = acceptor.clone();
                let record = record.clone();
                tokio::spawn(async move {
                    let mut tls = match acceptor.accept(tcp).await {
                        Ok(tls) => tls,
                        Err(_) => {
                            record.lock().expect("lock").refused += 1;
                            return;
                        }
                    };
                    if let Some(kind) = tls.get_ref().1.handshake_kind() {
                        record.lock().expect("lock").kinds.push(kind);
                    }
                    let mut buf = vec![0u8; 4096];
                    let Ok(n) = tls.read(&mut buf).await else {
                        record.lock().expect("lock").refused += 1;
                        return;
                    };
                    let request = String::from_utf8_lossy(&buf[..n]).to_string();
                    let Some(key) = request
                        .lines()
                        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                    else {
                        return;
                    };
                    let accept = actix_http::ws::hash_key(key.trim().as_bytes());
                    let response = format!(
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                         Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                        String::from_utf8_lossy(&accept)
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.flush().await;
                    while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {}
                });
            }
        });
    });
    (addr, seen)
}

const NO_HEARTBEAT: &str = "";

pub(crate) fn quiet(target: &str, extra: &str) -> Report {
    let yaml_target = target.to_string();
    let mut s = scenario(&yaml_target, extra);
    s.clients.heartbeat.mode = wschaos::scenario::HeartbeatMode::None;
    run_scenario(s).report
}

#[test]
fn mutual_tls_accepts_the_configured_client_certificate_and_refuses_a_run_without_one() {
    let pki = Pki::new();
    let (_, _, identity) = pki.leaf(&["localhost", "127.0.0.1"]);
    let clients = Pki::new();
    let (client_pem, client_key, _) = clients.leaf(&["client"]);
    let (addr, seen) = recording_server(identity, Some(clients.ca_der.clone()));
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let cert = write(dir.path(), "client.pem", &client_pem);
    let key = write(dir.path(), "client.key", &client_key);
    let url = format!("  url: wss://127.0.0.1:{}/\n", addr.port());

    let with = quiet(
        &format!("{url}  tls: {{ca_file: {ca}, client_cert: {cert}, client_key: {key}}}\n"),
        NO_HEARTBEAT,
    );
    assert_eq!(with.counters.clients_connected, 4, "{:?}", with.counters);
    assert_eq!(seen.lock().expect("lock").refused, 0);

    let without = quiet(&format!("{url}  tls: {{ca_file: {ca}}}\n"), NO_HEARTBEAT);
    let c = &without.counters;
    assert_eq!(c.connects, 0, "{c:?}");
    assert!(c.connect_failures_tls > 0, "{c:?}");
    assert_eq!(c.connect_failures_tls, c.connect_failures, "{c:?}");
    assert!(seen.lock().expect("lock").refused > 0);
}

#[test]
fn reconnects_after_a_drop_resume_the_tls_session_unless_resume_is_off() {
    let drop = "faults:\n  - {kind: drop, at: 1s, fraction: 1.0, mode: reset}\n";
    for resume in [true, false] {
        let pki = Pki::new();
        let (_, _, identity) = pki.leaf(&["localhost", "127.0.0.1"]);
        let (addr, seen) = recording_server(identity, None);
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
        let report = quiet(
            &format!(
                "  url: wss://127.0.0.1:{}/\n  tls: {{ca_file: {ca}, resume: {resume}}}\n",
                addr.port()
            ),
            drop,
        );
        assert_eq!(report.counters.reconnects, 4, "{:?}", report.counters);
        let seen = seen.lock().expect("lock");
        let resumed = seen
            .kinds
            .iter()
            .filter(|k| **k == HandshakeKind::Resumed)
            .count();
        assert_eq!(
            seen.kinds.len(),
            8,
            "4 first handshakes and 4 after the drop"
        );
        if resume {
            assert_eq!(resumed, 4, "every reconnect resumes: {:?}", seen.kinds);
        } else {
            assert_eq!(resumed, 0, "{:?}", seen.kinds);
        }
    }
}

#[test]
fn serve_with_tls_cert_and_key_serves_wss_to_clients_that_trust_its_ca() {
    let pki = Pki::new();
    let (cert_pem, key_pem, _) = pki.leaf(&["localhost", "127.0.0.1"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = write(dir.path(), "cert.pem", &cert_pem);
    let key = write(dir.path(), "key.pem", &key_pem);
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);

    let (_server, addr) = crate::common::start(&[
        "serve",
        "--port",
        "0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ]);
    let url = format!(
        "  url: wss://127.0.0.1:{}/\n  tls: {{ca_file: \"{ca}\"}}\n",
        addr.port()
    );
    let report = run(&url, "");
    let c = &report.counters;
    assert_eq!(c.clients_connected, 4, "{c:?}");
    assert_eq!(c.connect_failures, 0, "{c:?}");
    assert!(c.heartbeat_acks > 0, "{c:?}");

    // A key that is not a key: exit 2 naming the file, nothing served.
    let stderr = crate::common::refused(crate::common::wschaos().args([
        "serve",
        "--port",
        "0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &ca,
    ]));
    assert!(stderr.contains("ca.pem"), "{stderr}");
}

/// More clients than rustls's default server session cache holds (256 sessions, two per
/// handshake: at most 128 clients could resume from it): only stateless tickets let the whole
/// fleet resume after a drop. Arrivals and reconnects are spread so that a loaded machine still
/// has most of the fleet open at the drop.
#[test]
fn the_embedded_tls_server_resumes_every_client_of_a_fleet_larger_than_its_session_cache() {
    const CLIENTS: u64 = 300;
    const MORE_THAN_THE_CACHE_SERVES: u64 = 200;
    for resume in [true, false] {
        let yaml = format!(
            "name: tls-fleet\nseed: 3\nduration: 8s\n\
             target:\n  url: embedded\n  tls: {{resume: {resume}}}\n\
             clients:\n  count: {CLIENTS}\n  ramp: 2s\n  connect_timeout: 5s\n  \
             heartbeat: {{mode: none}}\n  \
             reconnect: {{backoff: fixed, initial: 500ms, jitter: full}}\n\
             faults:\n  - {{kind: drop, at: 4s, fraction: 1.0, mode: reset}}\n"
        );
        let scenario = parse(&yaml, "tls-fleet.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let report = run_scenario(scenario).report;
        let c = &report.counters;
        assert!(
            c.disconnects_dropped >= MORE_THAN_THE_CACHE_SERVES,
            "too few connections open at the drop: {c:?}"
        );
        let server = report.server.expect("embedded server counts");
        assert!(
            server.tls_full + server.tls_resumed >= c.connects,
            "a handshake per connection: {server:?} {c:?}"
        );
        assert!(c.reconnects >= MORE_THAN_THE_CACHE_SERVES, "{c:?}");
        if resume {
            assert!(
                server.tls_resumed >= c.reconnects,
                "every reconnect resumes: {server:?} {c:?}"
            );
        } else {
            assert_eq!(server.tls_resumed, 0, "{server:?}");
        }
    }
}

#[test]
fn serve_counts_full_and_resumed_handshakes_and_prints_them_when_interrupted() {
    let pki = Pki::new();
    let (cert_pem, key_pem, _) = pki.leaf(&["localhost", "127.0.0.1"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = write(dir.path(), "cert.pem", &cert_pem);
    let key = write(dir.path(), "key.pem", &key_pem);
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let mut server = crate::common::Running(
        crate::common::wschaos()
            .args([
                "serve",
                "--port",
                "0",
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start serve"),
    );
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.0.stdout.take().expect("stdout")),
        &mut first,
    )
    .expect("first line");
    let addr: SocketAddr = first.trim().parse().expect("address");

    let report = quiet(
        &format!(
            "  url: wss://127.0.0.1:{}/\n  tls: {{ca_file: \"{ca}\"}}\n",
            addr.port()
        ),
        "faults:\n  - {kind: drop, at: 1s, fraction: 1.0, mode: reset}\n",
    );
    assert_eq!(report.counters.reconnects, 4, "{:?}", report.counters);

    let (code, stderr) = server.interrupt(libc::SIGINT, false);
    assert_eq!(code, Some(0), "{stderr}");
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("served "))
        .unwrap_or_else(|| panic!("no `served` line: {stderr}"));
    let served: wschaos::server::ServerCounts = serde_json::from_str(line).expect("counts");
    assert_eq!(served.upgrades, 8, "{served:?}");
    assert_eq!((served.tls_full, served.tls_resumed), (4, 4), "{served:?}");
}

/// The ticket key outlives a kill: the restarted embedded server resumes the sessions of the
/// one before.
#[test]
fn after_a_server_kill_the_restarted_embedded_tls_server_resumes_the_sessions() {
    let report = quiet(
        "  url: embedded\n  tls: true\n",
        "faults:\n  - {kind: server_kill, at: 1s, downtime: 500ms}\n",
    );
    let c = &report.counters;
    assert_eq!(c.reconnects, 4, "{c:?}");
    let server = report.server.expect("embedded server counts");
    assert_eq!((server.tls_full, server.tls_resumed), (4, 4), "{server:?}");
}
