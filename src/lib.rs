//! wschaos: thousands of heartbeating, reconnecting WebSocket clients (one actix actor each)
//! against a target while a coordinator injects faults and records latency and reconnect figures.

pub mod capacity;
pub mod chaos;
pub mod cli;
pub mod client;
pub mod commands;
pub mod coordinator;
pub mod cpu;
pub mod fd_limit;
pub mod k8s;
pub mod kernel_limits;
pub mod memory;
pub mod metrics;
pub mod progress;
pub mod report;
pub mod run;
pub mod scenario;
pub mod server;
pub mod shards;
pub mod signals;
pub mod target;
pub mod tls;
pub mod upgrade_headers;
