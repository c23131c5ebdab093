//! What the managers of API-made rules and channels share: the file's
//! entries are read-only, and their names are taken.

use oxmon_core::{Error, Result};
use oxmon_http::CONFIG_ID_PREFIX;

/// Refuses a change to `noun` `id` when it is one of the file's
/// (`config:<name>` with a name the file has).
pub(super) fn refuse_file_entry<'a>(
    id: &str,
    noun: &str,
    mut file_names: impl Iterator<Item = &'a str>,
) -> Result<()> {
    match id.strip_prefix(CONFIG_ID_PREFIX) {
        Some(name) if file_names.any(|n| n == name) => Err(Error::Conflict(format!(
            "{noun} `{}` is defined in the configuration file; change it there",
            name.escape_debug()
        ))),
        _ => Ok(()),
    }
}

/// Refuses a `noun` made through the API with a name the file uses.
pub(super) fn refuse_file_name<'a>(
    name: &str,
    noun: &str,
    mut file_names: impl Iterator<Item = &'a str>,
) -> Result<()> {
    if file_names.any(|n| n == name) {
        return Err(Error::Conflict(format!(
            "a {noun} named `{}` is defined in the configuration file",
            name.escape_debug()
        )));
    }
    Ok(())
}
