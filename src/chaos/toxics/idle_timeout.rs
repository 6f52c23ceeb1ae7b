//! IdleTimeout: a connection that carried no byte either way for `idle` is closed on both sides
//! with a FIN, as nginx's proxy_read_timeout or a cloud load balancer does.

use std::time::Duration;

use super::Toxic;

#[derive(Debug, Clone, Copy)]
pub struct IdleTimeout {
    pub idle: Duration,
}

impl Toxic for IdleTimeout {
    fn idle_limit(&self) -> Option<Duration> {
        Some(self.idle)
    }
}
