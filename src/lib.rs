//! wschaos: thousands of heartbeating, reconnecting WebSocket clients (one actix actor each)
//! against a target while a coordinator injects faults and records latency and reconnect figures.

pub mod scenario;
