//! The signals that end a run early (SIGINT, SIGTERM, SIGHUP), and children that die with this
//! process. The first signal ends a run cleanly (clients close, the report is written and
//! marked interrupted, the target is stopped; exit code 128 + the signal's number: 130, 143,
//! 129); a second one quits at once.

use std::os::unix::process::CommandExt;
use std::process::Command;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// A signal that stops a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (`kill`, a supervisor stopping the job).
    Terminate,
    /// SIGHUP (the terminal went away).
    Hangup,
}

impl StopSignal {
    pub const ALL: [StopSignal; 3] = [
        StopSignal::Interrupt,
        StopSignal::Terminate,
        StopSignal::Hangup,
    ];

    /// Whether `code` is the exit code of a run one of these signals stopped.
    pub fn is_exit_code(code: i32) -> bool {
        Self::ALL.iter().any(|s| i32::from(s.exit_code()) == code)
    }

    pub fn number(self) -> i32 {
        match self {
            StopSignal::Interrupt => libc::SIGINT,
            StopSignal::Terminate => libc::SIGTERM,
            StopSignal::Hangup => libc::SIGHUP,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Hangup => "SIGHUP",
        }
    }

    /// The exit code of a run it stopped: 128 + the signal's number, as shells report it.
    pub fn exit_code(self) -> u8 {
        (128 + self.number()) as u8
    }
}

/// Listens for the stop signals from its creation on (must be created inside a tokio runtime
/// with signals enabled). While it lives the signals no longer end the process by default.
pub struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl StopSignals {
    pub fn listen() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next stop signal. Can be called again after it returned (a second signal).
    pub async fn recv(&mut self) -> StopSignal {
        tokio::select! {
            Some(()) = self.interrupt.recv() => StopSignal::Interrupt,
            Some(()) = self.terminate.recv() => StopSignal::Terminate,
            Some(()) = self.hangup.recv() => StopSignal::Hangup,
            // The signal driver is gone (the runtime is shutting down): nothing more comes.
            else => std::future::pending().await,
        }
    }
}

/// Makes the child `cmd` starts get SIGKILL when this process dies, also by SIGKILL, when no
/// destructor or signal handler runs (Linux's PR_SET_PDEATHSIG). The signal comes when the
/// thread that started the child ends, so start children from a thread that lives as long as
/// they should. The child's own children are not covered.
pub fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (prctl, getppid) without allocating.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent died before the prctl: no signal would ever come.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}
