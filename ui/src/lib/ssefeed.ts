// The web dashboard's live feed: `GET /api/subscribe` read as a streamed fetch, so it carries the
// bearer header (EventSource cannot send one), parsed as server-sent events by
// eventsource-parser, and opened again like EventSource does when it ends or fails. The body is
// read only as fast as the page handles each chunk, so a busy page pushes back through TCP and
// the engine coalesces what it has not sent (docs/api.md, "The live feed").

import { createParser } from 'eventsource-parser';
import type { Connection } from './transport';

/** Waits before each attempt to connect again, the last repeated; back to the first once live. */
export const RECONNECT_MS = [250, 500, 1000, 2000, 3000];

export interface FeedOptions {
  url: string;
  /** Sent on every attempt (the bearer token). */
  headers: Record<string, string>;
  fetchImpl: typeof fetch;
  /** One server-sent event: its type (`message` when it names none) and its data. */
  onEvent(type: string, data: string): void;
  onConnection(c: Connection): void;
}

/** How one attempt ended. `refused`: the server will not serve this page (its token), so trying again cannot help. */
type Outcome = 'refused' | 'failed' | 'ended';

/** Follows the feed until the returned function is called. */
export function followFeed(o: FeedOptions): () => void {
  let stopped = false;
  let attempt: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let waits = 0;
  const connect = async () => {
    timer = null;
    attempt = new AbortController();
    const outcome = await readOnce(o, attempt.signal, () => (waits = 0));
    if (stopped) return;
    if (outcome === 'refused') {
      o.onConnection('lost');
      return;
    }
    o.onConnection('connecting');
    timer = setTimeout(connect, RECONNECT_MS[Math.min(waits++, RECONNECT_MS.length - 1)]);
  };
  o.onConnection('connecting');
  void connect();
  return () => {
    stopped = true;
    attempt?.abort();
    if (timer !== null) clearTimeout(timer);
  };
}

async function readOnce(o: FeedOptions, signal: AbortSignal, onLive: () => void): Promise<Outcome> {
  let res: Response;
  try {
    res = await o.fetchImpl(o.url, {
      headers: { ...o.headers, accept: 'text/event-stream' },
      credentials: 'omit',
      cache: 'no-store',
      signal,
    });
  } catch {
    return 'failed';
  }
  if (res.status === 401 || res.status === 403) return 'refused';
  if (!res.ok || !res.body || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    res.body?.cancel().catch(() => {});
    return 'failed';
  }
  onLive();
  o.onConnection('live');
  const parser = createParser({ onEvent: (e) => o.onEvent(e.event ?? 'message', e.data) });
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return 'ended';
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } catch {
    // Dropped, or aborted by the unsubscribe.
    return 'ended';
  }
}
