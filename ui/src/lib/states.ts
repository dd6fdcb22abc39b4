// Service and replica states → the word and the colour ("tone") the UI shows; never colour alone.

import { secondsUntil } from './format';
import type { EpochMs, Level, ReplicaState, ReplicaView, ServiceState, ServiceView } from './types';

/** A colour family; each maps to a CSS class `tone-<tone>` with a light and a dark variant. */
export type Tone = 'ok' | 'progress' | 'warn' | 'bad' | 'idle';

const SERVICE_TONES: Record<ServiceState, Tone> = {
  starting: 'progress',
  ready: 'ok',
  degraded: 'warn',
  unhealthy: 'bad',
  'crash-looping': 'bad',
  stopped: 'idle',
  failed: 'bad',
};

const REPLICA_TONES: Record<ReplicaState, Tone> = {
  starting: 'progress',
  ready: 'ok',
  unhealthy: 'bad',
  stopping: 'progress',
  stopped: 'idle',
  exited: 'warn',
};

export function serviceTone(state: ServiceState): Tone {
  return SERVICE_TONES[state] ?? 'warn';
}

export function replicaTone(state: ReplicaState): Tone {
  return REPLICA_TONES[state] ?? 'warn';
}

/** The word shown for a state: the kebab-case name itself, so the UI reads like the API. */
export function stateWord(state: ServiceState | ReplicaState): string {
  return state;
}

/**
 * The line under a service's state word that says why: when the next restart comes, what
 * failed, or which replica fails its probe and with what message. Empty when nothing to say.
 */
export function serviceDetail(s: ServiceView, now: EpochMs): string {
  switch (s.state) {
    case 'crash-looping':
      return s.next_restart_at !== null ? `next try in ${secondsUntil(s.next_restart_at, now)}s` : 'waiting to restart';
    case 'failed':
      return s.problem ?? 'failed';
    case 'unhealthy':
    case 'degraded': {
      const r = s.replicas.find((x) => x.state === 'unhealthy' && x.last_probe_error);
      return r ? `replica ${r.index}: ${r.last_probe_error}` : '';
    }
    default:
      return '';
  }
}

/** Why a replica is not ready, if it says. */
export function replicaDetail(r: ReplicaView): string {
  return r.state === 'unhealthy' || r.state === 'starting' ? (r.last_probe_error ?? '') : '';
}

/** The colour of a log line; stderr lines without a level read as warnings. */
export function levelTone(level: Level | null, stream: 'stdout' | 'stderr'): string {
  if (level) return `level-${level}`;
  return stream === 'stderr' ? 'level-stderr' : 'level-none';
}

/** Cluster totals for the status bar. */
export function clusterTotals(services: ServiceView[]): {
  servicesReady: number;
  services: number;
  replicasReady: number;
  replicasDesired: number;
} {
  let servicesReady = 0;
  let replicasReady = 0;
  let replicasDesired = 0;
  for (const s of services) {
    if (s.state === 'ready') servicesReady++;
    replicasReady += s.ready;
    replicasDesired += s.desired;
  }
  return { servicesReady, services: services.length, replicasReady, replicasDesired };
}

/** Whether the start/stop button of a service should offer "start". */
export function offersStart(state: ServiceState): boolean {
  return state === 'stopped' || state === 'failed';
}

/** A stable hue per service name, so a service's log tag keeps its colour. */
export function serviceHue(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return h % 360;
}
