//! Applying the fault timeline: picking the victims (the same on every shard), telling the
//! clients, killing and reviving the managed target, switching proxy faults on and off.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use futures_util::future::join_all;
use rand::Rng;

use super::Coordinator;
use crate::chaos::Victims;
use crate::client::{Client, DropConnection, FaultEnded, FaultStarted};
use crate::report::FaultRecord;
use crate::scenario::{Fault, FaultKind};

impl Coordinator {
    /// Chooses the clients a fault touches: each arrived client with probability `fraction`,
    /// leaving out those a down-stage stopped. Every shard draws for every client (stopped
    /// ones too), so all shards agree on the victims.
    fn choose(&mut self, fraction: f64) -> Vec<u32> {
        let all = 0..self.arrived;
        let chosen: Vec<u32> = if fraction >= 1.0 {
            all.collect()
        } else {
            all.filter(|_| self.rng.random_bool(fraction.clamp(0.0, 1.0)))
                .collect()
        };
        chosen
            .into_iter()
            .filter(|id| self.shard.owns(*id) && self.live.contains(*id))
            .collect()
    }

    fn client(&self, id: u32) -> Option<&Addr<Client>> {
        self.clients.get(self.shard.local_index(id))
    }

    /// Sends a fault event to the clients it touches.
    fn tell<M>(&self, victims: &[u32], msg: M)
    where
        M: Message<Result = ()> + Copy + Send + 'static,
        Client: Handler<M>,
    {
        for id in victims {
            if let Some(client) = self.client(*id) {
                client.do_send(msg);
            }
        }
    }

    pub(super) fn apply(&mut self, index: usize, fault: Fault, ctx: &mut Context<Self>) {
        if self.ending {
            return;
        }
        let now = Instant::now();
        let victims = self.choose(fault.fraction);
        let record =
            FaultRecord::started(index, fault.kind.name(), self.elapsed_s(), victims.len());
        if self.faults.len() <= index {
            self.faults.resize_with(index + 1, || record.clone());
        }
        self.faults[index] = record;
        let started = FaultStarted {
            fault: index,
            at: now,
        };
        match fault.kind {
            FaultKind::ServerKill { downtime, signal } => {
                let Some(mut target) = self.target.take() else {
                    tracing::warn!(
                        "server_kill at {:?}: the target is not under wschaos' control right now",
                        fault.at
                    );
                    return;
                };
                self.faults[index].connections_cut = target.open_connections().unwrap_or(0);
                let at = fault.at;
                // Every client must know of the fault before its socket can die of it.
                let notices: Vec<_> = victims
                    .iter()
                    .filter_map(|id| self.client(*id))
                    .map(|client| client.send(started))
                    .collect();
                let kill = async move {
                    join_all(notices).await;
                    let killed = target.kill(signal).await;
                    (target, killed)
                };
                ctx.spawn(
                    kill.into_actor(self)
                        .map(move |(target, killed), act, ctx| {
                            act.target = Some(target);
                            if let Err(err) = killed {
                                let failure = format!("server_kill at {at:?}: {err}");
                                tracing::error!("{failure}");
                                act.target_failures.push(failure);
                            }
                            let revive = ctx.run_later(downtime, move |act, ctx| {
                                act.revive(index, victims, ctx)
                            });
                            act.timers.push(revive);
                        }),
                );
            }
            FaultKind::Drop { mode } => {
                self.faults[index].ended_s = Some(self.faults[index].started_s);
                let sends: Vec<_> = victims
                    .iter()
                    .filter_map(|id| self.client(*id))
                    .map(|client| {
                        client.send(DropConnection {
                            mode,
                            fault: index,
                            at: now,
                        })
                    })
                    .collect();
                ctx.spawn(
                    join_all(sends)
                        .into_actor(self)
                        .map(move |replies, act, _| {
                            act.faults[index].connections_cut = replies
                                .into_iter()
                                .filter(|r| matches!(r, Ok(true)))
                                .count()
                                as u64;
                        }),
                );
            }
            FaultKind::Proxy(proxy_fault) => {
                let Some(proxy) = self.proxy.as_ref() else {
                    tracing::warn!(
                        "{} at {:?}: no chaos proxy in place",
                        proxy_fault.name(),
                        fault.at
                    );
                    return;
                };
                let set = if fault.fraction >= 1.0 {
                    Victims::All
                } else {
                    Victims::Clients(Arc::new(victims.iter().copied().collect::<HashSet<u32>>()))
                };
                proxy.activate(index, proxy_fault, set);
                self.tell(&victims, started);
                self.active.push(index);
                let length = fault.duration.unwrap_or_default();
                let end = ctx.run_later(length, move |act, _| act.end_proxy_fault(index, &victims));
                self.timers.push(end);
            }
        }
    }

    fn end_proxy_fault(&mut self, index: usize, victims: &[u32]) {
        if let Some(proxy) = &self.proxy {
            proxy.deactivate(index);
        }
        self.active.retain(|i| *i != index);
        self.tell(victims, FaultEnded { fault: index });
        self.faults[index].ended_s = Some(self.elapsed_s());
    }

    /// The end of a server_kill's downtime: the target comes back.
    fn revive(&mut self, index: usize, victims: Vec<u32>, ctx: &mut Context<Self>) {
        let Some(mut target) = self.target.take() else {
            return;
        };
        let revive = async move {
            let result = target.revive().await;
            (target, result)
        };
        ctx.spawn(
            revive
                .into_actor(self)
                .map(move |(target, result), act, _| {
                    act.target = Some(target);
                    if let Err(err) = result {
                        tracing::error!("after server_kill: {err}");
                    }
                    act.faults[index].ended_s = Some(act.elapsed_s());
                    act.tell(&victims, FaultEnded { fault: index });
                }),
        );
    }
}
