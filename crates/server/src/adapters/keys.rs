//! Keys kept in configuration, in a file, or generated into the data directory on first
//! start (mode 0600).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use quire_core::ports::Random;
use quire_core::{Error, Result};

use crate::config::Secret;

/// A key: `secret` if configured, else `secret_file`'s contents, else the file `file_name` in
/// `data_dir`, generated (256 random bits as 64 hex digits, mode 0600) if missing. `what`
/// names the key in logs and errors.
pub(crate) fn load_or_create(
    secret: Option<&Secret>,
    secret_file: Option<&Path>,
    data_dir: &Path,
    file_name: &str,
    what: &str,
) -> Result<Vec<u8>> {
    if let Some(secret) = secret {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map(|text| text.trim_end_matches(['\n', '\r']).as_bytes().to_vec())
            .map_err(|error| Error::internal(format!("reading {}: {error}", path.display())))
    };
    if let Some(path) = secret_file {
        return read(path);
    }
    let path = data_dir.join(file_name);
    if path.exists() {
        let mode = std::fs::metadata(&path)
            .map_err(|error| Error::internal(format!("{}: {error}", path.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "a key file is readable by others; tightening to 0600");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|error| Error::internal(format!("{}: {error}", path.display())))?;
        }
        return read(&path);
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|error| Error::internal(format!("creating {}: {error}", data_dir.display())))?;
    let mut bytes = [0u8; 32];
    super::random::random_bytes(&mut bytes).map_err(Error::internal)?;
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Written whole under a temporary name, then linked into place: a process starting at
    // the same time reads either no file or the whole key, and only one key ever wins.
    let temporary = data_dir.join(format!(
        ".{file_name}.{}",
        super::random::OsRandom.token(12)
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(key.as_bytes())
                .and_then(|()| file.sync_all())
        });
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, &path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), key = what, "generated a new key");
            Ok(key.into_bytes())
        }
        // Another process made it first: theirs is the key.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => read(&path),
        Err(error) => Err(Error::internal(format!(
            "creating {}: {error}",
            path.display()
        ))),
    }
}

/// The AES-256 key that seals webhook secrets: 64 hex digits from `key`, `key_file` or the
/// data directory's `webhook-key`.
///
/// # Errors
/// When the key cannot be read or created, or is not 64 hex digits.
pub fn webhook_key(
    key: Option<&Secret>,
    key_file: Option<&Path>,
    data_dir: &Path,
) -> Result<[u8; 32]> {
    let text = load_or_create(
        key,
        key_file,
        data_dir,
        "webhook-key",
        "webhook sealing key",
    )?;
    let invalid = || Error::internal("the webhook key must be 64 hex digits (256 bits)");
    if text.len() != 64 {
        return Err(invalid());
    }
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(text.chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_key_is_generated_once_at_0600_and_must_be_256_bits() {
        let dir = tempfile::tempdir().unwrap();
        let first = webhook_key(None, None, dir.path()).unwrap();
        assert_eq!(webhook_key(None, None, dir.path()).unwrap(), first);
        let mode = std::fs::metadata(dir.path().join("webhook-key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let short = Secret::new("abcd");
        assert!(webhook_key(Some(&short), None, dir.path()).is_err());
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        let given = Secret::new("0f".repeat(32));
        assert_eq!(
            webhook_key(Some(&given), None, dir.path()).unwrap(),
            [0x0f; 32]
        );
    }
}
