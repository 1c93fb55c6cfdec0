//! A real HTTP server on 127.0.0.1:0 for tests, and a stand-in for our services that answers
//! the committed real profiles at Go's `/debug/pprof/*` URLs.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::fixture;

/// The URLs (path and query) a test server was asked for.
pub type Requests = Arc<Mutex<Vec<String>>>;

/// An HTTP server on a free loopback port, running until dropped.
pub struct Server {
    pub addr: SocketAddr,
    requests: Requests,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(app: impl FnOnce(Requests) -> Router + Send + 'static) -> Self {
        let requests: Requests = Arc::default();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::clone(&requests);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test server");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("test server");
                addr_tx
                    .send(listener.local_addr().expect("test server"))
                    .expect("test server");
                axum::serve(listener, app(shared))
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("test server");
            });
        });
        let addr = addr_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("test server");
        Self {
            addr,
            requests,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("test server").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The committed fixture served for each pprof endpoint name.
pub fn fixture_for(name: &str) -> Option<&'static str> {
    Some(match name {
        "profile" => "go_cpu_json.pb.gz",
        "heap" => "go_heap.pb.gz",
        "allocs" => "go_allocs.pb.gz",
        "goroutine" => "go_goroutine.pb.gz",
        "block" => "go_block.pb.gz",
        "mutex" => "go_mutex.pb.gz",
        _ => return None,
    })
}

/// A service like ours: `/health`, `/debug/pprof/cmdline` naming trading-api, and profiles.
pub fn profiling_service(requests: Requests) -> Router {
    async fn profile(
        State(requests): State<Requests>,
        UrlPath(name): UrlPath<String>,
        RawQuery(query): RawQuery,
    ) -> Response {
        let url = match query {
            Some(q) => format!("/debug/pprof/{name}?{q}"),
            None => format!("/debug/pprof/{name}"),
        };
        requests.lock().expect("test server").push(url);
        match fixture_for(&name) {
            Some(file) => std::fs::read(fixture(file))
                .expect("test server")
                .into_response(),
            None => (StatusCode::NOT_FOUND, "unknown profile").into_response(),
        }
    }
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/debug/pprof/cmdline",
            get(|| async { "/opt/simex/bin/trading-api\0--listen\x00127.0.0.1:8080" }),
        )
        .route("/debug/pprof/{name}", get(profile))
        .with_state(requests)
}
