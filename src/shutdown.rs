//! The stop signal: one [`Trigger`] held by whoever decides to stop (the application, on a
//! signal), and a [`Shutdown`] per task that must stop, cloned freely. A task waits for it in
//! its `select!` beside its own work; a task started after the trigger sees it at once.

use tokio::sync::watch;

/// A new, untriggered signal.
pub(crate) fn channel() -> (Trigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (Trigger(sender), Shutdown(receiver))
}

/// Sets the signal off, once, for every [`Shutdown`] of the channel.
#[derive(Debug)]
pub(crate) struct Trigger(watch::Sender<bool>);

impl Trigger {
    pub(crate) fn trigger(&self) {
        self.0.send_replace(true);
    }
}

/// A task's view of the signal.
#[derive(Debug, Clone)]
pub(crate) struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Whether the signal has been given.
    #[cfg(test)]
    pub(crate) fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Returns once the signal has been given (at once if it already was). Should the trigger
    /// be dropped without being used, this is never ready: dropping it does not stop anything.
    pub(crate) async fn wait(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_trigger_even_one_made_after_it() {
        let (trigger, mut first) = channel();
        assert!(!first.is_triggered());
        let mut second = first.clone();
        trigger.trigger();
        first.wait().await;
        second.wait().await;
        let mut late = first.clone();
        late.wait().await;
        assert!(late.is_triggered());
    }
}
