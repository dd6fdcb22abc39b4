//! The users database: `users.db` (SQLite, WAL) in the service's own data folder.
//! Each call opens its own connection, so replicas and threads share the file safely.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("users data folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("users database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("a profile named `{0}` exists")]
    Exists(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub display_name: String,
    pub email: String,
    pub bio: String,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// The editable fields; absent ones keep their value (or default to empty on create).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFields {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub bio: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Db {
    path: PathBuf,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn profile(r: &Row<'_>) -> rusqlite::Result<Profile> {
    Ok(Profile {
        name: r.get(0)?,
        display_name: r.get(1)?,
        email: r.get(2)?,
        bio: r.get(3)?,
        created_ms: r.get(4)?,
        updated_ms: r.get(5)?,
    })
}

const COLUMNS: &str = "name, display_name, email, bio, created_ms, updated_ms";

impl Db {
    /// Opens (creating on first start) the database and seeds the `demo` profile.
    pub fn open(data_dir: &Path) -> Result<Db, DbError> {
        std::fs::create_dir_all(data_dir)?;
        let db = Db { path: data_dir.join("users.db") };
        let conn = db.conn()?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS profiles (
                name TEXT PRIMARY KEY,
                display_name TEXT NOT NULL,
                email TEXT NOT NULL,
                bio TEXT NOT NULL,
                created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL
            )",
        )?;
        let t = now_ms();
        conn.execute(
            "INSERT OR IGNORE INTO profiles VALUES ('demo', 'Demo User', 'demo@example.test', ?1, ?2, ?2)",
            params!["The seeded user of the sample cluster (password: demo).", t],
        )?;
        Ok(db)
    }

    fn conn(&self) -> Result<Connection, DbError> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(conn)
    }

    pub fn create(&self, name: &str, f: ProfileFields) -> Result<Profile, DbError> {
        let t = now_ms();
        let p = Profile {
            name: name.into(),
            display_name: f.display_name.unwrap_or_else(|| name.into()),
            email: f.email.unwrap_or_default(),
            bio: f.bio.unwrap_or_default(),
            created_ms: t,
            updated_ms: t,
        };
        let n = self.conn()?.execute(
            "INSERT OR IGNORE INTO profiles VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![p.name, p.display_name, p.email, p.bio, p.created_ms, p.updated_ms],
        )?;
        if n == 0 {
            return Err(DbError::Exists(name.into()));
        }
        Ok(p)
    }

    pub fn get(&self, name: &str) -> Result<Option<Profile>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM profiles WHERE name = ?1");
        Ok(self.conn()?.query_row(&sql, params![name], profile).optional()?)
    }

    /// Applies the given fields; `None` when there is no such profile.
    pub fn update(&self, name: &str, f: ProfileFields) -> Result<Option<Profile>, DbError> {
        let n = self.conn()?.execute(
            "UPDATE profiles SET display_name = COALESCE(?2, display_name), email = COALESCE(?3, email),
             bio = COALESCE(?4, bio), updated_ms = ?5 WHERE name = ?1",
            params![name, f.display_name, f.email, f.bio, now_ms()],
        )?;
        if n == 0 {
            return Ok(None);
        }
        self.get(name)
    }

    /// Removes a profile; false when there was none.
    pub fn delete(&self, name: &str) -> Result<bool, DbError> {
        Ok(self.conn()?.execute("DELETE FROM profiles WHERE name = ?1", params![name])? > 0)
    }

    /// Up to `limit` profiles, by name.
    pub fn list(&self, limit: u32) -> Result<Vec<Profile>, DbError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM profiles ORDER BY name LIMIT ?1"))?;
        let rows = stmt.query_map(params![limit], profile)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
