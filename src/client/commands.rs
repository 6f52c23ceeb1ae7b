//! What reaches a client actor from outside its own timers: commands from the coordinator (manual
//! close, `drop` faults, fault windows) and the frames of its connection.

use std::time::Instant;

use actix::prelude::*;
use actix_http::ws::Frame;

use super::reader::ReadError;
use crate::scenario::DropMode;

/// Manual close (scenario end or a `manual_close` action): close 1000, never reconnect.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// A `drop` fault (number `fault` on the timeline) hit this client: lose the connection (if
/// open) and reconnect. Answers whether there was an open connection to cut.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct DropConnection {
    pub mode: DropMode,
    pub fault: usize,
    pub at: Instant,
}

/// Fault number `fault` began at `at` on this client: if its connection dies before the fault
/// ends, the detection latency and the recovery count from `at` and belong to that fault.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct FaultStarted {
    pub fault: usize,
    pub at: Instant,
}

/// Fault number `fault` ended; a client that did not notice it never will.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct FaultEnded {
    pub fault: usize,
}

/// A frame (or the end, `event: None`) read from connection number `conn`: the id lets the actor
/// ignore whatever is still in flight from a connection it already let go.
pub struct Inbound {
    pub conn: u64,
    pub event: Option<Result<Frame, ReadError>>,
}
