//! What one shard's pod asks of its node: memory and CPU from the clients it runs. The figures
//! are planning estimates, not measurements of this run: a request the scheduler can place, a
//! memory limit with room above it, and no CPU limit (CFS throttling would hold heartbeats
//! back and show up as round-trip time that the target never caused).

use crate::scenario::{Scenario, TargetUrl};
use crate::shards::Shard;

/// Memory of a process with no clients (runtime, buffers, report building), in MiB.
pub const BASE_MEMORY_MIB: u64 = 64;
/// Memory per client connection of the tool's own side, in KiB.
pub const CLIENT_KIB_PER_CONNECTION: u64 = 4;
/// Memory per relayed connection of the in-process chaos proxy (its 8 KiB read and 8 KiB write
/// buffers), in KiB: only when a fault needs the proxy.
pub const PROXY_KIB_PER_CONNECTION: u64 = 16;
/// Memory per connection of the embedded echo server (`target.url: embedded`), which runs in
/// each shard's own process, in KiB.
pub const EMBEDDED_SERVER_KIB_PER_CONNECTION: u64 = 2;
/// The memory limit is this many times the request: a burst of reconnects or a slow target
/// (queued sends) must not get the shard OOM-killed mid-run.
pub const MEMORY_LIMIT_FACTOR: u64 = 2;
/// Clients one CPU core is requested for.
pub const CLIENTS_PER_CORE: u64 = 20_000;
/// The smallest CPU request, in millicores.
pub const MIN_CPU_MILLICORES: u64 = 250;

/// One pod's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodSize {
    /// Clients of the largest shard.
    pub clients: u64,
    pub memory_request_mib: u64,
    pub memory_limit_mib: u64,
    pub cpu_request_millicores: u64,
}

impl PodSize {
    /// The size of the largest of `shards` shards of `scenario` (every pod gets the same).
    pub fn of(scenario: &Scenario, shards: u32) -> Self {
        let clients = Shard {
            index: 0,
            count: shards.max(1),
        }
        .size_of(scenario.clients.count) as u64;
        let proxy = scenario.faults.iter().any(|f| f.kind.needs_proxy());
        let embedded = matches!(scenario.target.url, TargetUrl::Embedded);
        let kib_per_client = CLIENT_KIB_PER_CONNECTION
            + if proxy { PROXY_KIB_PER_CONNECTION } else { 0 }
            + if embedded {
                EMBEDDED_SERVER_KIB_PER_CONNECTION
            } else {
                0
            };
        let memory_request_mib = BASE_MEMORY_MIB + (clients * kib_per_client).div_ceil(1024);
        let cpu_request_millicores = (clients * 1000)
            .div_ceil(CLIENTS_PER_CORE)
            .max(MIN_CPU_MILLICORES);
        PodSize {
            clients,
            memory_request_mib,
            memory_limit_mib: memory_request_mib * MEMORY_LIMIT_FACTOR,
            cpu_request_millicores,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(count: u32, embedded: bool, proxy_fault: bool) -> Scenario {
        let target = if embedded {
            "embedded"
        } else {
            "ws://10.0.0.1:9001/"
        };
        let faults = if proxy_fault {
            "faults:\n  - {kind: partition, at: 1s, duration: 1s, fraction: 0.1}\n"
        } else {
            ""
        };
        let text = format!(
            "name: size\nduration: 10s\ntarget:\n  url: {target}\nclients:\n  count: {count}\n{faults}"
        );
        crate::scenario::parse(&text, "size.yaml").expect("a valid scenario")
    }

    #[test]
    fn memory_is_the_base_plus_each_clients_connections() {
        // 100,000 clients over 4 shards: 25,000 each, 4 KiB each = 97.66 MiB, rounded up.
        let size = PodSize::of(&scenario(100_000, false, false), 4);
        assert_eq!(size.clients, 25_000);
        assert_eq!(size.memory_request_mib, 64 + 98);
        assert_eq!(size.memory_limit_mib, 2 * (64 + 98));
        // 25,000 clients at 20,000 a core: 1.25 cores.
        assert_eq!(size.cpu_request_millicores, 1250);
    }

    #[test]
    fn the_proxy_and_the_embedded_server_add_their_connections() {
        let plain = PodSize::of(&scenario(10_240, false, false), 1);
        let both = PodSize::of(&scenario(10_240, true, true), 1);
        assert_eq!(plain.memory_request_mib, 64 + 40);
        assert_eq!(both.memory_request_mib, 64 + 40 + 160 + 20);
    }

    #[test]
    fn the_largest_shard_sizes_every_pod_and_cpu_has_a_floor() {
        // 10 clients over 4 shards: 3, 3, 2, 2.
        let size = PodSize::of(&scenario(10, false, false), 4);
        assert_eq!(size.clients, 3);
        assert_eq!(size.memory_request_mib, 65);
        assert_eq!(size.cpu_request_millicores, MIN_CPU_MILLICORES);
        // More shards, fewer clients each: the request falls with them.
        let wide = PodSize::of(&scenario(200_000, false, false), 10);
        let narrow = PodSize::of(&scenario(200_000, false, false), 2);
        assert!(wide.memory_request_mib < narrow.memory_request_mib);
        assert_eq!(wide.cpu_request_millicores, 1000);
        assert_eq!(narrow.cpu_request_millicores, 5000);
    }
}
