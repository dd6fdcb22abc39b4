// DEVELOPMENT ONLY (`npm run dev`, then `/?demo`): an in-memory stand-in for the engine, to
// look at the UI without one. main.ts loads it only when `import.meta.env.DEV`, so builds
// never contain it, and the e2e suite never uses it.

import type { Connection, Transport } from './transport';
import type { ClusterEvent, ClusterSnapshot, EventKind, Level, LogLine, ReplicaView, ServiceState, ServiceView, Update } from './types';
import { emptySeries } from './traffic';

const noTraffic = { code: 'invalid-argument', message: 'the demo sends no traffic' };

interface DemoService {
  name: string;
  port: number;
  desired: number;
  replicas: ReplicaView[];
  state: ServiceState;
  restarts: number;
  startedAt: number | null;
  problem: string | null;
  optional: boolean;
}

const NAMES = ['gateway', 'auth', 'users', 'media', 'analytics'];
const MESSAGES: [Level | null, string][] = [
  ['info', 'GET /api/home 200 3.1ms'],
  ['info', 'POST /login 200 41.7ms'],
  ['debug', 'cache hit for key user:42'],
  ['warn', 'slow request: 812ms over budget'],
  ['error', 'upstream refused: connection reset by peer'],
  [null, 'plain text line from a program that does not log JSON'],
];

