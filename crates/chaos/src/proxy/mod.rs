//! A TCP fault proxy that speaks toxiproxy's REST API, so toxiproxy's clients and experiment
//! drivers work against it (toxiproxy itself is not installable here).
//!
//! - [`Collection`]: the proxies: each listens on a loopback address and forwards every
//!   connection to its upstream; disabling one closes its listener and connections (down).
//! - [`toxic`]: toxics and their JSON; [`link`]: one connection with toxics applied.
//! - [`api`]: the REST routes (`/proxies`, `/populate`, `/proxies/{name}/toxics`, `/reset`,
//!   `/version`, `/metrics`).
//!
//! Architecture invariant: loopback only. The API server and every proxy listen on loopback
//! addresses; this is a test tool that can cut connections, never a public endpoint.

pub mod api;
pub mod link;
pub mod toxic;

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use self::toxic::{check_toxicity, NewToxic, Toxic, ToxicKind, ToxicUpdate};

/// An error in toxiproxy's shape: `{"error": message, "status": code}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyError {
    /// HTTP status.
    pub status: u16,
    /// Message.
    pub message: String,
}

impl ProxyError {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    fn proxy_not_found() -> Self {
        Self::new(404, "proxy not found")
    }
}

/// One proxy.
struct Proxy {
    /// Name, unique in the collection.
    name: String,
    /// Listen address as given, then as bound (port 0 becomes the real port).
    listen: String,
    /// Where connections go.
    upstream: String,
    /// Toxics in the order they were added; links watch this.
    toxics: watch::Sender<Arc<Vec<Toxic>>>,
    /// Cancels the accept loop and every connection; `None` when disabled.
    running: Option<CancellationToken>,
    /// The listener, shared with the accept loop, which only borrows it while polling. `stop`
    /// takes it out and drops it at once, so the port is free before `stop` returns: binding
    /// the same port again (populate, an update) must not race the accept task's exit.
    listener: Arc<Mutex<Option<tokio::net::TcpListener>>>,
    /// Connections accepted since the proxy was created, shown as `stats.connections_accepted`
    /// (not in toxiproxy; its clients ignore unknown fields). It is how a chaos run shows that
    /// traffic really went through the proxy.
    accepted: Arc<AtomicU64>,
}

impl Proxy {
    /// A proxy without toxics, started if `enabled` (its listen address is checked either way).
    fn new(
        name: String,
        listen: String,
        upstream: String,
        enabled: bool,
    ) -> Result<Self, ProxyError> {
        let mut proxy = Proxy {
            name,
            listen,
            upstream,
            toxics: watch::channel(Arc::new(Vec::new())).0,
            running: None,
            listener: Arc::new(Mutex::new(None)),
            accepted: Arc::new(AtomicU64::new(0)),
        };
        if enabled {
            proxy.start()?;
        } else {
            proxy.listen = loopback_addr(&proxy.listen)?.to_string();
        }
        Ok(proxy)
    }

    fn to_json(&self) -> Value {
        let toxics: Vec<Value> = self.toxics.borrow().iter().map(Toxic::to_json).collect();
        json!({
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.running.is_some(),
            "toxics": toxics,
            "stats": {"connections_accepted": self.accepted.load(Ordering::Relaxed)},
        })
    }

