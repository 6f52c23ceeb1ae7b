//! The real binary from a test: its command, a child that dies with the test, a bounded wait,
//! and which processes are running.

use std::io::{self, BufRead, BufReader};
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
pub fn run_command(file: &Path, out_dir: &Path) -> Command {
    let mut command = wschaos();
    command.arg("run").arg(file).arg("--out").arg(out_dir);
    command
}

/// A child process killed when the test ends, pass or fail.
pub struct Running(pub Child);

impl Running {
    /// Kills the process now and reaps it.
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        self.0.kill()?;
        self.0.wait()
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
