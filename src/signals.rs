//! The signals that end a run early. The first one ends it cleanly (clients close, the report
//! is written and marked interrupted); a second one quits at once.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// A signal that stops a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl-C).
    Interrupt,
}

impl StopSignal {
    pub const ALL: [StopSignal; 1] = [StopSignal::Interrupt];

    /// Whether `code` is the exit code of a run one of these signals stopped.
    pub fn is_exit_code(code: i32) -> bool {
        Self::ALL.iter().any(|s| i32::from(s.exit_code()) == code)
    }

    pub fn number(self) -> i32 {
        match self {
            StopSignal::Interrupt => libc::SIGINT,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
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
}

impl StopSignals {
    pub fn listen() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The next stop signal. Can be called again after it returned (a second signal).
    pub async fn recv(&mut self) -> StopSignal {
        tokio::select! {
            Some(()) = self.interrupt.recv() => StopSignal::Interrupt,
            // The signal driver is gone (the runtime is shutting down): nothing more comes.
            else => std::future::pending().await,
        }
    }
}
