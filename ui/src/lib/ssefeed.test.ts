import { afterEach, describe, expect, it, vi } from 'vitest';
import { RECONNECT_MS, followFeed } from './ssefeed';

type Seen = { events: [string, string][]; states: string[]; requests: { url: string; init: RequestInit }[] };

/** One answer of the fake server: a status and the chunks of its body, or a network failure. */
type Answer = { status?: number; type?: string; chunks?: (string | Uint8Array)[]; open?: boolean } | 'network-error';

function server(answers: Answer[], seen: Seen): typeof fetch {
  return (async (url: string | URL | Request, init?: RequestInit) => {
    seen.requests.push({ url: String(url), init: init ?? {} });
    const a = answers.shift() ?? { chunks: [], open: true };
    if (a === 'network-error') throw new TypeError('Failed to fetch');
    const enc = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const chunk of a.chunks ?? []) c.enqueue(typeof chunk === 'string' ? enc.encode(chunk) : chunk);
        if (!a.open) c.close();
        init?.signal?.addEventListener('abort', () => c.error(new DOMException('aborted', 'AbortError')));
      },
    });
    return new Response(body, { status: a.status ?? 200, headers: { 'content-type': a.type ?? 'text/event-stream' } });
  }) as typeof fetch;
}

function follow(answers: Answer[]) {
  const seen: Seen = { events: [], states: [], requests: [] };
  const stop = followFeed({
    url: '/api/subscribe',
    headers: { authorization: 'Bearer t0k' },
    fetchImpl: server(answers, seen),
    onEvent: (type, data) => seen.events.push([type, data]),
    onConnection: (c) => seen.states.push(c),
  });
  return { seen, stop };
}

/** Lets the fake stream's promises run. */
const settle = () => vi.advanceTimersByTimeAsync(0);

afterEach(() => {
  vi.useRealTimers();
});

describe('followFeed', () => {
  it('parses events split anywhere across chunks: lines, CRLF, comments, multi-line data, UTF-8', async () => {
    vi.useFakeTimers();
    const bytes = new TextEncoder().encode('data: {"text":"é✓"}\n\n');
    // Cut inside the three bytes of ✓.
    const cut = new TextEncoder().encode('data: {"text":"é').length + 1;
    const { seen, stop } = follow([
      {
        open: true,
        chunks: [
          ': keep-alive\n\nev',
          'ent: update\r\ndata: {"type":"snap',
          'shot"}\r\n\r\n',
          'event: update\ndata: line one\ndata: line two\n\n',
          bytes.slice(0, cut),
          bytes.slice(cut),
        ],
      },
    ]);
    await settle();
    expect(seen.events).toEqual([
      ['update', '{"type":"snapshot"}'],
      ['update', 'line one\nline two'],
      ['message', '{"text":"é✓"}'],
    ]);
    expect(seen.states).toEqual(['connecting', 'live']);
    stop();
  });

  it('sends the bearer header and no cookie on every attempt', async () => {
    vi.useFakeTimers();
    const { seen, stop } = follow([{ chunks: [] }, { open: true }]);
    await settle();
    await vi.advanceTimersByTimeAsync(RECONNECT_MS[0]);
    expect(seen.requests).toHaveLength(2);
    for (const r of seen.requests) {
      expect(r.url).toBe('/api/subscribe');
      expect(r.init.headers).toEqual({ authorization: 'Bearer t0k', accept: 'text/event-stream' });
      expect(r.init.credentials).toBe('omit');
    }
    stop();
  });

  it('connects again after the feed ends or fails, waiting longer each time, and again from the shortest once live', async () => {
    vi.useFakeTimers();
    const { seen, stop } = follow([
      { chunks: ['data: 1\n\n'] },
      'network-error',
      { status: 503, type: 'application/json' },
      { chunks: ['data: 2\n\n'] },
      { open: true, chunks: ['data: 3\n\n'] },
    ]);
    await settle();
    expect(seen.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(RECONNECT_MS[0] - 1);
    expect(seen.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen.requests).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(RECONNECT_MS[1]);
    expect(seen.requests).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(RECONNECT_MS[2]);
    expect(seen.requests).toHaveLength(4);
    // The fourth went live, so the next wait is the shortest again.
    await vi.advanceTimersByTimeAsync(RECONNECT_MS[0]);
    expect(seen.requests).toHaveLength(5);
    expect(seen.events.map(([, d]) => d)).toEqual(['1', '2', '3']);
    expect(seen.states).toEqual(['connecting', 'live', 'connecting', 'connecting', 'connecting', 'live', 'connecting', 'live']);
    stop();
  });

  it('gives up, lost, when the engine refuses the token', async () => {
    vi.useFakeTimers();
    const { seen } = follow([{ status: 401, type: 'application/json' }]);
    await settle();
    await vi.advanceTimersByTimeAsync(RECONNECT_MS[RECONNECT_MS.length - 1] * 3);
    expect(seen.requests).toHaveLength(1);
    expect(seen.states).toEqual(['connecting', 'lost']);
  });

  it('stops reading and never connects again once unsubscribed', async () => {
    vi.useFakeTimers();
    const { seen, stop } = follow([{ open: true, chunks: ['data: a\n\n'] }]);
    await settle();
    stop();
    await vi.advanceTimersByTimeAsync(RECONNECT_MS[RECONNECT_MS.length - 1] * 3);
    expect(seen.requests).toHaveLength(1);
    expect(seen.requests[0].init.signal?.aborted).toBe(true);
    expect(seen.states).toEqual(['connecting', 'live']);
  });

  it('reads a chunk only after the page handled the one before (no read-ahead)', async () => {
    let pulls = 0;
    let handled = 0;
    let most = 0;
    const enc = new TextEncoder();
    const body = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          pulls++;
          if (pulls > 50) c.close();
          else c.enqueue(enc.encode(`data: ${pulls}\n\n`));
        },
      },
      { highWaterMark: 0 },
    );
    const fetchImpl = (async () => new Response(body, { headers: { 'content-type': 'text/event-stream' } })) as typeof fetch;
    let stop = () => {};
    const done = new Promise<void>((resolve) => {
      stop = followFeed({
        url: '/api/subscribe',
        headers: {},
        fetchImpl,
        onEvent: () => {
          handled++;
          most = Math.max(most, pulls - handled);
          if (handled === 50) resolve();
        },
        onConnection: () => {},
      });
    });
    await done;
    stop();
    expect(most).toBeLessThanOrEqual(1);
  });
});
