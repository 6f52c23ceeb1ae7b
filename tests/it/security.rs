//! Security defaults of the real binary: `serve` and `proxy` listen on loopback unless told
//! otherwise and warn on stderr when they are not; secret header values (and credentials in a
//! URL) never reach stdout, stderr at any log level, report files or target logs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::*;
use clap::Parser;
use wschaos::cli::{Cli, Command};

/// The secret parts of the scenario's header values.
const SECRETS: [&str; 2] = ["SECRET-TOKEN-123", "KEY-456"];
/// The most verbose filter the binary's tracing subscriber (`RUST_LOG`) takes.
const TRACE_EVERYTHING: (&str, &str) = ("RUST_LOG", "trace");
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

// ---- Helpers ---------------------------------------------------------------------------------

/// `wschaos serve` or `wschaos proxy`, killed when dropped, its stderr drained on a thread so a
/// chatty log level cannot block it.
struct Server {
    child: Running,
    /// The address printed on the first line of stdout.
    addr: SocketAddr,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Server {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Running(
            wschaos()
                .args(args)
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start wschaos"),
        );
        let mut stderr = child.0.stderr.take().expect("stderr");
        let stderr = Some(std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = stderr.read_to_end(&mut all);
            all
        }));
        let mut first = String::new();
        let read = BufReader::new(child.0.stdout.take().expect("stdout")).read_line(&mut first);
        let mut server = Server {
            child,
            addr: SocketAddr::from((LOOPBACK, 0)),
            stderr,
        };
        server.addr = match (read, first.trim().parse()) {
            (Ok(_), Ok(addr)) => addr,
            _ => panic!(
                "wschaos {args:?} printed no address: {first:?}; stderr: {}",
                server.stop()
            ),
        };
        server
    }

    /// The port, on 127.0.0.1 (where the tests connect whatever the server listens on).
    fn loopback(&self) -> SocketAddr {
        SocketAddr::new(LOOPBACK, self.addr.port())
    }

    /// Kills the process and returns everything it wrote to stderr.
    fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let bytes = self
            .stderr
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn assert_no_secret(what: &str, bytes: &[u8]) {
    for secret in SECRETS {
        assert!(
            !bytes
                .windows(secret.len())
                .any(|window| window == secret.as_bytes()),
            "{secret} appears in {what}:\n{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

/// Every file under `dir`, however deep.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Checks every file of a report directory, which must hold the five report files.
fn assert_report_has_no_secret(dir: &Path) {
    assert_report_files(dir);
    for file in files_under(dir) {
        let bytes = std::fs::read(&file).expect("read report file");
        assert_no_secret(&file.display().to_string(), &bytes);
    }
}

fn assert_output_has_no_secret(out: &Output) {
    assert_no_secret("stdout", &out.stdout);
    assert_no_secret("stderr", &out.stderr);
}

/// A scenario whose upgrade requests carry the secrets; `extra_target` and `rest` are YAML
/// lines added to `target:` and after `clients:`.
fn secret_scenario(url: &str, extra_target: &str, rest: &str) -> String {
    format!(
        "name: secrets\n\
         duration: 800ms\n\
         seed: 1\n\
         target:\n  \
           url: {url}\n  \
           headers: {{Authorization: \"Bearer SECRET-TOKEN-123\", X-Api-Key: \"KEY-456\"}}\n  \
           subprotocols: [chat.v1]\n\
         {extra_target}\
         clients:\n  \
           count: 3\n  \
           connect_timeout: 500ms\n  \
           heartbeat: {{mode: ping, interval: 100ms, timeout: 300ms}}\n  \
           reconnect: {{backoff: fixed, initial: 100ms}}\n\
         {rest}"
    )
}

/// A window in which the in-process chaos proxy sits between clients and target.
const PROXY_FAULT: &str = "faults:\n  - {kind: delay_pongs, at: 0s, duration: 500ms, delay: 5ms}\n";

/// `wschaos run` of `yaml` with every log level on, the report going to `dir/report`. Its stderr
/// must show `logged` (the log level is really on, or the checks would pass on silence), and no
/// secret may reach its stdout, stderr or report files.
fn run_keeping_secrets(dir: &Path, yaml: &str, logged: &str) -> Output {
    let file = scenario_file(dir, "secrets.yaml", yaml);
    let out = run_command(&file, &dir.join("report"))
        .env(TRACE_EVERYTHING.0, TRACE_EVERYTHING.1)
        .stdin(Stdio::null())
        .output()
        .expect("run wschaos");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(logged), "{stderr}");
    assert_output_has_no_secret(&out);
    assert_report_has_no_secret(&dir.join("report"));
    out
}

/// A server that answers every upgrade with `status`, echoing the request's Authorization
/// value in a response header and the body (as a careless server might), and keeps each
/// request head it received.
struct Refuser {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Refuser {
    fn start(status: &'static str) -> Self {
        let listener = TcpListener::bind((LOOPBACK, 0)).expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (heads.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !stopped.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(head) = refuse(stream, status) {
                            seen.lock().expect("heads").push(head);
                        }
                    }
                    Err(_) => std::thread::sleep(ms(5)),
                }
            }
        });
        Self {
            addr,
            heads,
            stop,
            thread: Some(thread),
        }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("heads").clone()
    }
}

