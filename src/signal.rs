//! Waiting for the operator's stop request.

use std::future::Future;

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what `systemctl stop`, `docker
/// stop` and `pm2 stop` send). On non-Unix systems, on Ctrl-C only.
///
/// The handlers are installed when this is called, not when the future is
/// first polled: call it before starting what a signal should stop, so a
/// signal that arrives while it starts is not the default (fatal) one.
/// Needs a tokio runtime with signal support.
///
/// If a handler cannot be installed, the failure is logged and that signal
/// is not waited for (the other still is).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind: SignalKind, name: &'static str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for {name}");
                None
            }
        };
        let mut interrupt = install(SignalKind::interrupt(), "SIGINT");
        let mut terminate = install(SignalKind::terminate(), "SIGTERM");
        async move {
            tokio::select! {
                () = wait(interrupt.as_mut()) => tracing::info!("SIGINT received, shutting down"),
                () = wait(terminate.as_mut()) => tracing::info!("SIGTERM received, shutting down"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!(error = %e, "cannot listen for SIGINT");
                std::future::pending::<()>().await;
            }
            tracing::info!("SIGINT received, shutting down");
        }
    }
}

/// Waits for `signal`; never completes without one.
#[cfg(unix)]
async fn wait(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
