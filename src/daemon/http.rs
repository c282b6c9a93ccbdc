//! What the daemon's two HTTP listeners (metrics, dashboard) share: binding first thing,
//! naming the URL in a file under the data folder, and serving plain HTTP until the stop.

use std::net::SocketAddr;
use std::path::Path;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::warn;

/// Binds `addr` (the node.yaml `field`), then writes `{scheme}://{bound}{path}` to
/// `DATA_DIR/file` (port 0 takes any free port: `nonstop up` reads the file to list URLs).
pub async fn bind(
    field: &str,
    addr: SocketAddr,
    data_dir: &Path,
    file: &str,
    url: impl Fn(SocketAddr) -> String,
) -> Result<TcpListener, String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("{field}: cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let file = data_dir.join(file);
    std::fs::write(&file, format!("{}\n", url(bound)))
        .map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(listener)
}

/// Serves `app` over plain HTTP on `listener` until `stop` turns true; `what` names it in the
/// log if it stops on its own.
pub fn serve_plain(
    listener: TcpListener,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
    what: &'static str,
) {
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            warn!("the {what} stopped: {e}");
        }
    });
}
