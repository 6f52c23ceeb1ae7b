//! An external target (`target.command`): started by the tool with its output in the report
//! directory, ready once its port accepts, signalled by process group for `server_kill`
//! (SIGKILL or SIGTERM then restart, or SIGSTOP then SIGCONT), and never left running: dropping
//! the handle kills the group, and `kill_all_now` does it on the way out of a second Ctrl-C.

use std::fs::{File, OpenOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::scenario::{KillSignal, TargetCommand};

/// How long a started (or restarted) target may take until its port accepts.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// After SIGTERM, how long before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);

/// Process groups of running targets, for `kill_all_now`.
static RUNNING: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// A running (or killed, or frozen) external target.
pub struct TargetProcess {
    command: TargetCommand,
    addr: SocketAddr,
    log_dir: PathBuf,
    child: Option<Child>,
    frozen: bool,
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
        let mut target = Self {
            command,
            addr,
            log_dir: log_dir.to_path_buf(),
            child: None,
            frozen: false,
            starts: 0,
        };
        target.spawn()?;
        target.wait_ready().await?;
        Ok(target)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
            .stdin(Stdio::null())
            .stdout(self.log("target.stdout.log")?)
            .stderr(self.log("target.stderr.log")?);
        crate::signals::die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start target.command {:?}: {e}", self.command))?;
        register(child.id() as i32);
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

    /// The `server_kill` blow. `Stop` freezes the process group; the others end it.
    pub async fn kill(&mut self, signal: KillSignal) {
        let Some(pgid) = self.pid().map(|p| p as i32) else {
            return;
        };
        match signal {
            KillSignal::Stop => {
                send(pgid, libc::SIGSTOP);
                self.frozen = true;
            }
            KillSignal::Kill => {
                send(pgid, libc::SIGKILL);
                self.reap(Duration::from_secs(5)).await;
            }
            KillSignal::Term => {
                send(pgid, libc::SIGTERM);
                if !self.reap(TERM_GRACE).await {
                    send(pgid, libc::SIGKILL);
                    self.reap(Duration::from_secs(5)).await;
                }
            }
        }
    }

    /// After the downtime: thaw a frozen target, or start a new one and wait for it.
    pub async fn revive(&mut self) -> Result<(), String> {
        if self.frozen {
            if let Some(pid) = self.pid() {
                send(pid as i32, libc::SIGCONT);
            }
            self.frozen = false;
            return Ok(());
        }
        if self.child.is_none() {
            self.spawn()?;
        }
        self.wait_ready().await
    }

    /// Waits up to `limit` for the child to exit; true if it did (and was reaped).
    async fn reap(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while let Some(child) = self.child.as_mut() {
            if let Ok(Some(_)) | Err(_) = child.try_wait() {
                unregister(child.id() as i32);
                self.child = None;
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}

impl Drop for TargetProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pgid = child.id() as i32;
            send(pgid, libc::SIGKILL);
            send(pgid, libc::SIGCONT);
            let _ = child.wait();
            unregister(pgid);
        }
    }
}

/// Kills every target process group still running (for exits that skip destructors).
pub fn kill_all_now() {
    if let Ok(groups) = RUNNING.lock() {
        for pgid in groups.iter() {
            send(*pgid, libc::SIGKILL);
        }
    }
}

fn register(pgid: i32) {
    if let Ok(mut groups) = RUNNING.lock() {
        groups.push(pgid);
    }
}

fn unregister(pgid: i32) {
    if let Ok(mut groups) = RUNNING.lock() {
        groups.retain(|g| *g != pgid);
    }
}

/// Signals a whole process group (the shell and the server it started).
fn send(pgid: i32, signal: i32) {
    if pgid > 0 {
        // SAFETY: kill(2) with a negative pid signals a process group; it has no memory effects.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}
