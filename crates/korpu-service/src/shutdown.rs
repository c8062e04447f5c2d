//! Graceful shutdown, the part every `serve` shares: [`signal`] resolves when the process is
//! asked to stop (SIGTERM from a service manager or `kill`, SIGINT from Ctrl-C), and
//! [`within_grace`] bounds how long stopping may take.
//!
//! What stopping means is each server's own (stop accepting, drain requests in flight, close
//! its stores; a gateway then closes its ledger), and so is its grace period, a configured
//! value. Deliberately not here: listeners and connection draining (`korpu_net`), and exit
//! codes (the binary returns normally, so a clean stop exits 0).

use std::future::Future;
use std::time::Duration;

/// The signal that asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM.
    Terminate,
    /// SIGINT.
    Interrupt,
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signal::Terminate => "SIGTERM",
            Signal::Interrupt => "SIGINT",
        })
    }
}

/// Resolves on the first SIGTERM or SIGINT after it was first polled.
///
/// Installing the handlers cannot fail on a Unix system that runs Tokio at all (it fails only
/// for signals the OS forbids catching), hence the `expect`.
pub async fn signal() -> Signal {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM can be caught");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT can be caught");
    tokio::select! {
        _ = term.recv() => Signal::Terminate,
        _ = int.recv() => Signal::Interrupt,
    }
}

/// Runs `stopping` for at most `grace`; returns whether it finished in time. What did not
/// finish is dropped (connections still open are cut), so the process can exit.
pub async fn within_grace<F: Future<Output = ()>>(grace: Duration, stopping: F) -> bool {
    match tokio::time::timeout(grace, stopping).await {
        Ok(()) => true,
        Err(_) => {
            tracing::warn!(
                grace_secs = grace.as_secs_f64(),
                "shutdown grace period over; cutting what is still running"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sigterm_resolves_the_signal() {
        let waiting = tokio::spawn(signal());
        // Let the task install its handlers before the signal is sent.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let pid = std::process::id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let got = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the signal arrives")
            .unwrap();
        assert_eq!(got, Signal::Terminate);
    }

    #[tokio::test]
    async fn stopping_is_bounded_by_the_grace_period() {
        assert!(within_grace(Duration::from_secs(1), async {}).await);
        let slow = tokio::time::sleep(Duration::from_secs(60));
        assert!(!within_grace(Duration::from_millis(50), slow).await);
    }
}