impl Drop for Refuser {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request head and answers `status` with the Authorization value reflected.
fn refuse(mut stream: std::net::TcpStream, status: &str) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(ms(1000))).ok()?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let authorization = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("authorization")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    let body = format!("rejected credentials: {authorization}\n");
    let response = format!(
        "HTTP/1.1 {status}\r\nX-Rejected: {authorization}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    Some(head)
}

// ---- Loopback by default ---------------------------------------------------------------------

#[test]
fn serve_and_proxy_default_to_loopback() {
    let Command::Serve { host, .. } = Cli::try_parse_from(["wschaos", "serve"])
        .expect("parse")
        .command
    else {
        panic!("not serve");
    };
    assert_eq!(host, LOOPBACK);
    let Command::Proxy { listen, .. } =
        Cli::try_parse_from(["wschaos", "proxy", "--upstream", "ws://127.0.0.1:9"])
            .expect("parse")
            .command
    else {
        panic!("not proxy");
    };
    assert_eq!(listen.ip(), LOOPBACK);

    let mut serve = Server::start(&["serve", "--port", "0"], &[]);
    assert_eq!(serve.addr.ip(), LOOPBACK);
    let upstream = format!("ws://{}", serve.addr);
    let mut proxy = Server::start(
        &["proxy", "--listen", "127.0.0.1:0", "--upstream", &upstream],
        &[],
    );
    assert_eq!(proxy.addr.ip(), LOOPBACK);

    let report = run_scenario(scenario(ws_url(proxy.addr), 2, ms(300))).report;
    assert_eq!(report.counters.clients_connected, 2);
    for (name, server) in [("serve", &mut serve), ("proxy", &mut proxy)] {
        let stderr = server.stop();
        assert!(!stderr.contains("warning"), "{name}: {stderr}");
    }
}

#[test]
fn serve_and_proxy_warn_when_they_listen_beyond_loopback() {
    let mut serve = Server::start(&["serve", "--host", "0.0.0.0", "--port", "0"], &[]);
    assert_eq!(serve.addr.ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let upstream = format!("ws://{}", serve.loopback());
    let mut proxy = Server::start(
        &["proxy", "--listen", "0.0.0.0:0", "--upstream", &upstream],
        &[],
    );
    assert_eq!(proxy.addr.ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));

    // Both still work; the test only ever connects to 127.0.0.1.
    let report = run_scenario(scenario(ws_url(proxy.loopback()), 2, ms(300))).report;
    assert_eq!(report.counters.clients_connected, 2);

    for (name, server) in [("serve", &mut serve), ("proxy", &mut proxy)] {
        let addr = server.addr;
        let stderr = server.stop();
        assert_eq!(stderr.matches("warning:").count(), 1, "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("wschaos {name} listens on {addr}")),
            "{stderr}"
        );
        assert!(stderr.contains("reachable from other machines"), "{stderr}");
        assert!(stderr.contains("meant for loopback testing"), "{stderr}");
    }
}

