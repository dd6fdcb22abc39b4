//! Auth's files, shared by all its replicas: the signing secret (created once, atomically)
//! and the credential store (SQLite, whose UNIQUE key settles a race between replicas).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pbkdf2::pbkdf2_hmac;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::Sha256;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("auth data folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("credential store: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("the signing secret in {0} is unreadable")]
    BadSecret(PathBuf),
    #[error("username taken")]
    Taken,
}

/// The signing secret in `dir/secret`, created on first use. Replicas starting at once
/// agree: each writes a private temp file and hard-links it into place, which fails if
/// another got there first (a rename would overwrite).
pub fn load_or_create_secret(dir: &Path) -> Result<Vec<u8>, StoreError> {
    let path = dir.join("secret");
    if !path.exists() {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let tmp = dir.join(format!("secret.tmp-{}-{}", std::process::id(), rand::random::<u64>()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(hex(&bytes).as_bytes())?;
        f.sync_all()?;
        let linked = std::fs::hard_link(&tmp, &path);
        std::fs::remove_file(&tmp)?;
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    let text = std::fs::read_to_string(&path)?;
    let secret = unhex(text.trim()).ok_or_else(|| StoreError::BadSecret(path.clone()))?;
    if secret.len() < 32 {
        return Err(StoreError::BadSecret(path));
    }
    Ok(secret)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let pair = |p: &[u8]| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok().filter(|_| p.len() == 2);
    s.as_bytes().chunks(2).map(pair).collect()
}

/// The credential database, `dir/credentials.db`.
#[derive(Debug, Clone)]
pub struct Credentials {
    path: PathBuf,
}

impl Credentials {
    pub fn open(dir: &Path) -> Result<Credentials, StoreError> {
        let c = Credentials { path: dir.join("credentials.db") };
        let conn = c.conn()?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS credentials (
                username TEXT PRIMARY KEY,
                salt BLOB NOT NULL,
                iterations INTEGER NOT NULL,
                hash BLOB NOT NULL
            )",
        )?;
        Ok(c)
    }

    fn conn(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(conn)
    }

    /// Hashes `password` (the costly part) and stores it; `Taken` if the name exists.
    pub fn add(&self, username: &str, password: &str, iterations: u32) -> Result<(), StoreError> {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let hash = hash_password(password, &salt, iterations);
        let n = self.conn()?.execute(
            "INSERT OR IGNORE INTO credentials (username, salt, iterations, hash) VALUES (?1, ?2, ?3, ?4)",
            params![username, salt.as_slice(), iterations, hash.as_slice()],
        )?;
        if n == 0 {
            return Err(StoreError::Taken);
        }
        Ok(())
    }

    /// Whether `password` is `username`'s, hashed with the cost it was stored with.
    pub fn check(&self, username: &str, password: &str) -> Result<bool, StoreError> {
        let row: Option<(Vec<u8>, u32, Vec<u8>)> = self
            .conn()?
            .query_row(
                "SELECT salt, iterations, hash FROM credentials WHERE username = ?1",
                params![username],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(match row {
            Some((salt, iterations, stored)) => constant_time_eq(&hash_password(password, &salt, iterations), &stored),
            None => false,
        })
    }
}

/// PBKDF2-HMAC-SHA256; `iterations` is the CPU cost a demo turns up or down.
pub fn hash_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations.max(1), &mut out);
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn replicas_starting_at_once_agree_on_one_secret() {
        let tmp = tempdir();
        let dir = tmp.path().to_path_buf();
        let handles: Vec<_> = (0..8).map(|_| {
            let d = dir.clone();
            std::thread::spawn(move || load_or_create_secret(&d).unwrap())
        }).collect();
        let secrets: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(secrets.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(secrets[0].len(), 32);
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "temp files left behind");
    }

    /// A data folder removed when the test ends.
    pub fn tempdir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }
}