export function demoTransport(): Transport {
  let eventSeq = 0;
  let nextPid = 4000;
  const logSeq = new Map<string, number>();
  const logs: LogLine[] = [];
  const events: ClusterEvent[] = [];
  const listeners = new Set<(u: Update) => void>();
  const now = () => Date.now();

  const replica = (index: number, port: number): ReplicaView => ({
    index,
    pid: nextPid++,
    port: port + 100 + index,
    state: 'ready',
    restarts: 0,
    started_at: now() - 60_000 * (index + 1),
    last_exit: null,
    last_probe_error: null,
    cpu_percent: Math.random() * 8,
    rss_bytes: 8_000_000 + Math.random() * 30_000_000,
    revision: 1,
  });
  const services: DemoService[] = NAMES.map((name, i) => ({
    name,
    port: 7400 + i,
    desired: 1,
    replicas: [replica(0, 7400 + i)],
    state: 'ready',
    restarts: 0,
    startedAt: now() - 300_000,
    problem: null,
    optional: false,
  }));
  services.push({
    name: 'search',
    port: 7410,
    desired: 1,
    replicas: [],
    state: 'failed',
    restarts: 0,
    startedAt: null,
    problem: 'program `mdk-search` not found',
    optional: true,
  });

  function emit(u: Update) {
    for (const l of listeners) l(u);
  }
  function event(service: string, replica: number | null, kind: EventKind, message: string) {
    const e: ClusterEvent = { seq: ++eventSeq, at: now(), service, replica, kind, message };
    events.push(e);
    emit({ type: 'event', ...e });
  }
  function log(service: string, replicaIndex: number, level: Level | null, text: string): LogLine {
    const s = (logSeq.get(service) ?? 0) + 1;
    logSeq.set(service, s);
    const line: LogLine = { seq: s, at: now(), service, replica: replicaIndex, stream: level === 'error' ? 'stderr' : 'stdout', level, text };
    logs.push(line);
    if (logs.length > 10_000) logs.shift();
    return line;
  }
  function view(s: DemoService): ServiceView {
    const ready = s.replicas.filter((r) => r.state === 'ready').length;
    return {
      name: s.name,
      state: s.state,
      desired: s.desired,
      ready,
      address: `127.0.0.1:${s.port}`,
      port: s.port,
      protocol: 'http',
      restarts: s.restarts,
      next_restart_at: s.state === 'crash-looping' ? now() + 4000 : null,
      problem: s.problem,
      optional: s.optional,
      started_at: s.startedAt,
      cpu_percent: s.replicas.reduce((a, r) => a + r.cpu_percent, 0),
      rss_bytes: s.replicas.reduce((a, r) => a + r.rss_bytes, 0),
      replicas: s.replicas.map((r) => ({ ...r })),
      revision: 1,
      rollout: null,
      deployed: { set: {}, unset: [] },
    };
  }
  function snapshot(): ClusterSnapshot {
    return {
      name: 'sample',
      taken_at: now(),
      services: services.map(view),
      engine: { pid: 3999, cpu_percent: 1.2, rss_bytes: 23_400_000 },
      logs_dir: '/home/demo/.local/state/microdeck/sample/logs',
      run_dir: '/home/demo/.local/state/microdeck/sample',
    };
  }
  function find(name: string): DemoService {
    const s = services.find((x) => x.name === name);
    if (!s) throw { code: 'unknown-service', message: `no service named \`${name}\`` };
    return s;
  }
  function settle(s: DemoService) {
    if (s.desired === 0 || s.replicas.length === 0) s.state = s.problem ? 'failed' : 'stopped';
    else {
      const ready = s.replicas.filter((r) => r.state === 'ready').length;
      s.state = ready === s.desired ? 'ready' : ready === 0 ? 'starting' : 'degraded';
    }
  }
  function later(ms: number, f: () => void) {
    setTimeout(f, ms);
  }
  const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  for (let i = 0; i < 400; i++) {
    const s = services[i % NAMES.length];
    const [level, text] = MESSAGES[Math.floor(Math.random() * MESSAGES.length)];
    log(s.name, 0, level, text);
  }
  for (const s of services.slice(0, NAMES.length)) event(s.name, 0, 'ready', 'replica 0 is ready');
  event('search', null, 'failed', 'program `mdk-search` not found');

  setInterval(() => {
    const lines: LogLine[] = [];
    for (const s of services) {
      for (const r of s.replicas) {
        r.cpu_percent = Math.max(0, r.cpu_percent + (Math.random() - 0.5) * 2);
        if (Math.random() < 0.5) {
          const [level, text] = MESSAGES[Math.floor(Math.random() * MESSAGES.length)];
          lines.push(log(s.name, r.index, level, text));
        }
      }
    }
    emit({ type: 'logs', lines, skipped: 0 });
    emit({ type: 'snapshot', ...snapshot() });
  }, 500);

  return {
    kind: 'demo',
    snapshot: async () => snapshot(),
    events: async () => events.slice(),
    logs: async (q) => logs.filter((l) => !q.service || l.service === q.service).slice(-(q.limit ?? 1000)),
    async startService(name) {
      const s = find(name);
      if (s.problem) throw { code: 'io', message: s.problem };
      await delay(300);
      s.desired = Math.max(1, s.desired);
      s.replicas = Array.from({ length: s.desired }, (_, i) => ({ ...replica(i, s.port), state: 'starting' as const }));
      s.startedAt = now();
      settle(s);
      event(name, null, 'started', 'started');
      later(1200, () => {
        for (const r of s.replicas) r.state = 'ready';
        settle(s);
        event(name, null, 'ready', 'all replicas ready');
      });
    },
    async stopService(name) {
      const s = find(name);
      await delay(600);
      s.replicas = [];
      s.startedAt = null;
      settle(s);
      event(name, null, 'stopped', 'stopped');
    },
    async restartService(name) {
      const s = find(name);
      await delay(900);
      s.replicas = s.replicas.map((r) => ({ ...replica(r.index, s.port), restarts: r.restarts + 1 }));
      s.restarts++;
      event(name, null, 'restarted', 'rolling restart done');
    },
    async setAutoscale(name) {
      throw { code: 'invalid-argument', message: `${name} has no autoscaler in the demo` };
    },
    async setFault(name) {
      throw { code: 'invalid-argument', message: `the demo injects no fault into ${name}` };
    },
    async clearFault() {
      return null;
    },
    async scale(name, replicas) {
      const s = find(name);
      if (replicas < 0 || replicas > 16) throw { code: 'invalid-argument', message: 'replicas must be between 0 and 16' };
      await delay(250);
      s.desired = replicas;
      while (s.replicas.length > replicas) s.replicas.pop();
      while (s.replicas.length < replicas) {
        const r: ReplicaView = { ...replica(s.replicas.length, s.port), state: 'starting', last_probe_error: 'connection refused' };
        s.replicas.push(r);
        later(1500, () => {
          r.state = 'ready';
          r.last_probe_error = null;
          settle(s);
          event(name, r.index, 'ready', `replica ${r.index} is ready`);
        });
      }
      settle(s);
      event(name, null, 'scaled', `scaled to ${replicas}`);
    },
    async killReplica(name, index) {
      const s = find(name);
      const r = s.replicas.find((x) => x.index === index);
      if (!r) throw { code: 'unknown-replica', message: `${name} has no replica ${index}` };
      await delay(150);
      r.state = 'exited';
      r.last_exit = { code: null, signal: 9, at: now() };
      r.pid = null;
      settle(s);
      event(name, index, 'killed', 'exited with signal 9 (SIGKILL)');
      later(800, () => {
        r.pid = nextPid++;
        r.state = 'ready';
        r.restarts++;
        r.started_at = now();
        s.restarts++;
        settle(s);
        event(name, index, 'ready', `replica ${index} is ready`);
      });
    },
    async startAll() {
      await delay(400);
    },
    async stopAll() {
      await delay(400);
      throw { code: 'shutting-down', message: 'the demo refuses to stop everything' };
    },
    async reload() {
      await delay(400);
      throw { code: 'invalid-argument', message: 'the demo has no manifest file to read again' };
    },
    // The demo has no traffic: empty figures, and load or knobs are refused.
    async series(name) {
      return emptySeries(name);
    },
    async topology() {
      return { nodes: [], edges: [] };
    },
    async replicaSpread() {
      return [];
    },
    async loadScenarios() {
      return [];
    },
    async startLoad() {
      throw noTraffic;
    },
    async setLoadRate() {
      throw noTraffic;
    },
    async stopLoad() {
      throw noTraffic;
    },
    async loadReport() {
      return null;
    },
    async setKnobs() {
      throw noTraffic;
    },
    async crash() {
      throw noTraffic;
    },
    async lessons() {
      return [];
    },
    async startLesson() {
      throw noTraffic;
    },
    async advanceLesson() {
      throw noTraffic;
    },
    async stopLesson() {
      throw noTraffic;
    },
    async deploy() {
      throw noTraffic;
    },
    async rolloutHistory() {
      return [];
    },
    async rolloutUndo() {
      throw noTraffic;
    },
    async revisionSeries() {
      return [];
    },
    subscribe(onUpdate, onConnection?: (c: Connection) => void) {
      listeners.add(onUpdate);
      onConnection?.('live');
      onUpdate({ type: 'snapshot', ...snapshot() });
      return () => listeners.delete(onUpdate);
    },
  };
}
