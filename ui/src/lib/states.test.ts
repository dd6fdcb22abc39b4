import { describe, expect, it } from 'vitest';
import { clusterTotals, levelTone, offersStart, replicaTone, serviceDetail, serviceHue, serviceTone, stateWord } from './states';
import { REPLICA_STATES, SERVICE_STATES } from './types';
import type { ReplicaView, ServiceView } from './types';

function replica(over: Partial<ReplicaView> = {}): ReplicaView {
  return { index: 0, pid: 100, port: 9000, state: 'ready', restarts: 0, started_at: 0, last_exit: null, last_probe_error: null, cpu_percent: 0, rss_bytes: 0, revision: 1, ...over };
}
function service(over: Partial<ServiceView> = {}): ServiceView {
  return {
    name: 'media', state: 'ready', desired: 1, ready: 1, address: '127.0.0.1:7403', port: 7403, protocol: 'http', restarts: 0,
    next_restart_at: null, problem: null, optional: false, started_at: 0, cpu_percent: 0, rss_bytes: 0, replicas: [replica()],
    revision: 1, deployed: { set: {}, unset: [] }, ...over,
  };
}

describe('state to colour', () => {
  it('maps each service state to its tone', () => {
    expect(serviceTone('ready')).toBe('ok');
    expect(serviceTone('starting')).toBe('progress');
    expect(serviceTone('degraded')).toBe('warn');
    expect(serviceTone('unhealthy')).toBe('bad');
    expect(serviceTone('crash-looping')).toBe('bad');
    expect(serviceTone('failed')).toBe('bad');
    expect(serviceTone('stopped')).toBe('idle');
  });
  it('maps each replica state to its tone', () => {
    expect(replicaTone('ready')).toBe('ok');
    expect(replicaTone('starting')).toBe('progress');
    expect(replicaTone('stopping')).toBe('progress');
    expect(replicaTone('unhealthy')).toBe('bad');
    expect(replicaTone('exited')).toBe('warn');
    expect(replicaTone('stopped')).toBe('idle');
  });
  it('gives every state a tone and a word (colour never alone)', () => {
    for (const s of SERVICE_STATES) {
      expect(serviceTone(s)).toMatch(/^(ok|progress|warn|bad|idle)$/);
      expect(stateWord(s)).toBe(s);
    }
    for (const s of REPLICA_STATES) expect(replicaTone(s)).toMatch(/^(ok|progress|warn|bad|idle)$/);
  });
  it('colours log lines by level, stderr without a level as a warning', () => {
    expect(levelTone('error', 'stdout')).toBe('level-error');
    expect(levelTone('info', 'stderr')).toBe('level-info');
    expect(levelTone(null, 'stderr')).toBe('level-stderr');
    expect(levelTone(null, 'stdout')).toBe('level-none');
  });
});

describe('serviceDetail says why', () => {
  it('counts down to the next try of a crash-looping service', () => {
    expect(serviceDetail(service({ state: 'crash-looping', next_restart_at: 10_000 }), 6_200)).toBe('next try in 4s');
  });
  it('shows the problem of a failed service', () => {
    expect(serviceDetail(service({ state: 'failed', problem: 'program `python3` not found' }), 0)).toBe('program `python3` not found');
  });
  it('names the unhealthy replica and its probe error', () => {
    const s = service({
      state: 'degraded',
      desired: 2,
      replicas: [replica(), replica({ index: 1, state: 'unhealthy', last_probe_error: 'GET /health: 503' })],
    });
    expect(serviceDetail(s, 0)).toBe('replica 1: GET /health: 503');
  });
  it('says nothing for a ready service', () => {
    expect(serviceDetail(service(), 0)).toBe('');
  });
});

describe('cluster totals and controls', () => {
  it('adds services and replicas', () => {
    const t = clusterTotals([service(), service({ name: 'auth', state: 'degraded', desired: 3, ready: 2 }), service({ name: 'x', state: 'stopped', desired: 0, ready: 0 })]);
    expect(t).toEqual({ servicesReady: 1, services: 3, replicasReady: 3, replicasDesired: 4 });
  });
  it('offers start only to a service that is not running', () => {
    expect(offersStart('stopped')).toBe(true);
    expect(offersStart('failed')).toBe(true);
    expect(offersStart('ready')).toBe(false);
    expect(offersStart('crash-looping')).toBe(false);
  });
  it('gives each bundled service its own colour, from its name alone (the same in every session)', () => {
    const names = ['gateway', 'auth', 'users', 'media', 'analytics'];
    const hues = names.map(serviceHue);
    // Pinned: a colour follows the name, not the order or the session, so a user learns it once.
    expect(hues).toEqual([148, 224, 232, 332, 46]);
    expect(new Set(hues).size).toBe(names.length);
    expect([...names].reverse().map(serviceHue)).toEqual([...hues].reverse());
  });
});
