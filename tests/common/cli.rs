//! The real binary from a test: its command, a run to its exit code, a child that dies with the
//! test (and can be cut short by a signal), a bounded wait, and which processes are running.

use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Path of the wschaos binary cargo built for the tests.
pub const WSCHAOS: &str = env!("CARGO_BIN_EXE_wschaos");

/// The real binary.
pub fn wschaos() -> Command {
    Command::new(WSCHAOS)
}

/// `wschaos run FILE --out DIR`, for more arguments and a way to run it.
/// Starts `command` with its descriptor limit (soft and hard) at `limit`: a run that runs out.
pub fn with_descriptor_limit(command: &mut Command, limit: u64) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe and the closure allocates nothing.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

pub fn run_command(file: &Path, out_dir: &Path) -> Command {
    let mut command = wschaos();
    command.arg("run").arg(file).arg("--out").arg(out_dir);
    command
}

/// Arguments of `wschaos proxy` on a free loopback port in front of `upstream`, with `fault`.
pub fn proxy_args<'a>(upstream: &'a str, fault: &'a str) -> [&'a str; 7] {
    [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        upstream,
        "--fault",
        fault,
    ]
}

/// Runs `command` to its end; it must exit with `code`. Returns its stdout and stderr as text.
pub fn exits(command: &mut Command, code: i32) -> (String, String) {
    let out = command.output().expect("run wschaos");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{command:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

/// Runs `command`, which must refuse its input: exit 2, without panicking. Returns its stderr.
pub fn refused(command: &mut Command) -> String {
    let (_, stderr) = exits(command, 2);
    assert!(!stderr.contains("panicked"), "{command:?}: {stderr}");
    stderr
}

/// How long a run sent a signal may take to write its report and end.
const INTERRUPTED_RUN_LIMIT: Duration = Duration::from_secs(20);

/// Starts `command` with stdout discarded and stderr kept for [`Running::interrupt`].
pub fn spawn(command: &mut Command) -> Running {
    Running(
        command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wschaos"),
    )
}

/// A child process killed when the test ends, pass or fail.
pub struct Running(pub Child);

impl Running {
    /// Kills the process now and reaps it.
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        self.0.kill()?;
        self.0.wait()
    }

    /// Sends `signal` to the process (`to_group`: to its whole process group, as Ctrl-C in a
    /// terminal does; it must have been started in a group of its own), waits a bounded time
    /// for it to end and returns its exit code and stderr (when [`spawn`] kept it).
    pub fn interrupt(&mut self, signal: i32, to_group: bool) -> (Option<i32>, String) {
        let pid = self.0.id() as i32;
        // SAFETY: kill(2) on our own child (or its process group), not yet reaped; no memory
        // effects.
        let sent = unsafe { libc::kill(if to_group { -pid } else { pid }, signal) };
        assert_eq!(sent, 0, "signal {signal} to {pid}");
        let status = wait_bounded(&mut self.0, INTERRUPTED_RUN_LIMIT);
        let mut stderr = String::new();
        if let Some(mut pipe) = self.0.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (status.code(), stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Starts `wschaos ARGS` and reads the address it prints on its first line.
pub fn start(args: &[&str]) -> (Running, SocketAddr) {
    let mut child = Running(
        wschaos()
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start wschaos"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    let addr = first.trim().parse().expect("an address on the first line");
    (child, addr)
}

/// Waits for `child`, killing it (and failing) if it takes far longer than it should.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Processes whose command line mentions `needle`.
pub fn processes_with(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // A zombie has an empty command line: it holds nothing.
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Polls `done` every 50 ms for up to `limit`; true once it holds.
pub fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

/// Whether something accepts TCP connections at `addr`.
pub fn accepts(addr: SocketAddr) -> bool {
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Sends `signal` to `child` (not yet reaped).
pub fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) on our own child, not yet reaped; no memory effects.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}