    /// Binds the listen address and starts accepting. Must run inside a tokio runtime.
    fn start(&mut self) -> Result<(), ProxyError> {
        if self.running.is_some() {
            return Ok(());
        }
        let addr = loopback_addr(&self.listen)?;
        let requested = self.listen.clone();
        let std_listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| ProxyError::new(500, format!("cannot listen on {addr}: {e}")))?;
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| ProxyError::new(500, format!("cannot listen on {addr}: {e}")))?;
        if let Ok(bound) = listener.local_addr() {
            self.listen = bound.to_string();
        }
        if !same_address(&requested, &self.listen) {
            // The JSON shows the bound address; the log says why it differs from the request.
            tracing::info!(proxy = %self.name, %requested, bound = %self.listen,
                "listening on loopback (fault-proxy never binds other addresses)");
        }
        // A fresh slot per start: a stopped accept loop that has not yet seen its cancellation
        // must never poll (and serve with its old upstream) the new listener.
        self.listener = Arc::new(Mutex::new(Some(listener)));
        let cancel = CancellationToken::new();
        let (upstream, toxics, stop, accepted_count, slot) = (
            self.upstream.clone(),
            self.toxics.subscribe(),
            cancel.clone(),
            Arc::clone(&self.accepted),
            Arc::clone(&self.listener),
        );
        tokio::spawn(async move {
            loop {
                let accept = std::future::poll_fn(|cx| match slot.lock().as_ref() {
                    Some(listener) => listener.poll_accept(cx).map(Some),
                    None => std::task::Poll::Ready(None),
                });
                let accepted = tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    accepted = accept => match accepted {
                        Some(accepted) => accepted,
                        None => return,
                    },
                };
                match accepted {
                    Ok((client, _)) => {
                        accepted_count.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(link::run(
                            client,
                            upstream.clone(),
                            toxics.clone(),
                            stop.child_token(),
                        ));
                    }
                    Err(err) => {
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
        });
        self.running = Some(cancel);
        Ok(())
    }

    /// Closes the listener (the port is free on return) and every connection.
    fn stop(&mut self) {
        drop(self.listener.lock().take());
        if let Some(cancel) = self.running.take() {
            cancel.cancel();
        }
    }

    /// Whether `listen` or `upstream` differ from this proxy's (toxiproxy's `Differs`: the
    /// listen address is compared as it would be bound).
    fn differs(&self, listen: &str, upstream: &str) -> Result<bool, ProxyError> {
        let listen = loopback_addr(listen)?;
        Ok(!same_address(&listen.to_string(), &self.listen) || upstream != self.upstream)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether two `host:port` strings name the same socket address.
fn same_address(a: &str, b: &str) -> bool {
    match (a.parse::<SocketAddr>(), b.parse::<SocketAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Resolves `listen` to the loopback address it will be bound to.
///
/// toxiproxy's clients often ask for every interface: chaostoolkit-toxiproxy defaults to
/// `0.0.0.0:PORT`, and Go's `:PORT` means the same. We accept those forms but bind loopback
/// (`127.0.0.1`, or `::1` for `[::]`): this tool may cut connections and must not be reachable
/// from elsewhere. The proxy's JSON `listen` then shows the address really bound. Named hosts
/// must resolve to a loopback address; anything else is refused (400).
fn loopback_addr(listen: &str) -> Result<SocketAddr, ProxyError> {
    let listen = listen.trim();
    let spelled = if listen.starts_with(':') {
        format!("127.0.0.1{listen}")
    } else {
        listen.to_owned()
    };
    if let Ok(addr) = spelled.parse::<SocketAddr>() {
        if addr.ip().is_unspecified() {
            let ip: std::net::IpAddr = if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            };
            return Ok(SocketAddr::new(ip, addr.port()));
        }
    }
    let addrs: Vec<SocketAddr> = spelled
        .as_str()
        .to_socket_addrs()
        .map_err(|e| ProxyError::bad_request(format!("bad listen address {listen:?}: {e}")))?
        .collect();
    addrs
        .iter()
        .find(|a| a.ip().is_loopback())
        .copied()
        .ok_or_else(|| {
            ProxyError::bad_request(format!(
                "listen address {listen:?} is not loopback; this proxy serves loopback only"
            ))
        })
}

/// All proxies; cheap to clone.
#[derive(Clone, Default)]
pub struct Collection {
    proxies: Arc<Mutex<BTreeMap<String, Proxy>>>,
    /// Source of toxic uids.
    next_uid: Arc<AtomicU64>,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("proxies", &self.proxies.lock().len())
            .finish()
    }
}

/// A proxy's state as `/metrics` shows it.
#[derive(Debug, Clone)]
pub struct ProxySnapshot {
    /// Proxy name.
    pub name: String,
    /// Accepting connections.
    pub enabled: bool,
    /// Connections accepted since it was created.
    pub accepted: u64,
    /// (type, stream) of each toxic.
    pub toxics: Vec<(&'static str, &'static str)>,
}

/// Fields of a proxy create/update body.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ProxyFields {
    /// Name (create only; ignored on update).
    #[serde(default)]
    pub name: Option<String>,
    /// Listen address (`host:port`, loopback).
    #[serde(default)]
    pub listen: Option<String>,
    /// Upstream address (`host:port`).
    #[serde(default)]
    pub upstream: Option<String>,
    /// Whether it accepts connections; default true on create.
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl ProxyFields {
    /// Name, listen address (default `127.0.0.1:0`) and upstream; 400 if name or upstream is
    /// missing.
    fn required(&self) -> Result<(String, String, String), ProxyError> {
        let name = self
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ProxyError::bad_request("missing required field: name"))?;
        let upstream = self
            .upstream
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ProxyError::bad_request("missing required field: upstream"))?;
        let listen = self
            .listen
            .clone()
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "127.0.0.1:0".to_owned());
        Ok((name, listen, upstream))
    }
}

