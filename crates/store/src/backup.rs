//! `bouncer backup`: a consistent copy of a SQLite database while the server runs.

use bouncer_core::store::{StoreError, StoreResult};

use crate::{Backend, SqlStore};

impl SqlStore {
    /// `bouncer backup`: writes a consistent copy of a SQLite database to `dest` while the server
    /// runs, through SQLite itself (`VACUUM INTO`, one read transaction: a snapshot that writers do
    /// not block). `dest` must not exist; it is created mode 0600. PostgreSQL has its own tools.
    pub async fn backup(&self, dest: &std::path::Path) -> StoreResult<()> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Backend(
                "backup copies SQLite databases; for PostgreSQL use pg_dump (or your provider's snapshots)".into(),
            ));
        }
        if dest.exists() || dest.is_symlink() {
            return Err(StoreError::Backend(format!(
                "{} already exists; a backup never overwrites",
                dest.display()
            )));
        }
        // Written inside a fresh private directory beside `dest`, then linked into place: nobody
        // else can swap the file SQLite writes, and the link fails if `dest` appeared meanwhile.
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => std::path::PathBuf::from("."),
        };
        let io = |what: &str, e: std::io::Error| StoreError::Backend(format!("{what}: {e}"));
        let tmp = tempfile::Builder::new()
            .prefix(".bouncer-backup-")
            .tempdir_in(&parent)
            .map_err(|e| io(&format!("cannot write in {}", parent.display()), e))?;
        let staged = tmp.path().join("backup.db");
        let Some(staged_str) = staged.to_str() else {
            return Err(StoreError::Backend(format!(
                "{}: the backup path must be valid UTF-8",
                dest.display()
            )));
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(&staged)
            .map_err(|e| io("cannot create the backup file", e))?;
        // SQLite writes into an existing file only when it is empty, which it is.
        sqlx::query("VACUUM INTO $1")
            .bind(staged_str.to_owned())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::Backend(format!("backup failed: {e}")))?;
        std::fs::hard_link(&staged, dest)
            .map_err(|e| io(&format!("cannot create {}", dest.display()), e))?;
        Ok(())
    }
}
