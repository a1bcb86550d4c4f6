//! Secrets named in config: read from a file, an environment variable or a systemd credential,
//! never printed.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// Where a secret lives. Exactly one of the keys is given in config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretRef {
    /// A file holding the secret (trailing newline stripped).
    File(PathBuf),
    /// An environment variable holding the secret.
    Env(String),
    /// A systemd credential name, read from `$CREDENTIALS_DIRECTORY/NAME`.
    Credential(String),
}

/// A loaded secret. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret file {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("environment variable {0} is not set")]
    Env(String),
    #[error("systemd credential {0} requested but $CREDENTIALS_DIRECTORY is not set")]
    NoCredentialsDirectory(String),
    #[error("secret from {0} is empty")]
    Empty(String),
}

impl SecretRef {
    pub fn load(&self) -> Result<Secret, SecretError> {
        let (value, origin) = match self {
            SecretRef::File(path) => (read_file(path)?, path.display().to_string()),
            SecretRef::Env(name) => (
                std::env::var(name).map_err(|_| SecretError::Env(name.clone()))?,
                format!("${name}"),
            ),
            SecretRef::Credential(name) => {
                let dir = std::env::var_os("CREDENTIALS_DIRECTORY")
                    .ok_or_else(|| SecretError::NoCredentialsDirectory(name.clone()))?;
                let path = PathBuf::from(dir).join(name);
                (read_file(&path)?, format!("credential {name}"))
            }
        };
        let value = value.trim_end_matches(['\r', '\n']).to_string();
        if value.is_empty() {
            return Err(SecretError::Empty(origin));
        }
        Ok(Secret(value))
    }
}

fn read_file(path: &PathBuf) -> Result<String, SecretError> {
    std::fs::read_to_string(path).map_err(|source| SecretError::File {
        path: path.clone(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_secret_is_trimmed_and_redacted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s");
        std::fs::write(&path, "hunter2\n").expect("write");
        let secret = SecretRef::File(path).load().expect("load");
        assert_eq!(secret.expose(), "hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = SecretRef::File("/nonexistent/lintel.secret".into())
            .load()
            .expect_err("must fail");
        assert!(err.to_string().contains("/nonexistent/lintel.secret"));
    }

    #[test]
    fn empty_secret_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s");
        std::fs::write(&path, "\n").expect("write");
        assert!(matches!(
            SecretRef::File(path).load(),
            Err(SecretError::Empty(_))
        ));
    }
}
