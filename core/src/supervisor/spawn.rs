//! Launching one replica: program lookup (with clear errors for a missing program or
//! script interpreter), its environment, and the shim that leads its process group.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdout};

use crate::manifest::{placeholders, Run, Service};

/// Why a replica could not be launched.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The program (or its script interpreter) is missing: retrying will not help.
    #[error("{0}")]
    Missing(String),
    #[error("cannot start `{program}`: {source}")]
    Io { program: String, source: std::io::Error },
}

/// Everything one launch needs, already expanded.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub grace: Duration,
}

/// A running replica: the shim child and its pipes.
pub struct Launched {
    pub child: Child,
    /// The shim's pid, which is also the process group id.
    pub pgid: i32,
    /// Our end of the shim's control socket: dropping it makes the shim stop the group.
    pub control: tokio::net::UnixStream,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
}

/// Where and how a service runs, shared by its replicas.
#[derive(Debug, Clone)]
pub struct ServiceEnv {
    pub base_dir: PathBuf,
    pub program_dirs: Vec<PathBuf>,
    pub data_dir: PathBuf,
    /// service name → stable address port, for placeholders.
    pub addresses: std::collections::BTreeMap<String, u16>,
}

fn is_executable(p: &Path) -> bool {
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

fn search(name: &str, dirs: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    dirs.into_iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default()
}

/// Finds a program: a path (relative to the manifest's folder), else in `program_dirs`,
/// then `PATH`, then the manifest's folder.
pub fn resolve_program(name: &str, base_dir: &Path, program_dirs: &[PathBuf]) -> Result<PathBuf, SpawnError> {
    let found = if name.contains('/') {
        let p = base_dir.join(name);
        is_executable(&p).then_some(p)
    } else {
        let dirs = program_dirs.iter().cloned().chain(path_dirs()).chain(std::iter::once(base_dir.to_path_buf()));
        search(name, dirs)
    };
    let Some(path) = found else {
        let mut looked: Vec<String> = program_dirs.iter().map(|d| d.display().to_string()).collect();
        looked.push("PATH".into());
        looked.push(base_dir.display().to_string());
        return Err(SpawnError::Missing(format!("program `{name}` not found in {}", looked.join(", "))));
    };
    check_interpreter(name, &path)?;
    Ok(path)
}

/// A script whose `#!` interpreter is missing would fail with a confusing ENOENT.
fn check_interpreter(name: &str, path: &Path) -> Result<(), SpawnError> {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    let Some(line) = head[..n].strip_prefix(b"#!") else { return Ok(()) };
    let line = String::from_utf8_lossy(line);
    let line = line.lines().next().unwrap_or("");
    let mut words = line.split_whitespace();
    let Some(interp) = words.next() else { return Ok(()) };
    let (needed, found) = if interp.ends_with("/env") {
        match words.find(|w| !w.starts_with('-')) {
            Some(prog) => (prog.to_string(), search(prog, path_dirs()).is_some()),
            None => return Ok(()),
        }
    } else {
        (interp.rsplit('/').next().unwrap_or(interp).to_string(), is_executable(Path::new(interp)))
    };
    if found {
        Ok(())
    } else {
        Err(SpawnError::Missing(format!("`{name}` needs `{needed}`, which is not installed")))
    }
}

/// The launch of replica `index` on `port`: program, expanded args and env.
pub fn launch_spec(service: &Service, senv: &ServiceEnv, index: u32, port: u16) -> Result<LaunchSpec, SpawnError> {
    let ctx = placeholders::Context { addresses: senv.addresses.clone(), self_port: port };
    let (program, args) = match &service.run {
        Run::Command { program, args } => (
            resolve_program(program, &senv.base_dir, &senv.program_dirs)?,
            args.iter().map(|a| placeholders::expand(a, &ctx)).collect(),
        ),
        Run::Shell { line } => {
            (resolve_program("sh", &senv.base_dir, &[])?, vec!["-c".to_string(), placeholders::expand(line, &ctx)])
        }
    };
    let cwd = service.cwd.clone().unwrap_or_else(|| senv.base_dir.clone());
    if !cwd.is_dir() {
        // Else the spawn fails with an ENOENT that seems to be about the program.
        return Err(SpawnError::Missing(format!("working directory {} does not exist", cwd.display())));
    }
    let data = senv.data_dir.join(&service.name);
    crate::private_fs::create_dir(&data).map_err(|source| SpawnError::Io { program: data.display().to_string(), source })?;
    let mut env: Vec<(String, String)> =
        service.env.iter().map(|(k, v)| (k.clone(), placeholders::expand(v, &ctx))).collect();
    env.push(("PORT".into(), port.to_string()));
    env.push(("SERVICE_NAME".into(), service.name.clone()));
    env.push(("REPLICA".into(), index.to_string()));
    env.push(("MICRODECK_DATA_DIR".into(), data.display().to_string()));
    Ok(LaunchSpec {
        program,
        args,
        env,
        cwd,
        grace: service.stop_grace,
    })
}

/// Starts the shim (leader of a new session and process group) running the program.
pub fn launch(shim: &Path, spec: &LaunchSpec) -> Result<Launched, SpawnError> {
    let io = |source| SpawnError::Io { program: spec.program.display().to_string(), source };
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(io)?;
    let mut cmd = tokio::process::Command::new(shim);
    cmd.arg(crate::shim::SHIM_ARG)
        .arg("--grace-ms")
        .arg(spec.grace.as_millis().to_string())
        .arg("--")
        .arg(&spec.program)
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&spec.cwd)
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    // SAFETY: setsid and setrlimit are async-signal-safe. No PDEATHSIG on the shim: it must
    // outlive the engine long enough to stop its group (and PDEATHSIG follows the spawning thread).
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            crate::fd_limit::restore_in_child()
        });
    }
    let mut child = cmd.spawn().map_err(io)?;
    let pgid = child.id().map(|p| p as i32).unwrap_or(0);
    ours.set_nonblocking(true).map_err(io)?;
    let control = tokio::net::UnixStream::from_std(ours).map_err(io)?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(io(std::io::Error::other("no stdout/stderr pipe")));
    };
    Ok(Launched { child, pgid, control, stdout, stderr })
}

