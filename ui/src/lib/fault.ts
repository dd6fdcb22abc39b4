// Faults at a service's address in the UI: the form read into a fault (with the engine's
// rules, so a mistake is named before it is sent), and the time bands the charts shade.

import type { ClusterEvent, EpochMs } from './types';

/** `Fault` in proxy/fault.rs: what a user asks for. */
export interface Fault {
  delay_ms: number;
  jitter_ms: number;
  delay_percent: number;
  abort_percent: number;
  abort_status: number;
  replica?: number;
  for_ms?: number;
}

/** `FaultView` in cluster/fault.rs: a fault set now. */
export interface FaultView {
  service: string;
  fault: Fault;
  /** "delay 200ms on 100% of requests". */
  summary: string;
  since: EpochMs;
  until?: EpochMs;
}

/** A field as an input gives it: a number input bound in Svelte gives a number, or null when empty. */
export type Field = string | number | null | undefined;

/** The Faults panel's fields, as typed. */
export interface FaultForm {
  delayMs: Field;
  jitterMs: Field;
  abortPercent: Field;
  status: Field;
  /** '' = every replica. */
  replica: Field;
  /** '' = until cleared. */
  forSeconds: Field;
}

const textOf = (v: Field) => (v === null || v === undefined ? '' : String(v)).trim();

export const EMPTY_FORM: FaultForm = { delayMs: '', jitterMs: '', abortPercent: '', status: '503', replica: '', forSeconds: '' };

/** The longest delay with its jitter, as the engine allows. */
export const MAX_DELAY_MS = 600_000;

/** The fault the form describes, or what is wrong with it. */
export function faultFromForm(f: FaultForm): { fault: Fault } | { error: string } {
  const num = (v: Field) => (textOf(v) === '' ? 0 : Number(textOf(v)));
  const delay = num(f.delayMs);
  const jitter = num(f.jitterMs);
  const abort = num(f.abortPercent);
  const status = textOf(f.status) === '' ? 503 : num(f.status);
  const lasting = num(f.forSeconds);
  if (![delay, jitter, abort, status, lasting].every(Number.isFinite)) return { error: 'each field is a number' };
  if (!Number.isInteger(delay) || delay < 0 || !Number.isInteger(jitter) || jitter < 0) return { error: 'a delay and its jitter are whole milliseconds' };
  if (delay + jitter > MAX_DELAY_MS) return { error: 'a delay is at most 10 minutes (with its jitter)' };
  if (jitter > delay) return { error: 'the jitter is at most the delay' };
  if (abort < 0 || abort > 100) return { error: 'a percentage is between 0 and 100' };
  if (!Number.isInteger(status) || status < 400 || status > 599) return { error: 'an abort answers a status from 400 to 599' };
  if (delay === 0 && abort === 0) return { error: 'give a delay or an abort percentage' };
  if (lasting < 0) return { error: 'a duration is more than 0 s' };
  const fault: Fault = { delay_ms: delay, jitter_ms: jitter, delay_percent: 100, abort_percent: abort, abort_status: status };
  if (textOf(f.replica) !== '') fault.replica = Number(textOf(f.replica));
  if (lasting > 0) fault.for_ms = Math.round(lasting * 1000);
  return { fault };
}

/** A stretch of time a fault was set, in unix seconds; `to` is now for one still set. */
export interface Band {
  from: number;
  to: number;
}

/**
 * The bands of `service` within `[from, to]` (unix seconds), from its fault events ("fault on
 * users: …" opens one, "fault on users cleared…" closes it) and the fault set now (`active`),
 * which also covers a start older than the events kept.
 */
export function faultBands(events: ClusterEvent[], active: FaultView | undefined, service: string, from: number, to: number): Band[] {
  const bands: Band[] = [];
  let open: number | null = null;
  const setPrefix = `fault on ${service}: `;
  const clearedPrefix = `fault on ${service} cleared`;
  for (const e of events) {
    if (e.kind !== 'fault' || e.service !== service) continue;
    const t = e.at / 1000;
    if (e.message.startsWith(setPrefix)) {
      // A new fault replaces the one before: the band goes on.
      if (open === null) open = t;
    } else if (e.message.startsWith(clearedPrefix) && open !== null) {
      bands.push({ from: open, to: t });
      open = null;
    }
  }
  if (active) {
    const since = Math.min(active.since / 1000, open ?? Infinity);
    bands.push({ from: since, to });
  } else if (open !== null) {
    // Set, and no clearing seen yet: the snapshot will say.
    bands.push({ from: open, to });
  }
  return bands.filter((b) => b.to >= from && b.from <= to).map((b) => ({ from: Math.max(b.from, from), to: Math.min(b.to, to) }));
}

/** What was injected over a series: aborts summed, the delay as the mean of the seconds that had one. */
export function injectedTotals(aborts: readonly number[] | undefined, delayMs: readonly (number | null)[] | undefined): { aborts: number; delayMs: number | null } {
  const total = (aborts ?? []).reduce((a, b) => a + b, 0);
  const delays = (delayMs ?? []).filter((d): d is number => d !== null);
  return { aborts: total, delayMs: delays.length ? delays.reduce((a, b) => a + b, 0) / delays.length : null };
}
