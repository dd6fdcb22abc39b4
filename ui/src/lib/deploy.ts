// Deploys and rollouts (docs/api.md, "Deploys and rollouts"): the calls both transports offer,
// and the pure pieces the service page shows — the Deploy dialog's text read as a change, the
// rollout's progress in words.

import type { DeployOutcome, EnvChange, RevisionSeries, RevisionView, RolloutView } from './types';

export interface DeployApi {
  /** Sets and unsets environment variables and rolls them out as a new revision. */
  deploy(name: string, change: EnvChange): Promise<DeployOutcome>;
  /** Kept revisions, newest first. */
  rolloutHistory(name: string): Promise<RevisionView[]>;
  /** The previous revision's definition (or `toRevision`'s) rolled out as a new revision. */
  rolloutUndo(name: string, toRevision?: number): Promise<DeployOutcome>;
  /** Each revision's requests a second, error % and p95 over the last `windowS` seconds. */
  revisionSeries(name: string, windowS: number): Promise<RevisionSeries[]>;
}

/** One revision's traffic over the last seconds of its series, for old and new side by side. */
export interface RevisionTraffic {
  revision: number;
  rps: number;
  errorPct: number | null;
  p95Ms: number | null;
}

/**
 * Each revision's mean rate, error share and worst p95 over the last `seconds` closed seconds;
 * revisions with no request in them are left out.
 */
export function revisionTraffic(series: RevisionSeries[], seconds = 5): RevisionTraffic[] {
  const out: RevisionTraffic[] = [];
  for (const s of series) {
    const from = Math.max(0, s.t.length - seconds);
    const rps = s.rps.slice(from);
    const requests = rps.reduce((a, r) => a + r, 0);
    if (requests === 0) continue;
    const errors = rps.reduce((a, r, i) => a + (r * (s.error_pct[from + i] ?? 0)) / 100, 0);
    const p95s = s.p95_ms.slice(from).filter((p): p is number => p !== null);
    out.push({ revision: s.revision, rps: requests / rps.length, errorPct: (100 * errors) / requests, p95Ms: p95s.length ? Math.max(...p95s) : null });
  }
  return out;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The Deploy dialog's text: a line each, `KEY=VALUE` sets a variable, `-KEY` (or `unset KEY`)
 * removes one; blank lines and `#` comments are skipped. Either the change or what is wrong.
 */
export function parseChange(text: string): { change: EnvChange } | { error: string } {
  const change: EnvChange = { set: {}, unset: [] };
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const unset = line.startsWith('-') ? line.slice(1).trim() : line.startsWith('unset ') ? line.slice(6).trim() : null;
    if (unset !== null) {
      if (!NAME.test(unset)) return { error: `line ${i + 1}: \`${unset}\` is not a variable name` };
      change.unset.push(unset);
      continue;
    }
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim() : '';
    if (!NAME.test(key)) return { error: `line ${i + 1}: write KEY=VALUE, or -KEY to remove one` };
    change.set[key] = line.slice(eq + 1);
  }
  if (Object.keys(change.set).length === 0 && change.unset.length === 0) return { error: 'nothing to deploy: write KEY=VALUE on a line' };
  return { change };
}

/** "2 of 3 replicas on revision 4". */
export function progressText(updated: number, desired: number, revision: number): string {
  return `${updated} of ${desired} replica${desired === 1 ? '' : 's'} on revision ${revision}`;
}

/** What the rollout bar says, and its share done (0 to 1). */
export function rolloutLine(r: RolloutView): { text: string; done: number } {
  const target = r.state === 'rolling-back' || r.state === 'rolled-back' ? r.from : r.to;
  const progress = progressText(r.updated, r.desired, r.to);
  const text: Record<RolloutView['state'], string> = {
    progressing: `rolling out: ${progress}`,
    complete: `rollout of revision ${r.to} complete: ${progress}`,
    'rolling-back': `rolling back to revision ${target}`,
    'rolled-back': `rolled back to revision ${target}`,
    paused: `paused: ${progress} — undo or deploy again`,
  };
  return { text: text[r.state], done: r.desired === 0 ? 1 : Math.min(1, r.updated / r.desired) };
}
