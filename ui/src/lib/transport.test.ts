import { describe, expect, it, vi } from 'vitest';
import { httpTransport, isTauri, logQueryString, normaliseError, tauriTransport } from './transport';
import type { Update } from './types';

const ipc = vi.hoisted(() => ({
  calls: [] as { cmd: string; args: unknown }[],
  channels: [] as { onmessage: (m: unknown) => void }[],
}));
vi.mock('@tauri-apps/api/core', () => ({
  Channel: class {
    onmessage: (m: unknown) => void = () => {};
    constructor() {
      ipc.channels.push(this);
    }
  },
  invoke: async (cmd: string, args: unknown) => {
    ipc.calls.push({ cmd, args });
    return null;
  },
}));

describe('tauriTransport.subscribe', () => {
  it('applies each flush in order and acknowledges it with the running total', async () => {
    ipc.calls.length = 0;
    const got: Update[] = [];
    const states: string[] = [];
    const stop = tauriTransport().subscribe((u) => got.push(u), (c) => states.push(c));
    const channel = ipc.channels[ipc.channels.length - 1];
    channel.onmessage([{ type: 'logs', lines: [], skipped: 1 }, { type: 'logs', lines: [], skipped: 2 }]);
    channel.onmessage([{ type: 'logs', lines: [], skipped: 3 }]);
    await Promise.resolve();
    expect(got.map((u) => (u.type === 'logs' ? u.skipped : -1))).toEqual([1, 2, 3]);
    expect(ipc.calls.map((c) => c.cmd)).toEqual(['subscribe', 'feed_ack', 'feed_ack']);
    expect(ipc.calls.slice(1).map((c) => c.args)).toEqual([{ received: 1 }, { received: 2 }]);
    expect(states).toEqual(['connecting', 'live', 'live']);
    stop();
    channel.onmessage([{ type: 'logs', lines: [], skipped: 4 }]);
    expect(got).toHaveLength(3);
  });
});

describe('normaliseError', () => {
  it('keeps a shell error as it is', () => {
    expect(normaliseError({ code: 'unknown-service', message: 'no service named `x`' })).toEqual({ code: 'unknown-service', message: 'no service named `x`' });
  });
  it('turns strings, JSON strings and Errors into { code, message }', () => {
    expect(normaliseError('boom')).toEqual({ code: 'error', message: 'boom' });
    expect(normaliseError('{"code":"io","message":"disk full"}')).toEqual({ code: 'io', message: 'disk full' });
    expect(normaliseError(new TypeError('Failed to fetch'))).toEqual({ code: 'error', message: 'Failed to fetch' });
    expect(normaliseError(42)).toEqual({ code: 'error', message: '42' });
  });
});

describe('logQueryString', () => {
  it('leaves out absent and empty fields', () => {
    expect(logQueryString({})).toBe('');
    expect(logQueryString({ service: 'media', replica: 0, level: 'warn', text: '', limit: null })).toBe('?service=media&replica=0&level=warn');
    expect(logQueryString({ text: 'a b&c' })).toBe('?text=a+b%26c');
  });
});

describe('isTauri', () => {
  it('looks for the Tauri internals', () => {
    expect(isTauri({})).toBe(false);
    expect(isTauri({ __TAURI_INTERNALS__: {} })).toBe(true);
  });
});

type Call = { url: string; init: RequestInit };
function fakeFetch(status: number, body: string, calls: Call[]): typeof fetch {
  return (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    return new Response(body, { status });
  }) as typeof fetch;
}