impl Collection {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// `GET /proxies`: name → proxy.
    pub fn all(&self) -> Value {
        let proxies = self.proxies.lock();
        Value::Object(
            proxies
                .iter()
                .map(|(name, p)| (name.clone(), p.to_json()))
                .collect(),
        )
    }

    /// `POST /proxies`: 409 if the name is taken.
    pub fn create(&self, fields: ProxyFields) -> Result<Value, ProxyError> {
        let (name, listen, upstream) = fields.required()?;
        let mut proxies = self.proxies.lock();
        if proxies.contains_key(&name) {
            return Err(ProxyError::new(409, "proxy already exists"));
        }
        let proxy = Proxy::new(
            name.clone(),
            listen,
            upstream,
            fields.enabled.unwrap_or(true),
        )?;
        let json = proxy.to_json();
        proxies.insert(name, proxy);
        Ok(json)
    }

    /// `POST /populate`, as toxiproxy's `PopulateJson`: every entry is checked for a name and an
    /// upstream before any is touched; then each is added, or, if a proxy of that name exists,
    /// kept as it is (toxics, enabled state, connections) when its listen address and upstream
    /// are unchanged, and replaced (stopped, re-created without toxics) when they differ. On an
    /// error, the proxies done so far are returned with it, as toxiproxy does.
    pub fn populate(&self, list: Vec<ProxyFields>) -> (Vec<Value>, Option<ProxyError>) {
        let mut checked = Vec::with_capacity(list.len());
        for (i, fields) in list.into_iter().enumerate() {
            match fields.required() {
                Ok(required) => checked.push((required, fields.enabled.unwrap_or(true))),
                Err(err) => {
                    let message = format!("{} at proxy {}", err.message, i + 1);
                    return (Vec::new(), Some(ProxyError::bad_request(message)));
                }
            }
        }
        let mut done = Vec::with_capacity(checked.len());
        let mut proxies = self.proxies.lock();
        for ((name, listen, upstream), enabled) in checked {
            if let Some(existing) = proxies.get_mut(&name) {
                match existing.differs(&listen, &upstream) {
                    Ok(false) => {
                        done.push(existing.to_json());
                        continue;
                    }
                    Ok(true) => existing.stop(),
                    Err(err) => return (done, Some(err)),
                }
            }
            match Proxy::new(name.clone(), listen, upstream, enabled) {
                Ok(proxy) => {
                    done.push(proxy.to_json());
                    proxies.insert(name, proxy);
                }
                Err(err) => return (done, Some(err)),
            }
        }
        (done, None)
    }

    /// One entry per proxy for `/metrics`.
    pub fn snapshot(&self) -> Vec<ProxySnapshot> {
        self.proxies
            .lock()
            .values()
            .map(|p| ProxySnapshot {
                name: p.name.clone(),
                enabled: p.running.is_some(),
                accepted: p.accepted.load(Ordering::Relaxed),
                toxics: p
                    .toxics
                    .borrow()
                    .iter()
                    .map(|t| (t.kind.type_name(), t.stream.name()))
                    .collect(),
            })
            .collect()
    }

    /// `GET /proxies/{name}`.
    pub fn get(&self, name: &str) -> Result<Value, ProxyError> {
        self.proxies
            .lock()
            .get(name)
            .map(Proxy::to_json)
            .ok_or_else(ProxyError::proxy_not_found)
    }

    /// `POST /proxies/{name}`: change listen, upstream or enabled.
    pub fn update(&self, name: &str, fields: ProxyFields) -> Result<Value, ProxyError> {
        let mut proxies = self.proxies.lock();
        let proxy = proxies
            .get_mut(name)
            .ok_or_else(ProxyError::proxy_not_found)?;
        let listen = fields
            .listen
            .clone()
            .unwrap_or_else(|| proxy.listen.clone());
        let upstream = fields
            .upstream
            .clone()
            .unwrap_or_else(|| proxy.upstream.clone());
        let enabled = fields.enabled.unwrap_or(proxy.running.is_some());
        if proxy.differs(&listen, &upstream)? {
            // As toxiproxy: a moved proxy closes its listener and connections, then restarts.
            proxy.stop();
            proxy.listen = listen;
            proxy.upstream = upstream;
        }
        if enabled {
            proxy.start()?;
        } else {
            proxy.stop();
        }
        Ok(proxy.to_json())
    }

