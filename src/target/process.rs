//! An external target (`target.command`): started by the tool with its output in the report
//! directory, ready once its port accepts, signalled for `server_kill` (SIGKILL, or SIGTERM then
//! restart, or SIGSTOP then SIGCONT), and never left running: dropping the handle kills it, and
//! `kill_all_now` does it on the way out of a second stop signal. "It" is every process of the
//! target, also those that left its process group or session (see `procfs`); after a kill the
//! port must be closed, or the kill fails naming what still holds it.

use std::fs::{File, OpenOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::procfs;
use crate::scenario::{KillSignal, TargetCommand};

/// How long a started (or restarted) target may take until its port accepts.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// After SIGTERM, how long before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);
/// After SIGKILL, how long the target's processes may take to be gone.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// After the target's processes are gone, how long its port may take to close.
const PORT_CLOSE_GRACE: Duration = Duration::from_secs(1);
/// How often the target's processes are looked for while waiting for them to go.
const GONE_POLL: Duration = Duration::from_millis(20);

/// Markers of the targets not yet dropped, for `kill_all_now`.
static RUNNING: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Numbers the markers of this process's targets.
static NEXT_MARKER: AtomicU32 = AtomicU32::new(0);

/// A running (or killed, or frozen) external target.
pub struct TargetProcess {
    command: TargetCommand,
    addr: SocketAddr,
    log_dir: PathBuf,
    child: Option<Child>,
    /// In the environment of every process of this target (`procfs::MARKER`).
    marker: String,
    frozen: bool,
    /// Something else already accepted on `addr` before the command started (a proxy or load
    /// balancer in front of it): the port then says nothing about the target, so a kill is
    /// checked by the target's processes alone.
    fronted: bool,
    /// Starts so far (1 + restarts).
    pub starts: u32,
}

impl TargetProcess {
    /// Starts the command and waits until `addr` accepts connections.
    pub async fn start(
        command: TargetCommand,
        addr: SocketAddr,
        log_dir: &Path,
    ) -> Result<Self, String> {
        let marker = format!(
            "{}-{}",
            std::process::id(),
            NEXT_MARKER.fetch_add(1, Ordering::Relaxed)
        );
        register(&marker);
        let fronted = accepts(addr).await;
        if fronted {
            tracing::info!(
                %addr,
                "target.url's port accepts before target.command started: something is in front \
                 of the target, so kills are checked by its processes, not by the port"
            );
        }
        let mut target = Self {
            command,
            addr,
            log_dir: log_dir.to_path_buf(),
            child: None,
            marker,
            frozen: false,
            fronted,
            starts: 0,
        };
        target.spawn()?;
        target.wait_ready().await?;
        Ok(target)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// In the environment of every process of this target.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    fn log(&self, name: &str) -> Result<File, String> {
        let path = self.log_dir.join(name);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = match &self.command {
            TargetCommand::Shell(line) => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(line);
                c
            }
            TargetCommand::Argv(argv) => {
                let mut c = Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            }
        };
        use std::os::unix::process::CommandExt;
        cmd.process_group(0)
            .env(procfs::MARKER, &self.marker)
            .stdin(Stdio::null())
            .stdout(self.log("target.stdout.log")?)
            .stderr(self.log("target.stderr.log")?);
        crate::signals::die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start target.command {:?}: {e}", self.command))?;
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    /// Waits until the port accepts; fails if the process exits or the wait times out.
    pub async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "target.command exited ({status}) before {} accepted connections; see {}",
                    self.addr,
                    self.log_dir.join("target.stderr.log").display()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "target.command did not accept connections on {} within {READY_TIMEOUT:?}",
                    self.addr
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The `server_kill` blow. `Stop` freezes every process of the target; the others end them
    /// and then check that the port closed.
    pub async fn kill(&mut self, signal: KillSignal) -> Result<(), String> {
        match signal {
            KillSignal::Stop => {
                self.signal_all(libc::SIGSTOP);
                self.frozen = true;
                return Ok(());
            }
            KillSignal::Kill => {
                self.signal_all(libc::SIGKILL);
                self.wait_gone(KILL_GRACE).await;
            }
            KillSignal::Term => {
                self.signal_all(libc::SIGTERM);
                if !self.wait_gone(TERM_GRACE).await {
                    self.signal_all(libc::SIGKILL);
                    self.wait_gone(KILL_GRACE).await;
                }
            }
        }
        self.wait_port_closed().await
    }

    /// After the downtime: thaw a frozen target, or start a new one and wait for it. A new one
    /// is not started while something else holds the port (its own "address in use" would go
    /// unnoticed while the old holder answers).
    pub async fn revive(&mut self) -> Result<(), String> {
        if self.frozen {
            self.signal_all(libc::SIGCONT);
            self.frozen = false;
            return Ok(());
        }
        if self.child.is_none() {
            if !self.fronted && accepts(self.addr).await {
                return Err(format!(
                    "cannot restart target.command: {}",
                    self.port_held("is still held")
                ));
            }
            self.spawn()?;
        }
        self.wait_ready().await
    }

    /// Sends `signal` to the command's process group and to every process of the target.
    fn signal_all(&self, signal: i32) {
        if let Some(pgid) = self.pid() {
            send_group(pgid as i32, signal);
        }
        for pid in procfs::members(self.pid().map(|p| p as i32), &self.marker) {
            send(pid, signal);
        }
    }

    /// Waits up to `limit` for the command to exit (reaping it) and every other process of the
    /// target to be gone; true if they did.
    async fn wait_gone(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) | Err(_) = child.try_wait()
            {
                self.child = None;
            }
            if self.child.is_none() && !procfs::any_left(None, &self.marker) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(GONE_POLL).await;
        }
    }

    /// After a kill: fails, naming the holder if it can be found, if the port still accepts.
    async fn wait_port_closed(&self) -> Result<(), String> {
        if self.fronted {
            return Ok(());
        }
        let deadline = Instant::now() + PORT_CLOSE_GRACE;
        while accepts(self.addr).await {
            if Instant::now() >= deadline {
                return Err(self.port_held("still accepts connections after the target was killed"));
            }
            tokio::time::sleep(GONE_POLL).await;
        }
        Ok(())
    }

    fn port_held(&self, what: &str) -> String {
        let holder = procfs::listener_of(self.addr.port()).map_or_else(
            || "by a process wschaos cannot see (another user's?)".to_string(),
            |h| format!("by {h}"),
        );
        format!("port {} {what}, held {holder}", self.addr)
    }
}

