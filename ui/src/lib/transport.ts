// The one way the UI reaches the engine: Tauri IPC inside the desktop app, HTTP + SSE in a
// browser (docs/api.md). Both expose the same functions and reject with a `CommandError`.

import { Channel, invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import type { AutoscalerView, ClusterEvent, ClusterSnapshot, CommandError, LogLine, LogQuery, ReloadReport, Update } from './types';
import type { DeployApi } from './deploy';
import type { Fault, FaultView } from './fault';
import type { LessonApi } from './lessons';
import { takePageToken } from './pagetoken';
import { followFeed } from './ssefeed';
import type { TrafficApi } from './traffic';

/** Whether the feed is live; the web feed reconnects by itself, `lost` when the engine refuses it. */
export type Connection = 'connecting' | 'live' | 'lost';

export interface Transport extends TrafficApi, LessonApi, DeployApi {
  readonly kind: 'tauri' | 'http' | 'demo';
  snapshot(): Promise<ClusterSnapshot>;
  /** Newest last. */
  events(): Promise<ClusterEvent[]>;
  /** Oldest first. */
  logs(query: LogQuery): Promise<LogLine[]>;
  startService(name: string): Promise<void>;
  stopService(name: string): Promise<void>;
  restartService(name: string): Promise<void>;
  scale(name: string, replicas: number): Promise<void>;
  /** Switches the service's autoscaler on or off; its state after. */
  setAutoscale(name: string, on: boolean): Promise<AutoscalerView>;
  /** Sets a fault at the service's address in place of any; the fault set. */
  setFault(name: string, fault: Fault): Promise<FaultView>;
  /** Clears the service's fault; the one cleared, or null. */
  clearFault(name: string): Promise<FaultView | null>;
  killReplica(name: string, index: number): Promise<void>;
  startAll(): Promise<void>;
  stopAll(): Promise<void>;
  /** Reads the manifest again from its file and applies it; a file with errors rejects with `invalid-manifest`. */
  reload(): Promise<ReloadReport>;
  /** A snapshot arrives first, then updates as they happen. Returns the unsubscribe function. */
  subscribe(onUpdate: (u: Update) => void, onConnection?: (c: Connection) => void): () => void;
  /** The desktop app only: while it quits, what the shutdown still waits for (its `quitting` event). */
  onQuitting?(onWaiting: (waiting: string) => void): void;
}

/** Turns whatever a shell rejected with into `{ code, message }`. */
export function normaliseError(err: unknown): CommandError {
  if (err && typeof err === 'object') {
    const o = err as Record<string, unknown>;
    if (typeof o.code === 'string' && typeof o.message === 'string') {
      return { code: o.code, message: o.message };
    }
    if (typeof o.message === 'string') return { code: 'error', message: o.message };
  }
  if (typeof err === 'string') {
    // Some errors arrive as JSON text.
    try {
      const parsed: unknown = JSON.parse(err);
      if (parsed && typeof parsed === 'object') return normaliseError(parsed);
    } catch {
      // Plain text: it is the message.
    }
    return { code: 'error', message: err };
  }
  return { code: 'error', message: String(err) };
}

/** The query string of `GET /api/logs`: absent and empty fields are left out. */
export function logQueryString(q: LogQuery): string {
  const params = new URLSearchParams();
  for (const key of ['service', 'replica', 'level', 'text', 'limit'] as const) {
    const v = q[key];
    if (v !== undefined && v !== null && v !== '') params.set(key, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

export function isTauri(w: object = globalThis): boolean {
  return '__TAURI_INTERNALS__' in w;
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw normaliseError(e);
  }
}

export function tauriTransport(): Transport {
  return {
    kind: 'tauri',
    snapshot: () => call('snapshot'),
    events: () => call('events'),
    logs: (query) => call('logs', { query }),
    startService: (name) => call('start_service', { name }),
    stopService: (name) => call('stop_service', { name }),
    restartService: (name) => call('restart_service', { name }),
    scale: (name, replicas) => call<unknown>('scale', { name, replicas }).then(() => undefined),
    setAutoscale: (name, on) => call('set_autoscale', { name, on }),
    setFault: (name, fault) => call('set_fault', { name, fault }),
    clearFault: (name) => call('clear_fault', { name }),
    killReplica: (name, index) => call('kill_replica', { name, index }),
    startAll: () => call('start_all'),
    stopAll: () => call('stop_all'),
    reload: () => call('reload'),
    series: (name, windowS) => call('series', { name, windowS }),
    topology: () => call('topology'),
    replicaSpread: (name, windowS) => call('replica_spread', { name, windowS }),
    loadScenarios: () => call('load_scenarios'),
    startLoad: (scenario, rate, durationS) => call('start_load', { scenario, rate, durationS: durationS ?? null }),
    setLoadRate: (rate) => call('set_load_rate', { rate }),
    stopLoad: () => call('stop_load'),
    loadReport: () => call('load_report'),
    setKnobs: (name, knobs) => call('set_knobs', { name, knobs }),
    crash: (name) => call('crash', { name }),
    lessons: () => call('lessons'),
    startLesson: (name, pace) => call('start_lesson', { request: { name, pace } }),
    advanceLesson: (rest) => call('advance_lesson', { rest }),
    stopLesson: () => call('stop_lesson'),
    deploy: (name, change) => call('deploy', { name, change }),
    rolloutHistory: (name) => call('rollout_history', { name }),
    rolloutUndo: (name, toRevision) => call('rollout_undo', { name, toRevision: toRevision ?? null }),
    revisionSeries: (name, windowS) => call('revision_series', { name, windowS }),
    onQuitting(onWaiting) {
      listen<{ waiting: string }>('quitting', (e) => onWaiting(e.payload.waiting)).catch(() => {
        // Without the event the window title still says it.
      });
    },
    subscribe(onUpdate, onConnection) {
      let active = true;
      // The app sends a flush a message and waits for these acknowledgements (a running
      // total) before it sends more than two ahead: a busy page is sent less, never queued.
      let received = 0;
      const channel = new Channel<Update[]>();
      channel.onmessage = (flush) => {
        if (!active) return;
        onConnection?.('live');
        for (const u of flush) onUpdate(u);
        received++;
        call('feed_ack', { received }).catch(() => {
          // The app is quitting; nothing more will come.
        });
      };
      onConnection?.('connecting');
      // The command may return at once or only when the feed ends: either way it is no error.
      call('subscribe', { onUpdate: channel }).catch(() => {
        if (active) onConnection?.('lost');
      });
      return () => {
        active = false;
        channel.onmessage = () => {};
      };
    },
  };
}

/** The web mode: every call carries the page's token as a bearer header, and never a cookie. */
export function httpTransport(base = '', fetchImpl: typeof fetch = (...a) => fetch(...a), token: string | null = null): Transport {
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  async function request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetchImpl(base + path, {
        method,
        credentials: 'omit',
        headers: body === undefined ? { ...auth, accept: 'application/json' } : { ...auth, accept: 'application/json', 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw { code: 'unreachable', message: `cannot reach the engine: ${normaliseError(e).message}` } satisfies CommandError;
    }
    const text = await res.text();
    if (!res.ok) {
      // A page (e.g. a proxy's HTML error) is no message to show: the status says enough.
      const plain = text && !text.trimStart().startsWith('<') && text.length <= 500 ? text : '';
      let err: CommandError = { code: `http-${res.status}`, message: plain || `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}` };
      try {
        const parsed = normaliseError(JSON.parse(text));
        if (parsed.code !== 'error') err = parsed;
      } catch {
        // Not JSON: keep the status line.
      }
      throw err;
    }
    return (text ? JSON.parse(text) : {}) as T;
  }
  const post = (path: string, body?: unknown) => request<unknown>('POST', path, body).then(() => undefined);
  const svc = (name: string) => `/api/services/${encodeURIComponent(name)}`;

  return {
    kind: 'http',
    snapshot: () => request('GET', '/api/snapshot'),
    events: () => request('GET', '/api/events'),
    logs: (query) => request('GET', `/api/logs${logQueryString(query)}`),
    startService: (name) => post(`${svc(name)}/start`),
    stopService: (name) => post(`${svc(name)}/stop`),
    restartService: (name) => post(`${svc(name)}/restart`),
    scale: (name, replicas) => post(`${svc(name)}/scale`, { replicas }),
    setAutoscale: (name, on) => request('POST', `${svc(name)}/autoscale`, { on }),
    setFault: (name, fault) => request<{ fault: FaultView }>('PUT', `${svc(name)}/fault`, fault).then((a) => a.fault),
    clearFault: (name) => request<{ fault: FaultView | null }>('DELETE', `${svc(name)}/fault`).then((a) => a.fault),
    killReplica: (name, index) => post(`${svc(name)}/replicas/${index}/kill`),
    startAll: () => post('/api/cluster/start-all'),
    stopAll: () => post('/api/cluster/stop-all'),
    reload: () => request('POST', '/api/reload'),
    series: (name, windowS) => request('GET', `${svc(name)}/series?window=${windowS}`),
    topology: () => request('GET', '/api/topology'),
    replicaSpread: (name, windowS) => request('GET', `${svc(name)}/spread?window=${windowS}`),
    loadScenarios: () => request('GET', '/api/load/scenarios'),
    startLoad: (scenario, rate, durationS) => request('POST', '/api/load/start', { scenario, rate, duration: durationS ?? null }),
    setLoadRate: (rate) => request('POST', '/api/load/rate', { rate }),
    stopLoad: () => request('POST', '/api/load/stop'),
    loadReport: () => request('GET', '/api/load'),
    setKnobs: (name, knobs) => request<{ replicas: number }>('POST', `${svc(name)}/knobs`, knobs).then((r) => r.replicas),
    crash: (name) => post(`${svc(name)}/crash`),
    lessons: () => request('GET', '/api/lessons'),
    startLesson: (name, pace) => request('POST', '/api/lessons/start', { name, pace }),
    advanceLesson: (rest) => request('POST', '/api/lessons/advance', { rest }),
    stopLesson: () => request('POST', '/api/lessons/stop'),
    deploy: (name, change) => request('POST', `${svc(name)}/deploy`, { env: change.set, unset: change.unset }),
    rolloutHistory: (name) => request('GET', `${svc(name)}/revisions`),
    rolloutUndo: (name, toRevision) => request('POST', `${svc(name)}/rollout/undo`, { to_revision: toRevision ?? null }),
    revisionSeries: (name, windowS) => request('GET', `${svc(name)}/revision-series?window=${windowS}`),
    subscribe(onUpdate, onConnection) {
      return followFeed({
        url: `${base}/api/subscribe`,
        headers: auth,
        fetchImpl,
        onEvent(type, data) {
          if (type !== 'update' && type !== 'message') return;
          try {
            onUpdate(JSON.parse(data) as Update);
          } catch {
            // A malformed frame is skipped; the next snapshot repairs the view.
          }
        },
        onConnection: (c) => onConnection?.(c),
      });
    },
  };
}

/** The transport for this page: Tauri IPC in the app, HTTP with the address's token otherwise
 * (`token`: the one the entry point took from the address before anything else ran). */
export function detectTransport(token: string | null = takePageToken()): Transport {
  return isTauri() ? tauriTransport() : httpTransport('', undefined, token);
}
