// Formatting of bytes, percentages, durations, times and exits for display.

import type { EpochMs, ExitInfo } from './types';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB"; three significant digits at most, binary units. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return '—';
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${v} B`;
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${UNITS[u]}`;
}

/** 12345 → "12,345": digits grouped by threes, whatever the page's locale. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '—';
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** What the feed left out for this page, and where it still is. */
export function formatSkipped(lines: number): string {
  return `${formatCount(lines)} ${lines === 1 ? 'line' : 'lines'} skipped — all are in the log file`;
}

/** CPU share of one core: 0.04 → "0.0%", 12.345 → "12.3%", 250 → "250%". */
export function formatPercent(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return '—';
  const clamped = Math.max(0, p);
  return `${clamped >= 100 ? clamped.toFixed(0) : clamped.toFixed(1)}%`;
}

/** Requests a second: 0.24 → "0.2", 48.4 → "48", 0 → "0", "—" without a figure. */
export function formatRate(rps: number | null | undefined): string {
  if (rps === null || rps === undefined || !Number.isFinite(rps)) return '—';
  const r = Math.max(0, rps);
  return r < 10 && r !== 0 ? r.toFixed(1) : r.toFixed(0);
}

/** A latency: 0.84 → "0.8 ms", 12.6 → "13 ms", 1840 → "1.84 s", "—" without a figure. */
export function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const t = Math.max(0, ms);
  if (t < 10) return `${t.toFixed(1)} ms`;
  if (t < 1000) return `${t.toFixed(0)} ms`;
  return `${(t / 1000).toFixed(2)} s`;
}

/** 950 → "950ms", 65_000 → "1m 05s", 3_700_000 → "1h 01m", 90_000_000 → "1d 01h". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const t = Math.max(0, Math.round(ms));
  if (t < 1000) return `${t}ms`;
  const s = Math.floor(t / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${pad2(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${pad2(m % 60)}m`;
  const d = Math.floor(h / 24);
  return `${d}d ${pad2(h % 24)}h`;
}

/** How long since `since`, or "—" when there is no start (stopped). */
export function formatUptime(since: EpochMs | null | undefined, now: EpochMs): string {
  if (since === null || since === undefined) return '—';
  return formatDuration(Math.max(0, now - since));
}

/** Whole seconds until `at`, never negative: the "next try in Ns" of a crash-looping service. */
export function secondsUntil(at: EpochMs, now: EpochMs): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** Local wall-clock time with milliseconds: "14:03:07.042". */
export function formatClock(at: EpochMs): string {
  const d = new Date(at);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  3: 'SIGQUIT',
  6: 'SIGABRT',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  13: 'SIGPIPE',
  15: 'SIGTERM',
};

/** "code 0", "code 1", "signal 9 (SIGKILL)", or "—" when the replica never exited. */
export function formatExit(exit: ExitInfo | null | undefined): string {
  if (!exit) return '—';
  if (exit.signal !== null && exit.signal !== undefined) {
    const name = SIGNALS[exit.signal];
    return name ? `signal ${exit.signal} (${name})` : `signal ${exit.signal}`;
  }
  if (exit.code !== null && exit.code !== undefined) return `code ${exit.code}`;
  return 'exited';
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}
