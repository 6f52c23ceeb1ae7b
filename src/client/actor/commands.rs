//! The commands the client actor takes from the run (`client/commands.rs`): a manual close at
//! the end, a `drop` fault, and the start and end of a fault that may cost it its connection.
//! Part of the client actor, kept apart from its transitions in `actor.rs`.

use std::time::Instant;

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason};

use super::{Cause, Client, State, app};
use crate::client::clock::Timer;
use crate::client::commands::{DropConnection, FaultEnded, FaultStarted, Stop};
use crate::client::tally;
use crate::scenario::DropMode;

/// Any state --manual close--> Stopped: an open connection sends close 1000 and waits up to
/// `close_grace` for the server's answer; a client that is not open stops at once.
impl Handler<Stop> for Client {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        self.deadlines.clear(Timer::Reconnect);
        match std::mem::replace(&mut self.state, State::Stopped(None)) {
            State::Open(mut conn) => {
                self.clear_connection_timers();
                app::before_manual_close(&mut conn, &self.cfg.app);
                conn.writer
                    .queue_close(Some(CloseReason::from(CloseCode::Normal)));
                self.state = State::Stopped(Some(conn));
                tally::closed_manually();
                self.flush(ctx);
                self.deadlines
                    .set(Timer::Close, Instant::now() + self.cfg.close_grace);
            }
            State::Connecting(attempt) => {
                ctx.cancel_future(attempt);
                self.stop_while_lost(ctx);
            }
            State::Backoff => self.stop_while_lost(ctx),
            previous @ (State::Stopped(_) | State::GaveUp) => self.state = previous,
        }
    }
}

/// A `drop` fault: Open --close (1001) or reset--> Backoff, counted as `dropped`.
impl Handler<DropConnection> for Client {
    type Result = bool;

    fn handle(&mut self, msg: DropConnection, ctx: &mut Self::Context) -> bool {
        let Some(mut conn) = self.take_open() else {
            return false;
        };
        self.fault = Some(FaultStarted {
            fault: msg.fault,
            at: msg.at,
        });
        let now = Instant::now();
        let lost_messages = conn.lose_in_flight();
        match msg.mode {
            DropMode::Close => {
                conn.writer
                    .queue_close(Some(CloseReason::from(CloseCode::Away)));
                let _ = conn.writer.try_flush();
                self.linger(conn, ctx);
            }
            DropMode::Reset => {
                conn.writer.reset_on_close();
                conn.release(ctx);
            }
        }
        self.after_loss(Cause::Dropped, now, lost_messages, ctx);
        true
    }
}

impl Handler<FaultStarted> for Client {
    type Result = ();

    fn handle(&mut self, msg: FaultStarted, _ctx: &mut Self::Context) {
        if self.state.is_open() {
            self.fault = Some(msg);
        }
    }
}

impl Handler<FaultEnded> for Client {
    type Result = ();

    fn handle(&mut self, msg: FaultEnded, _ctx: &mut Self::Context) {
        if self.fault.is_some_and(|f| f.fault == msg.fault) {
            self.fault = None;
        }
    }
}
