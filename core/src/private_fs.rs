//! Folders and files only this user can read: folders 0700, files 0600, and no folder on
//! the way that another user could have planted in a shared folder such as /tmp.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn uid() -> u32 {
    // SAFETY: getuid(2) has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The folder that stands for `$HOME` when it is unset: `<tmp>/microdeck-<uid>`, checked by
/// [`create_dir`] like any other before use.
pub fn home_fallback() -> PathBuf {
    std::env::temp_dir().join(format!("microdeck-{}", uid()))
}

/// Creates `dir` and its missing parents 0700 and tightens `dir` itself to 0700, refusing a
/// path through a folder or link that another user could have put in a shared folder.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let dir = std::path::absolute(dir)?;
    check_path(&dir)?;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    // Again: a link planted between the check and the creation is caught here.
    check_path(&dir)?;
    let meta = fs::metadata(&dir)?;
    if meta.uid() == uid() && meta.mode() & 0o077 != 0 {
        fs::set_permissions(&dir, Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Every existing entry of `path` that sits in a world-writable folder must be ours (or
/// root's) and, if a folder, writable by no one else unless sticky: else someone else chose
/// where we write.
fn check_path(path: &Path) -> io::Result<()> {
    let mut at = PathBuf::new();
    let mut parent_shared = false;
    for part in path.components() {
        at.push(part);
        let meta = match fs::symlink_metadata(&at) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if parent_shared {
            if meta.uid() != uid() && meta.uid() != 0 {
                return Err(refused(&at, &format!("it belongs to another user (uid {})", meta.uid())));
            }
            // A sticky folder (like /tmp) is shared on purpose: its own entries are checked.
            if meta.is_dir() && meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0 {
                return Err(refused(&at, &format!("other users can write in it (mode {:o})", meta.mode() & 0o7777)));
            }
        }
        // Through a link the folder that matters is the one it leads to.
        parent_shared = fs::metadata(&at).is_ok_and(|m| m.is_dir() && m.mode() & 0o002 != 0);
    }
    Ok(())
}

fn refused(path: &Path, why: &str) -> io::Error {
    let message = format!("{} is in a folder every user can write and {why}; remove it, or set $HOME", path.display());
    io::Error::new(io::ErrorKind::PermissionDenied, message)
}

/// Opens `path` for appending, created 0600; an existing file is tightened to 0600.
pub fn open_append(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    if file.metadata()?.mode() & 0o077 != 0 {
        file.set_permissions(Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Replaces `path` with `contents` atomically (a reader never sees half a file), 0600.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.set_permissions(Permissions::from_mode(0o600))?;
    file.write_all(contents)?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").mode() & 0o7777
    }

    /// A folder like /tmp: every user can write in it, only an entry's owner can remove it.
    fn shared_folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), Permissions::from_mode(0o1777)).expect("chmod");
        dir
    }

    /// Another user's uid, if this test may hand files to one (as root); else `None`.
    fn other_user() -> Option<u32> {
        (uid() == 0).then_some(65534)
    }

    #[test]
    fn created_folders_and_files_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = dir.path().join("a/b/c");
        create_dir(&deep).expect("create");
        for d in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&dir.path().join(d)), 0o700, "{d}");
        }
        let loose = dir.path().join("loose");
        fs::DirBuilder::new().mode(0o755).create(&loose).expect("mkdir");
        fs::set_permissions(&loose, Permissions::from_mode(0o755)).expect("chmod");
        create_dir(&loose).expect("tighten");
        assert_eq!(mode(&loose), 0o700);
        let file = deep.join("events.jsonl");
        fs::write(&file, b"old\n").expect("write");
        fs::set_permissions(&file, Permissions::from_mode(0o644)).expect("chmod");
        writeln!(open_append(&file).expect("append"), "new").expect("write");
        assert_eq!((mode(&file), fs::read_to_string(&file).expect("read")), (0o600, "old\nnew\n".to_string()));
        write_atomic(&deep.join("snapshot.json"), b"{}").expect("write");
        assert_eq!(mode(&deep.join("snapshot.json")), 0o600);
    }

    #[test]
    fn a_folder_in_a_shared_folder_that_others_can_write_is_refused() {
        let shared = shared_folder();
        let planted = shared.path().join("microdeck-1000");
        fs::create_dir(&planted).expect("mkdir");
        fs::set_permissions(&planted, Permissions::from_mode(0o777)).expect("chmod");
        let e = create_dir(&planted.join("state")).expect_err("a world-writable folder is used");
        assert!(e.to_string().contains("other users can write in it (mode 777)"), "{e}");
        assert!(!planted.join("state").exists());
        // Ours and private: used.
        fs::set_permissions(&planted, Permissions::from_mode(0o700)).expect("chmod");
        create_dir(&planted.join("state")).expect("a private folder of ours is used");
    }

    #[test]
    fn a_link_or_folder_another_user_put_in_a_shared_folder_is_refused() {
        let Some(other) = other_user() else {
            eprintln!("skipped: only root can give a file to another user");
            return;
        };
        let shared = shared_folder();
        let elsewhere = tempfile::tempdir().expect("tempdir");
        let link = shared.path().join("microdeck-0");
        symlink(elsewhere.path(), &link).expect("symlink");
        std::os::unix::fs::lchown(&link, Some(other), None).expect("lchown");
        let e = create_dir(&link.join("state")).expect_err("another user's link is followed");
        assert!(e.to_string().contains(&format!("belongs to another user (uid {other})")), "{e}");
        assert!(!elsewhere.path().join("state").exists(), "a folder was made where the link leads");
        let theirs = shared.path().join("microdeck-1");
        fs::create_dir(&theirs).expect("mkdir");
        fs::set_permissions(&theirs, Permissions::from_mode(0o700)).expect("chmod");
        std::os::unix::fs::chown(&theirs, Some(other), None).expect("chown");
        let e = create_dir(&theirs).expect_err("another user's folder is used");
        assert!(e.to_string().contains("belongs to another user"), "{e}");
    }
}
