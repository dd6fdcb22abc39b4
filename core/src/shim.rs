//! The replica shim: `microdeck __shim --grace-ms N -- program args…`, the running
//! binary re-executed in a hidden mode, one per replica.
//!
//! The engine starts it as the leader of a new session and process group. It runs the
//! program as its child (with `PR_SET_PDEATHSIG(SIGKILL)`, which is exact here: the shim
//! is one thread), tells the engine the program's pid over its stdin socket, and waits.
//! The engine holds the only other end of that socket, so EOF means the engine is gone,
//! however it died: the shim then sends SIGTERM to its whole group, waits the grace
//! period, and SIGKILLs the group (itself included) — grandchildren under `sh -c` too.
//! It exits with the program's status (re-raising a fatal signal), so the engine sees
//! the program's own exit. The program gets one SIGTERM per stop: the shim passes on only
//! a signal sent to it alone, never one the engine or the shim sent to the whole group.

use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::Pid;

/// The hidden first argument that selects shim mode.
pub const SHIM_ARG: &str = "__shim";

static CHILD: AtomicI32 = AtomicI32::new(0);
static CHILD_DONE: AtomicBool = AtomicBool::new(false);

/// Runs the shim if the process was started as one; `main` calls this first.
pub fn run_if_shim() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some(SHIM_ARG) {
        return None;
    }
    Some(run(&args[2..]))
}

/// Passes a signal meant for the shim alone on to the program. The engine (the shim's
/// parent) and the shim itself signal the whole group, so the program has its own copy of
/// theirs: a second one would be a second TERM to a program that may take it as "exit now".
extern "C" fn forward(sig: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo; getpid(2), getppid(2) and
    // kill(2) are async-signal-safe.
    unsafe {
        let sender = if info.is_null() { 0 } else { (*info).si_pid() };
        if sender == libc::getpid() || sender == libc::getppid() {
            return;
        }
        let child = CHILD.load(Ordering::SeqCst);
        if child > 0 {
            libc::kill(child, sig);
        }
    }
}

fn run(args: &[String]) -> ExitCode {
    let mut grace = Duration::from_secs(5);
    let mut rest = args;
    while let Some(first) = rest.first() {
        match first.as_str() {
            "--grace-ms" => {
                grace = rest.get(1).and_then(|v| v.parse().ok()).map(Duration::from_millis).unwrap_or(grace);
                rest = rest.get(2..).unwrap_or(&[]);
            }
            "--" => {
                rest = &rest[1..];
                break;
            }
            _ => break,
        }
    }
    let Some((program, prog_args)) = rest.split_first() else {
        eprintln!("microdeck shim: no program given");
        return ExitCode::from(2);
    };

    // A handler (not SIG_IGN, which the program would inherit) so a group-wide SIGTERM
    // leaves the shim alive to report the program's exit; a SIGTERM to the shim alone is passed on.
    let action = SigAction::new(SigHandler::SigAction(forward), SaFlags::SA_SIGINFO | SaFlags::SA_RESTART, SigSet::empty());
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler only calls async-signal-safe functions.
        let _ignored = unsafe { signal::sigaction(sig, &action) };
    }

    let mut cmd = Command::new(program);
    cmd.args(prog_args).stdin(Stdio::null());
    // SAFETY: prctl is async-signal-safe; the shim has one thread spawning, so the
    // death signal fires exactly when the shim dies.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("microdeck: cannot run `{program}`: {e}");
            return ExitCode::from(127);
        }
    };
    CHILD.store(child.id() as i32, Ordering::SeqCst);

    // SAFETY: fd 0 is the engine's socket (or whatever stdin is when run by hand); we own it from here.
    let mut control = unsafe { UnixStream::from_raw_fd(0) };
    if writeln!(control, "pid {}", child.id()).is_ok() {
        std::thread::spawn(move || watch_engine(control, grace));
    }

    let status = match child.wait() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("microdeck shim: wait failed: {e}");
            return ExitCode::from(1);
        }
    };
    CHILD_DONE.store(true, Ordering::SeqCst);
    if let Some(code) = status.code() {
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    if let Some(sig) = status.signal() {
        if let Ok(s) = Signal::try_from(sig) {
            // SAFETY: restoring the default disposition, then dying of the same signal.
            unsafe {
                let _ignored = signal::signal(s, SigHandler::SigDfl);
            }
            let _ignored = signal::raise(s);
        }
        return ExitCode::from((128 + sig).clamp(0, 255) as u8);
    }
    ExitCode::from(1)
}

/// Blocks until the engine's end of the socket closes, then stops the whole group.
fn watch_engine(mut control: UnixStream, grace: Duration) {
    let mut buf = [0u8; 64];
    loop {
        match control.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => continue,
        }
    }
    let group = Pid::from_raw(0);
    let _ignored = signal::kill(group, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && !CHILD_DONE.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Grandchildren may outlive the program; the group goes, the shim with it.
    let _ignored = signal::kill(group, Signal::SIGKILL);
}
