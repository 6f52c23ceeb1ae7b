//! The integration tests, one module per feature, linked as one test binary (one link instead of
//! one per file). Run one feature's tests with `cargo test --test it heartbeat::`.

#[path = "../common/mod.rs"]
mod common;

mod capacity;
mod chaos_faults;
mod check;
mod cli;
mod compare;
mod deflate;
mod echo_server;
mod external_target;
mod fault_equivalence;
mod fleet;
mod fuzz_corpus;
mod graphql_ws;
mod heartbeat;
mod hostile;
mod hostile_proxy;
mod interrupt;
mod k8s;
mod keepalive;
mod kernel_limits;
mod max_conns;
mod merge;
mod messages;
mod node_tls;
mod on_open;
mod progress;
mod proxy;
mod proxy_cli;
mod push;
mod reconnect;
mod report_files;
mod security;
mod self_diagnosis;
mod serve_procs;
mod shards;
mod socketio;
mod source_ips;
mod stages;
mod storm;
mod target_cost;
mod threads;
mod thresholds;
mod timing;
mod tls;
mod upgrade;