describe('httpTransport', () => {
  it('posts commands to the routes of docs/api.md with the bearer token, never a cookie', async () => {
    const calls: Call[] = [];
    const t = httpTransport('', fakeFetch(200, '{}', calls), 'f00d');
    await t.scale('media', 3);
    await t.killReplica('media', 1);
    await t.restartService('auth');
    await t.startAll();
    expect(calls.map((c) => `${c.init.method} ${c.url}`)).toEqual([
      'POST /api/services/media/scale',
      'POST /api/services/media/replicas/1/kill',
      'POST /api/services/auth/restart',
      'POST /api/cluster/start-all',
    ]);
    expect(calls[0].init.body).toBe('{"replicas":3}');
    expect(calls.every((c) => c.init.credentials === 'omit')).toBe(true);
    expect(calls.map((c) => (c.init.headers as Record<string, string>).authorization)).toEqual(Array(4).fill('Bearer f00d'));
  });
  it('sends no authorization header when the page has no token', async () => {
    const calls: Call[] = [];
    await httpTransport('', fakeFetch(200, '{}', calls), null).snapshot();
    expect(calls[0].init.headers).toEqual({ accept: 'application/json' });
  });
  it('rejects as unauthorized when the engine refuses the token', async () => {
    const refused = '{"code":"unauthorized","message":"a token is required"}';
    await expect(httpTransport('', fakeFetch(401, refused, []), 'wrong').snapshot()).rejects.toMatchObject({ code: 'unauthorized' });
  });
  it('reloads the manifest and returns what changed, or its errors', async () => {
    const calls: Call[] = [];
    const report = { changed: ['users'], added: [], removed: ['old'], unchanged: ['auth'] };
    expect(await httpTransport('', fakeFetch(200, JSON.stringify(report), calls)).reload()).toEqual(report);
    expect(calls.map((c) => `${c.init.method} ${c.url}`)).toEqual(['POST /api/reload']);
    const bad = { code: 'invalid-manifest', message: 'cluster.toml has 1 error(s):\n  cluster.toml:3:1: services.x: unknown key' };
    await expect(httpTransport('', fakeFetch(422, JSON.stringify(bad), [])).reload()).rejects.toEqual(bad);
  });
  it('rejects with the engine error body', async () => {
    const t = httpTransport('', fakeFetch(404, '{"code":"unknown-service","message":"no service named `nope`"}', []));
    await expect(t.stopService('nope')).rejects.toEqual({ code: 'unknown-service', message: 'no service named `nope`' });
  });
  it('rejects with the status when the body is not an error', async () => {
    const t = httpTransport('', fakeFetch(403, 'forbidden', []));
    await expect(t.snapshot()).rejects.toEqual({ code: 'http-403', message: 'forbidden' });
  });
  it('does not show an HTML error page as the message', async () => {
    const t = httpTransport('', fakeFetch(404, '<!DOCTYPE html><title>Not found</title>', []));
    await expect(t.snapshot()).rejects.toEqual({ code: 'http-404', message: 'HTTP 404' });
  });
  it('says when the engine cannot be reached', async () => {
    const failing = (async () => {
      throw new TypeError('Failed to fetch');
    }) as typeof fetch;
    await expect(httpTransport('', failing).events()).rejects.toMatchObject({ code: 'unreachable' });
  });
  it('reads `update` events of the live feed with the bearer token and stops on unsubscribe', async () => {
    const requests: Call[] = [];
    const feed = 'event: update\ndata: {"type":"logs","lines":[],"skipped":3}\n\nevent: update\ndata: not json\n\nevent: other\ndata: {}\n\n';
    const fetchImpl = (async (url: string | URL | Request, init?: RequestInit) => {
      requests.push({ url: String(url), init: init ?? {} });
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode(feed));
          init?.signal?.addEventListener('abort', () => c.error(new DOMException('aborted', 'AbortError')));
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    }) as typeof fetch;
    const got: Update[] = [];
    const states: string[] = [];
    const stop = httpTransport('', fetchImpl, 'f00d').subscribe((u) => got.push(u), (c) => states.push(c));
    await vi.waitFor(() => expect(got).toHaveLength(1));
    expect(got).toEqual([{ type: 'logs', lines: [], skipped: 3 }]);
    expect(requests.map((r) => [r.url, (r.init.headers as Record<string, string>).authorization])).toEqual([['/api/subscribe', 'Bearer f00d']]);
    expect(states).toEqual(['connecting', 'live']);
    stop();
    expect(requests[0].init.signal?.aborted).toBe(true);
  });
});

describe('httpTransport traffic routes', () => {
  it('reaches the series, spread, topology, load and knob routes of docs/api.md', async () => {
    const calls: Call[] = [];
    const t = httpTransport('', fakeFetch(200, '{"replicas":2}', calls));
    await t.series('media', 300);
    await t.replicaSpread('a b', 10);
    await t.topology();
    await t.loadScenarios();
    await t.startLoad('browse', 200);
    await t.setLoadRate(50);
    await t.stopLoad();
    await t.loadReport();
    expect(await t.setKnobs('users', { work_ms: 40 })).toBe(2);
    await t.crash('users');
    expect(calls.map((c) => `${c.init.method} ${c.url}`)).toEqual([
      'GET /api/services/media/series?window=300',
      'GET /api/services/a%20b/spread?window=10',
      'GET /api/topology',
      'GET /api/load/scenarios',
      'POST /api/load/start',
      'POST /api/load/rate',
      'POST /api/load/stop',
      'GET /api/load',
      'POST /api/services/users/knobs',
      'POST /api/services/users/crash',
    ]);
    expect(JSON.parse(String(calls[4].init.body))).toEqual({ scenario: 'browse', rate: 200, duration: null });
    expect(calls[8].init.body).toBe('{"work_ms":40}');
  });
  it('reads a null load report before any run', async () => {
    const t = httpTransport('', fakeFetch(200, 'null', []));
    expect(await t.loadReport()).toBeNull();
  });
});