/// Reads the program's pid that the shim reports first; `None` if it never does.
pub async fn read_program_pid(control: &mut tokio::net::UnixStream) -> Option<u32> {
    let mut line = String::new();
    let mut reader = BufReader::new(control);
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line)).await;
    match read {
        Ok(Ok(n)) if n > 0 => line.trim().strip_prefix("pid ")?.parse().ok(),
        _ => None,
    }
}

/// Signals a whole process group; a group already gone is not an error.
pub fn signal_group(pgid: i32, sig: Signal) {
    if pgid > 0 {
        let _gone = killpg(Pid::from_raw(pgid), sig);
    }
}

/// A port free right now on 127.0.0.1. Released at once for the replica to bind: another
/// process may take it first, which [`taken_by`] tells after the replica exits.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Who holds `port` on 127.0.0.1 now that the replica given it has exited ("another
/// process" if the OS does not tell); `None` when it is free.
pub async fn taken_by(port: u16) -> Option<String> {
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {}
        _ => return None,
    }
    let holder = tokio::task::spawn_blocking(move || crate::proxy::holder::port_holder(port)).await.ok().flatten();
    Some(holder.unwrap_or_else(|| "another process".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_program_names_where_it_looked() {
        let err = resolve_program("mdk-no-such-program", Path::new("/tmp"), &[PathBuf::from("/opt/x")]);
        let msg = err.map(|_| ()).expect_err("should fail").to_string();
        assert!(msg.starts_with("program `mdk-no-such-program` not found in /opt/x, PATH"), "{msg}");
    }

    #[test]
    fn missing_interpreter_is_named() {
        let dir = std::env::temp_dir().join(format!("mdk-spawn-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("test setup");
        let script = dir.join("mdk-script");
        std::fs::write(&script, "#!/usr/bin/env mdk-python9\nprint(1)\n").expect("test setup");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("test setup");
        let msg = resolve_program("mdk-script", &dir, &[]).map(|_| ()).expect_err("should fail").to_string();
        assert_eq!(msg, "`mdk-script` needs `mdk-python9`, which is not installed");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").expect("test setup");
        assert_eq!(resolve_program("mdk-script", &dir, &[]).expect("test setup"), script);
        std::fs::remove_dir_all(&dir).expect("test setup");
    }
}