    /// `DELETE /proxies/{name}`.
    pub fn delete(&self, name: &str) -> Result<(), ProxyError> {
        self.proxies
            .lock()
            .remove(name)
            .map(drop)
            .ok_or_else(ProxyError::proxy_not_found)
    }

    /// `POST /reset`: enable every proxy and remove every toxic.
    pub fn reset(&self) -> Result<(), ProxyError> {
        let mut proxies = self.proxies.lock();
        for proxy in proxies.values_mut() {
            proxy.toxics.send_replace(Arc::new(Vec::new()));
            proxy.start()?;
        }
        Ok(())
    }

    fn with_proxy<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Proxy) -> Result<T, ProxyError>,
    ) -> Result<T, ProxyError> {
        let mut proxies = self.proxies.lock();
        let proxy = proxies
            .get_mut(name)
            .ok_or_else(ProxyError::proxy_not_found)?;
        f(proxy)
    }

    /// `GET /proxies/{name}/toxics`.
    pub fn toxics(&self, name: &str) -> Result<Value, ProxyError> {
        self.with_proxy(name, |p| {
            Ok(Value::Array(
                p.toxics.borrow().iter().map(Toxic::to_json).collect(),
            ))
        })
    }

    /// `POST /proxies/{name}/toxics`.
    pub fn add_toxic(&self, name: &str, new: NewToxic) -> Result<Value, ProxyError> {
        let kind = ToxicKind::parse(&new.kind, &new.attributes).map_err(ProxyError::bad_request)?;
        let stream = new.stream.unwrap_or_default();
        let toxicity =
            check_toxicity(new.toxicity.unwrap_or(1.0)).map_err(ProxyError::bad_request)?;
        let toxic = Toxic {
            name: new
                .name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("{}_{}", kind.type_name(), stream.name())),
            kind,
            stream,
            toxicity,
            uid: self.next_uid.fetch_add(1, Ordering::Relaxed),
        };
        self.with_proxy(name, |p| {
            if p.toxics.borrow().iter().any(|t| t.name == toxic.name) {
                return Err(ProxyError::new(409, "toxic already exists"));
            }
            let json = toxic.to_json();
            p.toxics.send_modify(|list| Arc::make_mut(list).push(toxic));
            Ok(json)
        })
    }

    /// `GET /proxies/{name}/toxics/{toxic}`.
    pub fn toxic(&self, name: &str, toxic: &str) -> Result<Value, ProxyError> {
        self.with_proxy(name, |p| {
            p.toxics
                .borrow()
                .iter()
                .find(|t| t.name == toxic)
                .map(Toxic::to_json)
                .ok_or_else(|| ProxyError::new(404, "toxic not found"))
        })
    }

    /// `POST /proxies/{name}/toxics/{toxic}`: change attributes or toxicity.
    pub fn update_toxic(
        &self,
        name: &str,
        toxic: &str,
        update: ToxicUpdate,
    ) -> Result<Value, ProxyError> {
        self.with_proxy(name, |p| {
            let mut list = (**p.toxics.borrow()).clone();
            let entry = list
                .iter_mut()
                .find(|t| t.name == toxic)
                .ok_or_else(|| ProxyError::new(404, "toxic not found"))?;
            entry.kind = entry
                .kind
                .updated(&update.attributes)
                .map_err(ProxyError::bad_request)?;
            if let Some(toxicity) = update.toxicity {
                entry.toxicity = check_toxicity(toxicity).map_err(ProxyError::bad_request)?;
            }
            let json = entry.to_json();
            p.toxics.send_replace(Arc::new(list));
            Ok(json)
        })
    }

    /// `DELETE /proxies/{name}/toxics/{toxic}`.
    pub fn remove_toxic(&self, name: &str, toxic: &str) -> Result<(), ProxyError> {
        self.with_proxy(name, |p| {
            let list = p.toxics.borrow().clone();
            if !list.iter().any(|t| t.name == toxic) {
                return Err(ProxyError::new(404, "toxic not found"));
            }
            let kept: Vec<Toxic> = list.iter().filter(|t| t.name != toxic).cloned().collect();
            p.toxics.send_replace(Arc::new(kept));
            Ok(())
        })
    }
}