async fn accepts(addr: SocketAddr) -> bool {
    tokio::net::TcpStream::connect(addr).await.is_ok()
}

impl Drop for TargetProcess {
    fn drop(&mut self) {
        self.signal_all(libc::SIGKILL);
        self.signal_all(libc::SIGCONT);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        unregister(&self.marker);
    }
}

/// Kills every process of every target not yet dropped (for exits that skip destructors).
pub fn kill_all_now() {
    if let Ok(markers) = RUNNING.lock() {
        for marker in markers.iter() {
            for pid in procfs::members(None, marker) {
                send(pid, libc::SIGKILL);
            }
        }
    }
}

fn register(marker: &str) {
    if let Ok(mut markers) = RUNNING.lock() {
        markers.push(marker.to_string());
    }
}

fn unregister(marker: &str) {
    if let Ok(mut markers) = RUNNING.lock() {
        markers.retain(|m| m != marker);
    }
}

/// Signals a whole process group (the shell and the server it started).
fn send_group(pgid: i32, signal: i32) {
    if pgid > 0 {
        send(-pgid, signal);
    }
}

fn send(pid: i32, signal: i32) {
    if pid != 0 && pid != -1 {
        // SAFETY: kill(2) has no memory effects; 0 and -1 (this group, every process) are
        // excluded.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}
