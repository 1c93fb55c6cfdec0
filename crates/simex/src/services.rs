//! The three services simex runs and profiles, and the ports they listen on.
//!
//! Ports come from one base port (default 8080): trading-api on the base, market-sim on base + 1,
//! order-flow on base + 2. `simex up --base-port 18080` (or `SIMEX_BASE_PORT`) moves all three
//! together, which is how tests run a second exchange beside the one on 8080, and
//! `simex profile --service NAME` finds the port the same way.

/// The services, in start order: the simulators need trading-api (and the demo keys it writes).
pub const SERVICES: [&str; 3] = ["trading-api", "market-sim", "order-flow"];

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
            base > 0 && base <= u16::MAX - 2,
            "--base-port {base}: needs three ports from it, below 65536"
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
        assert!(Ports::new(0).is_err());
        assert_eq!(
            port_hint(p),
            "8080 trading-api, 8081 market-sim, 8082 order-flow"
        );
    }
}