#[test]
fn serve_procs_beyond_loopback_warns_once_not_once_per_process() {
    let mut serve = Server::start(
        &["serve", "--host", "0.0.0.0", "--port", "0", "--procs", "2"],
        &[],
    );
    // By the end of a run the extra process has long bound the port (and would have warned).
    let report = run_scenario(scenario(ws_url(serve.loopback()), 20, ms(500))).report;
    assert_eq!(report.counters.clients_connected, 20);
    let stderr = serve.stop();
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
}

// ---- Secrets in headers ----------------------------------------------------------------------

#[test]
fn secret_headers_stay_out_of_output_and_reports_on_the_embedded_server_through_the_proxy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml = secret_scenario("embedded", "", PROXY_FAULT);
    let out = run_keeping_secrets(dir.path(), &yaml, "report written");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn secret_headers_stay_out_of_a_managed_targets_logs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = closed_port().port();
    let command = format!(
        "  command: [{:?}, serve, --port, \"{port}\"]\n",
        env!("CARGO_BIN_EXE_wschaos")
    );
    let url = format!("ws://127.0.0.1:{port}/");
    let yaml = secret_scenario(&url, &command, PROXY_FAULT);
    let out = run_keeping_secrets(dir.path(), &yaml, "report written");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = dir.path().join("report");
    let target_log = std::fs::read_to_string(report.join("target.stderr.log")).expect("log");
    // The target inherited the log level and logged its connections.
    assert!(!target_log.is_empty());
}

#[test]
fn secret_headers_stay_out_of_output_and_reports_when_the_upgrade_is_refused() {
    for (status, faults) in [("401 Unauthorized", ""), ("403 Forbidden", PROXY_FAULT)] {
        let refuser = Refuser::start(status);
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("ws://{}/", refuser.addr);
        run_keeping_secrets(
            dir.path(),
            &secret_scenario(&url, "", faults),
            "upgrade rejected",
        );
        // The secrets did go out (the check below is not vacuous), straight or via the proxy.
        let heads = refuser.heads();
        assert!(!heads.is_empty(), "{status}: no upgrade request arrived");
        assert!(
            heads
                .iter()
                .all(|h| h.contains("Bearer SECRET-TOKEN-123") && h.contains("KEY-456")),
            "{heads:?}"
        );
    }
}

#[test]
fn secret_headers_stay_out_of_output_and_reports_when_nothing_listens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("ws://{}/", closed_port());
    run_keeping_secrets(dir.path(), &secret_scenario(&url, "", ""), "connect failed");
}

