// Processes the suite starts (Xvfb, drivers, the cluster): each in its own process group so
// that it and its children can be stopped together, all tracked so cleanup never misses one.

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** Every process started and not yet stopped. */
const running = new Set();

/** Polls `probe` until it returns a truthy value or the deadline passes; never a bare sleep. */
export async function waitFor(what, probe, { timeoutMs = 60_000, intervalMs = 200 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${lastError.message ?? lastError})` : '';
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A port free right now on 127.0.0.1 (bound to 0, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/**
 * Starts a program in its own process group; stdout and stderr go to `logFile`, and the
 * caller may also watch stdout through `onStdout`. Returns a handle with `stop()`.
 */
export function start(name, command, args, { env = process.env, cwd, logFile, onStdout, extraFds = 0 } = {}) {
  const stdio = ['ignore', 'pipe', 'pipe'];
  for (let i = 0; i < extraFds; i++) stdio.push('pipe');
  const child = spawn(command, args, { env, cwd, stdio, detached: true });
  const log = logFile ? createWriteStream(logFile, { flags: 'a' }) : null;
  const handle = {
    name,
    child,
    pid: child.pid,
    exited: false,
    exitCode: null,
    output: '',
    stop: () => stop(handle),
  };
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      handle.exited = true;
      handle.exitCode = code ?? signal;
      resolve();
    });
    child.once('error', (e) => {
      handle.exited = true;
      handle.exitCode = `spawn error: ${e.message}`;
      resolve();
    });
  });
  handle.whenExited = exited;
  child.stdout.on('data', (chunk) => {
    const text = chunk.toString();
    handle.output += text;
    log?.write(text);
    onStdout?.(text);
  });
  child.stderr.on('data', (chunk) => {
    handle.output += chunk.toString();
    log?.write(chunk);
  });
  running.add(handle);
  return handle;
}

/** SIGTERM to the group, up to `graceMs` for it to go, then SIGKILL. */
export async function stop(handle, graceMs = 15_000) {
  if (!running.has(handle)) return;
  running.delete(handle);
  const signalGroup = (sig) => {
    try {
      process.kill(-handle.pid, sig);
    } catch {
      // Already gone.
    }
  };
  if (!handle.exited) {
    signalGroup('SIGTERM');
    const timer = new Promise((r) => setTimeout(r, graceMs));
    await Promise.race([handle.whenExited, timer]);
  }
  // The leader may be gone while its group lives on (e.g. the browser a driver started).
  signalGroup('SIGKILL');
}

/** Stops everything still running, newest first (drivers before the display they draw on). */
export async function stopAll() {
  for (const handle of [...running].reverse()) await stop(handle);
}

/** Synchronous last resort when the runner itself is being torn down. */
export function killAllNow() {
  for (const handle of running) {
    try {
      process.kill(-handle.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  running.clear();
}

/** Xvfb on a display it picks itself (`-displayfd`), so parallel runs never collide. */
export async function startXvfb(logFile) {
  let display = '';
  const xvfb = start('Xvfb', 'Xvfb', ['-displayfd', '3', '-screen', '0', '1400x900x24', '-nolisten', 'tcp'], { logFile, extraFds: 1 });
  xvfb.child.stdio[3].on('data', (d) => (display += d.toString()));
  const number = await waitFor('Xvfb to pick a display', () => (/^\d+\n/.test(display) ? display.trim() : xvfb.exited ? Promise.reject(new Error(`Xvfb exited: ${xvfb.output}`)) : null), {
    timeoutMs: 30_000,
  });
  xvfb.display = `:${number}`;
  return xvfb;
}

/**
 * Processes (not zombies) whose environment mentions `marker`: what a run left behind. Throws
 * when a process of ours cannot be read, since it could be one of them ("cannot tell").
 */
export function processesMentioning(marker) {
  const found = [];
  const unreadable = [];
  const ours = statusOf('self');
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const dir = path.join('/proc', entry);
    try {
      // Not startable by this run (another user, or a capability outside our bounding set, which
      // no descendant can gain), and its environ is not ours to read: e.g. init, kernel threads.
      const other = statusOf(entry);
      if (other.uid !== ours.uid || (other.capPrm & ~ours.capBnd) !== 0n) continue;
      const stat = readFileSync(path.join(dir, 'stat'), 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z') continue;
      const environ = readFileSync(path.join(dir, 'environ'), 'utf8');
      if (environ.includes(marker)) {
        const cmd = readFileSync(path.join(dir, 'cmdline'), 'utf8').split('\0').join(' ').trim();
        found.push({ pid: Number(entry), cmd });
      }
    } catch (e) {
      // Gone meanwhile (ENOENT, ESRCH) is no leftover; anything else leaves us unable to tell.
      if (e.code === 'ENOENT' || e.code === 'ESRCH' || !existsSync(dir)) continue;
      unreadable.push(`${entry} (${e.code ?? e.message})`);
    }
  }
  if (unreadable.length) throw new Error(`cannot tell whether these processes are left over, /proc unreadable: ${unreadable.join(', ')}`);
  return found;
}

/** The real uid and capability sets of a process, from its world-readable status file. */
function statusOf(pid) {
  const status = readFileSync(path.join('/proc', String(pid), 'status'), 'utf8');
  const field = (name) => {
    const m = new RegExp(`^${name}:\\s+(\\S+)`, 'm').exec(status);
    if (!m) throw new Error(`no ${name} in /proc/${pid}/status`);
    return m[1];
  };
  return { uid: Number(field('Uid')), capPrm: BigInt(`0x${field('CapPrm')}`), capBnd: BigInt(`0x${field('CapBnd')}`) };
}

/** Finds a program on PATH, or null. */
export function which(program) {
  if (program.includes('/')) return existsSync(program) ? program : null;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = path.join(dir || '.', program);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** The parent pid and command name of `pid`, or null once it is gone. */
function statOf(pid) {
  try {
    const stat = readFileSync(path.join('/proc', String(pid), 'stat'), 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    return { comm: stat.slice(stat.indexOf('(') + 1, close), state: fields[0], ppid: Number(fields[1]) };
  } catch {
    return null;
  }
}

/** Live processes under `root` (not itself), with their command names. */
export function descendants(root) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = statOf(entry);
    if (!s || s.state === 'Z') continue;
    if (!children.has(s.ppid)) children.set(s.ppid, []);
    children.get(s.ppid).push({ pid: Number(entry), comm: s.comm });
  }
  const out = [];
  const queue = [root];
  while (queue.length) {
    for (const child of children.get(queue.shift()) ?? []) {
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}

/** Resident memory of `pid` in MB; throws if it cannot be read (a figure is never made up). */
export function rssMb(pid) {
  const status = readFileSync(path.join('/proc', String(pid), 'status'), 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}
