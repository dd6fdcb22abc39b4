//! The service's log file on disk, rotated by size: `<service>.log`, `.log.1` … `.log.<files-1>`
//! ([`RotatingFile`], which keeps `events.jsonl` too).
//!
//! One line per log line: `<RFC 3339 UTC time, ms> <replica> <out|err> <LEVEL|-> <text>`,
//! e.g. `2026-11-26T02:36:29.123Z 0 out INFO listening on 7401`. Split on the first four
//! spaces to read it back; the text is everything after.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::chunk::Chunk;
use crate::snapshot::{level_word, Level, Stream};

const WRITE_BUFFER: usize = 256 * 1024;

/// Appends lines to one service's files and rotates them. Owned by the hub's writer thread:
/// plain blocking `std::fs`, so a line is copied once into the buffer and once to the kernel.
pub struct LogFile {
    file: RotatingFile,
}

impl LogFile {
    /// Opens (appending to) `<dir>/<service>.log`.
    pub fn open(dir: &Path, service: &str, file_bytes: u64, files: usize) -> io::Result<Self> {
        crate::private_fs::create_dir(dir)?;
        Ok(Self { file: RotatingFile::open(log_path(dir, service), file_bytes, files)? })
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Buffers a chunk's lines, rotating before any line that would overflow the current file.
    pub fn write(&mut self, chunk: &Chunk) -> io::Result<()> {
        // The part every line of the chunk shares: time, replica, stream.
        let mut prefix = String::with_capacity(40);
        format_prefix(&mut prefix, chunk.at, chunk.replica, chunk.stream);
        for (text, level) in chunk.lines() {
            let len = (prefix.len() + level_word(level).len() + text.len() + 2) as u64;
            write_line(self.file.room_for(len)?, &prefix, level, text)?;
        }
        Ok(())
    }

    /// Pushes buffered lines to the OS, so readers of the file see them.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A file kept within a size by rotation: `<path>`, `<path>.1` … `<path>.<files-1>`, the
/// oldest dropped; every file 0600. A record is never split across two files.
pub struct RotatingFile {
    path: PathBuf,
    file_bytes: u64,
    files: usize,
    out: Option<BufWriter<File>>,
    /// Bytes in the current file, buffered ones included.
    size: u64,
}

impl RotatingFile {
    /// Opens `path` for appending; its folder must exist.
    pub fn open(path: PathBuf, file_bytes: u64, files: usize) -> io::Result<Self> {
        let mut file = Self { path, file_bytes: file_bytes.max(1), files: files.max(1), out: None, size: 0 };
        file.out = Some(file.open_current()?);
        Ok(file)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where to write a record of `len` bytes: the current file, rotated first if the record
    /// would take it past its size (a record alone in a file may pass it).
    pub fn room_for(&mut self, len: u64) -> io::Result<&mut BufWriter<File>> {
        if self.size > 0 && self.size + len > self.file_bytes {
            self.rotate()?;
        }
        let out = match self.out.take() {
            Some(out) => out,
            None => self.open_current()?,
        };
        self.size += len;
        Ok(self.out.insert(out))
    }

    /// Pushes buffered records to the OS, so readers of the file see them.
    pub fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }

    /// `.{n-2}` → `.{n-1}`, …, the file → `.1`, then a fresh file.
    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut out) = self.out.take() {
            out.flush()?;
            out.get_ref().sync_data().ok();
        }
        if self.files == 1 {
            remove_if_present(&self.path)?;
        } else {
            for n in (1..self.files - 1).rev() {
                rename_if_present(&self.numbered(n), &self.numbered(n + 1))?;
            }
            rename_if_present(&self.path, &self.numbered(1))?;
        }
        self.out = Some(self.open_current()?);
        Ok(())
    }

    /// The file at `path`, appended to; `size` is what it holds already.
    fn open_current(&mut self) -> io::Result<BufWriter<File>> {
        let file = crate::private_fs::open_append(&self.path)?;
        self.size = file.metadata()?.len();
        Ok(BufWriter::with_capacity(WRITE_BUFFER, file))
    }

    fn numbered(&self, n: usize) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }
}

/// `<dir>/<service>.log`, the name made safe for a file name (`a/b` → `a_b.log`).
pub fn log_path(dir: &Path, service: &str) -> PathBuf {
    let stem: String = service
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{stem}.log"))
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// `<time> <replica> <out|err> `: the start every line of a chunk shares.
pub fn format_prefix(out: &mut String, at: u64, replica: u32, stream: Stream) {
    format_time(out, at);
    let stream = match stream {
        Stream::Stdout => "out",
        Stream::Stderr => "err",
    };
    // Writing to a String cannot fail.
    let _ = write!(out, " {replica} {stream} ");
}

/// Writes one line in file form (with its newline) after its chunk's `prefix`.
fn write_line(out: &mut impl Write, prefix: &str, level: Option<Level>, text: &str) -> io::Result<()> {
    out.write_all(prefix.as_bytes())?;
    out.write_all(level_word(level).as_bytes())?;
    out.write_all(b" ")?;
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for epoch milliseconds (UTC).
pub fn format_time(out: &mut String, epoch_ms: u64) {
    let secs = epoch_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        epoch_ms % 1000
    );
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_795_833_389_123, "2026-11-28T02:36:29.123Z"),
            (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
        ];
        for (ms, want) in cases {
            let mut s = String::new();
            format_time(&mut s, ms);
            assert_eq!(s, want, "{ms}");
        }
    }

    #[test]
    fn service_names_cannot_leave_the_log_folder() {
        let dir = Path::new("/run/logs");
        assert_eq!(log_path(dir, "api-2_x"), Path::new("/run/logs/api-2_x.log"));
        assert_eq!(
            log_path(dir, "../etc/passwd"),
            Path::new("/run/logs/___etc_passwd.log")
        );
    }

    #[test]
    fn line_format_is_time_replica_stream_level_text() {
        let mut prefix = String::new();
        format_prefix(&mut prefix, 0, 2, Stream::Stderr);
        let mut s = Vec::new();
        write_line(&mut s, &prefix, Some(Level::Warn), "disk  almost full").expect("write");
        write_line(&mut s, &prefix, None, "").expect("write");
        assert_eq!(String::from_utf8_lossy(&s), "1970-01-01T00:00:00.000Z 2 err WARN disk  almost full\n1970-01-01T00:00:00.000Z 2 err - \n");
    }
}