#[test]
fn scenario_errors_in_headers_name_the_header_and_place_but_not_the_value() {
    let cases = [
        // A control character in a secret value.
        (
            "  headers: {Authorization: \"Bearer SECRET-TOKEN-123\\u0007\", X-Api-Key: KEY-456}\n",
            "secrets.yaml:6:28: target.headers.Authorization: expected a header value without \
             line breaks or control characters, found '\\u{7}' at character 24",
        ),
        // A line break smuggling a second header in.
        (
            "  headers: {X-Api-Key: \"KEY-456\\r\\nAuthorization: Bearer SECRET-TOKEN-123\"}\n",
            "secrets.yaml:6:24: target.headers.X-Api-Key: expected a header value without \
             line breaks or control characters, found '\\r' at character 8",
        ),
        // An invalid name next to the secrets.
        (
            "  headers: {Authorization: Bearer SECRET-TOKEN-123, X-Api-Key: KEY-456, \"X Bad\": 1}\n",
            "secrets.yaml:6:73: target.headers: expected a header name made of letters, digits \
             and !#$%&'*+-.^_`|~, found ' ' at character 2",
        ),
        // A whole header line pasted as a name.
        (
            "  headers: {\"Authorization: Bearer SECRET-TOKEN-123\": \"\"}\n",
            "secrets.yaml:6:13: target.headers: expected a header name made of letters, digits \
             and !#$%&'*+-.^_`|~, found ':' at character 14",
        ),
        // A header line where a mapping belongs.
        (
            "  headers: \"Authorization: Bearer SECRET-TOKEN-123\"\n",
            "secrets.yaml:6:12: ",
        ),
    ];
    for (headers, expected) in cases {
        let yaml = format!(
            "name: secrets\nduration: 1s\nclients: {{count: 1}}\ntarget:\n  url: embedded\n\
             {headers}"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let file = scenario_file(dir.path(), "secrets.yaml", &yaml);
        for command in ["check", "run"] {
            let mut wschaos = wschaos();
            wschaos
                .current_dir(dir.path())
                .args([command, "secrets.yaml"]);
            if command == "run" {
                wschaos.arg("--out").arg(dir.path().join("report"));
            }
            let out = wschaos
                .env(TRACE_EVERYTHING.0, TRACE_EVERYTHING.1)
                .output()
                .expect("run wschaos");
            assert_eq!(out.status.code(), Some(2), "{command} {headers}: {out:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!("error: {expected}")),
                "{command} {headers}: {stderr}"
            );
            assert_output_has_no_secret(&out);
        }
        assert!(file.exists());
        assert!(
            !dir.path().join("report").exists(),
            "no report for a bad file"
        );
    }
}

#[test]
fn credentials_in_a_url_are_not_echoed_in_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml = "name: secrets\nduration: 1s\nclients: {count: 1}\ntarget:\n  \
                url: \"ws://user:SECRET-TOKEN-123@127.0.0.1:9/\"\n";
    scenario_file(dir.path(), "secrets.yaml", yaml);
    let check = wschaos()
        .current_dir(dir.path())
        .args(["check", "secrets.yaml"])
        .output()
        .expect("run wschaos");
    assert_eq!(check.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&check.stderr)
            .contains("secrets.yaml:5:8: target.url: expected embedded"),
        "{check:?}"
    );
    assert_output_has_no_secret(&check);

    let proxy = wschaos()
        .args(["proxy", "--listen", "127.0.0.1:0", "--upstream"])
        .arg("ws://user:SECRET-TOKEN-123@127.0.0.1:9")
        .output()
        .expect("run wschaos");
    assert_eq!(proxy.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&proxy.stderr).contains("--upstream: expected"),
        "{proxy:?}"
    );
    assert_output_has_no_secret(&proxy);
}

// ---- The standalone proxy --------------------------------------------------------------------

#[test]
fn the_standalone_proxy_and_server_log_no_header_values_at_any_level() {
    let env = [TRACE_EVERYTHING];
    let mut serve = Server::start(&["serve", "--port", "0"], &env);
    let upstream = format!("ws://{}", serve.addr);
    let mut proxy = Server::start(&proxy_args(&upstream, "delay_pongs delay=5ms"), &env);
    let mut s = scenario(ws_url(proxy.addr), 3, ms(400));
    s.target.headers = vec![
        ("Authorization".into(), "Bearer SECRET-TOKEN-123".into()),
        ("X-Api-Key".into(), "KEY-456".into()),
    ];
    let report = run_scenario(s).report;
    assert_eq!(report.counters.clients_connected, 3);
    for (name, server) in [("serve", &mut serve), ("proxy", &mut proxy)] {
        let stderr = server.stop();
        assert!(!stderr.is_empty(), "{name} logged nothing at trace level");
        assert_no_secret(&format!("{name}'s stderr"), stderr.as_bytes());
    }
}
