//! The recurring silence windows of a running server: the configuration
//! file's, read-only, and those made through the REST API, kept in the
//! management store and switched into the running notifier
//! (`oxmon_http::WindowAdmin`).

use std::sync::Arc;

use oxmon_core::config::{ConfigError, SilenceWindow, parse_silence_window};
use oxmon_core::manage::{DefinitionKind, ManagementStore, StoredDefinition};
use oxmon_core::toml;
use oxmon_core::{Clock, Error, Result};
use oxmon_http::{CONFIG_ID_PREFIX, DefinitionSource, ManagedWindow};
use oxmon_notify::Notifier;
use tokio::sync::Mutex;

const WINDOW: DefinitionKind = DefinitionKind::SilenceWindow;

/// A stored window as its configuration; errors point at the management
/// database and the window's id.
fn parse_stored(stored: &StoredDefinition) -> std::result::Result<SilenceWindow, ConfigError> {
    parse_silence_window(
        stored.definition.clone(),
        &format!("cert.db silence window {}", stored.id),
    )
}

/// The windows of the file, then the stored ones.
///
/// # Errors
/// The first stored window that fails, naming it.
pub(super) fn combine(
    file: &[SilenceWindow],
    stored: &[StoredDefinition],
) -> std::result::Result<Vec<SilenceWindow>, ConfigError> {
    let mut windows = file.to_vec();
    for s in stored {
        windows.push(parse_stored(s)?);
    }
    Ok(windows)
}

/// The server's [`oxmon_http::WindowAdmin`].
#[derive(Debug)]
pub(super) struct WindowManager {
    file: Vec<SilenceWindow>,
    store: Arc<dyn ManagementStore>,
    notifier: Notifier,
    clock: Arc<dyn Clock>,
    /// One change at a time, from validation to the notifier.
    changes: Mutex<()>,
}

impl WindowManager {
    pub(super) fn new(
        file: Vec<SilenceWindow>,
        store: Arc<dyn ManagementStore>,
        notifier: Notifier,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            file,
            store,
            notifier,
            clock,
            changes: Mutex::new(()),
        }
    }

    /// Switches the notifier to the file's windows and the stored ones.
    ///
    /// # Errors
    /// A stored window that no longer validates.
    pub(super) async fn apply(&self) -> Result<()> {
        let stored = self.store.list_definitions(WINDOW).await?;
        let windows = combine(&self.file, &stored).map_err(Error::Config)?;
        self.notifier.set_silence_windows(windows);
        Ok(())
    }

    fn api_window(stored: &StoredDefinition, window: SilenceWindow) -> ManagedWindow {
        ManagedWindow {
            id: stored.id.clone(),
            source: DefinitionSource::Api,
            window,
            created_at_ms: Some(stored.created_at_ms),
        }
    }
}

#[async_trait::async_trait]
impl oxmon_http::WindowAdmin for WindowManager {
    async fn windows(&self) -> Result<Vec<ManagedWindow>> {
        let mut out = ManagedWindow::from_file(&self.file);
        for s in self.store.list_definitions(WINDOW).await? {
            let window = parse_stored(&s).map_err(Error::Config)?;
            out.push(Self::api_window(&s, window));
        }
        Ok(out)
    }

    async fn create(&self, definition: toml::Table) -> Result<ManagedWindow> {
        let _one = self.changes.lock().await;
        let window =
            parse_silence_window(definition.clone(), "request body").map_err(Error::Config)?;
        if self.file.contains(&window) {
            return Err(Error::Conflict(format!(
                "the configuration file has the window {} already",
                window.describe()
            )));
        }
        let stored = self
            .store
            .create_definition(WINDOW, &window.describe(), &definition, self.clock.now_ms())
            .await?;
        self.apply().await?;
        Ok(Self::api_window(&stored, window))
    }

    async fn delete(&self, id: &str) -> Result<()> {
        let _one = self.changes.lock().await;
        if id.starts_with(CONFIG_ID_PREFIX) {
            return Err(Error::Conflict(format!(
                "window `{}` is defined in the configuration file; change it there",
                id.escape_debug()
            )));
        }
        self.store.delete_definition(WINDOW, id).await?;
        self.apply().await
    }
}
