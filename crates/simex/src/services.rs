//! The three services simex runs and profiles, and the ports they listen on.
//!
//! Ports come from one base port (default 8080): trading-api on the base, market-sim on base + 1,
//! order-flow on base + 2. `simex up --base-port 18080` (or `SIMEX_BASE_PORT`) moves all three
//! together, which is how tests run a second exchange beside the one on 8080, and
//! `simex profile --service NAME` finds the port the same way.
//!
//! `fault-proxy` (the toxiproxy-compatible TCP fault proxy of network chaos experiments) runs
//! beside them, its REST API on base + 394: 8474 by default, toxiproxy's own port, and 18474
//! when the base is 18080. The experiments' convention puts the proxy they create in front of
//! trading-api on base + 395. It is not one of [`SERVICES`]: it serves no `/metrics` or
//! `/debug/pprof`, so profiling and port lookups by service name leave it out.

/// The services, in start order: the simulators need trading-api (and the demo keys it writes).
pub const SERVICES: [&str; 3] = ["trading-api", "market-sim", "order-flow"];

/// The fault proxy's binary name.
pub const FAULT_PROXY: &str = "fault-proxy";

/// Offset of the fault proxy's REST API from the base port (8080 + 394 = toxiproxy's 8474).
pub const FAULT_PROXY_OFFSET: u16 = 394;

/// Offset of the proxy network experiments put in front of trading-api (8475 by default).
pub const TRADING_API_PROXY_OFFSET: u16 = 395;

/// The default base port (trading-api's port).
pub const DEFAULT_BASE_PORT: u16 = 8080;

/// Where each service listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// trading-api's port; the others follow it.
    pub base: u16,
}

impl Ports {
    /// The ports starting at `base`.
    pub fn new(base: u16) -> anyhow::Result<Self> {
        anyhow::ensure!(
            base > 0 && base <= u16::MAX - TRADING_API_PROXY_OFFSET,
            "--base-port {base}: needs ports up to base + {TRADING_API_PROXY_OFFSET} (the fault \
             proxy's), below 65536"
        );
        Ok(Self { base })
    }

    /// The port of a service, `None` for a name that is not one of ours.
    pub fn port_of(self, service: &str) -> Option<u16> {
        SERVICES
            .iter()
            .position(|s| *s == service)
            .map(|i| self.base + i as u16)
    }

    /// The service on a port, `None` for a port that is not one of ours.
    pub fn service_on(self, port: u16) -> Option<&'static str> {
        let offset = port.checked_sub(self.base)?;
        SERVICES.get(usize::from(offset)).copied()
    }

    /// The fault proxy's REST API port.
    pub fn fault_proxy(self) -> u16 {
        self.base + FAULT_PROXY_OFFSET
    }

    /// Where network experiments' proxy for trading-api listens (by convention; the
    /// experiments' configuration says so, the fault proxy itself does not know it).
    pub fn trading_api_proxy(self) -> u16 {
        self.base + TRADING_API_PROXY_OFFSET
    }

    /// `(name, port)` for every service, in start order.
    pub fn all(self) -> impl Iterator<Item = (&'static str, u16)> {
        SERVICES
            .iter()
            .enumerate()
            .map(move |(i, s)| (*s, self.base + i as u16))
    }
}

impl Default for Ports {
    fn default() -> Self {
        Self {
            base: DEFAULT_BASE_PORT,
        }
    }
}

/// A one-line reminder of which port is which, for error messages.
pub fn port_hint(ports: Ports) -> String {
    ports
        .all()
        .map(|(name, port)| format!("{port} {name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_follow_the_base() {
        let p = Ports::default();
        assert_eq!(p.port_of("trading-api"), Some(8080));
        assert_eq!(p.port_of("order-flow"), Some(8082));
        assert_eq!(p.port_of("nope"), None);
        assert_eq!(p.service_on(8081), Some("market-sim"));
        assert_eq!(p.service_on(8083), None);
        assert_eq!(p.service_on(80), None);
        let moved = Ports::new(18_000).expect("valid base");
        assert_eq!(moved.port_of("market-sim"), Some(18_001));
        assert!(Ports::new(65_535).is_err());
        assert_eq!(p.fault_proxy(), 8474);
        assert_eq!(moved.fault_proxy(), 18_394);
        assert_eq!(moved.trading_api_proxy(), 18_395);
        assert!(Ports::new(u16::MAX - TRADING_API_PROXY_OFFSET).is_ok());
        assert!(Ports::new(u16::MAX - TRADING_API_PROXY_OFFSET + 1).is_err());
        assert!(Ports::new(0).is_err());
        assert_eq!(
            port_hint(p),
            "8080 trading-api, 8081 market-sim, 8082 order-flow"
        );
    }
}
