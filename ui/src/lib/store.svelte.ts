// The live view of the cluster that every component reads: the latest snapshot, the event
// timeline and the log buffer, fed by one subscription plus the history fetched at start.

import { EventFeed, HeldUpdates, LogFeed } from './feed';
import type { Connection, Transport } from './transport';
import { normaliseError } from './transport';
import type { ClusterEvent, ClusterSnapshot, CommandError, Update } from './types';

/** Lines kept in the browser; older ones are dropped. */
export const LOG_BUFFER_LINES = 20_000;
/** Lines fetched at start, before the live feed takes over. */
export const LOG_HISTORY_LINES = 5_000;
export const EVENTS_KEPT = 2_000;
/** Renders of the log list are batched to at most one per this many ms. */
const LOG_RENDER_MS = 50;

class ClusterStore {
  snapshot = $state.raw<ClusterSnapshot | null>(null);
  connection = $state<Connection>('connecting');
  /** Why the first snapshot could not be had, if it could not. */
  loadError = $state<CommandError | null>(null);
  events = $state.raw<ClusterEvent[]>([]);
  /** Bumped when the log buffer changed; components read `logs` after reading this. */
  logVersion = $state(0);
  skipped = $state(0);
  /** Set while the desktop app quits: what it still waits for ('' = nothing left). */
  quitting = $state<string | null>(null);

  readonly logs = new LogFeed(LOG_BUFFER_LINES);
  private readonly eventFeed = new EventFeed(EVENTS_KEPT);
  private logTimer: ReturnType<typeof setTimeout> | null = null;
  private transport: Transport | null = null;

  get api(): Transport {
    if (!this.transport) throw new Error('the store has not been started');
    return this.transport;
  }

  /** Subscribes first and holds back logs and events until the history is in, so none slip between. */
  start(transport: Transport): () => void {
    this.transport = transport;
    transport.onQuitting?.((waiting) => (this.quitting = waiting));
    let historyIn = false;
    const held = new HeldUpdates(LOG_BUFFER_LINES);
    const unsubscribe = transport.subscribe(
      (u) => {
        if (u.type === 'snapshot' || historyIn) this.apply(u);
        else held.push(u);
      },
      (c) => (this.connection = c),
    );
    transport
      .snapshot()
      .then((s) => {
        if (!this.snapshot) this.snapshot = s;
        this.loadError = null;
      })
      .catch((e) => {
        if (!this.snapshot) this.loadError = normaliseError(e);
      });
    Promise.allSettled([transport.logs({ limit: LOG_HISTORY_LINES }), transport.events()]).then(([logs, events]) => {
      if (logs.status === 'fulfilled') this.logs.add(logs.value);
      if (events.status === 'fulfilled') this.eventFeed.add(events.value);
      historyIn = true;
      for (const u of held.take()) this.apply(u);
      this.events = this.eventFeed.list();
      this.bumpLogs();
    });
    return unsubscribe;
  }

  private apply(u: Update): void {
    switch (u.type) {
      case 'snapshot': {
        const { type: _type, ...snapshot } = u;
        this.snapshot = snapshot;
        this.loadError = null;
        break;
      }
      case 'logs':
        this.logs.add(u.lines, u.skipped);
        this.bumpLogs();
        break;
      case 'event': {
        const { type: _type, ...event } = u;
        if (this.eventFeed.add([event])) this.events = this.eventFeed.list();
        break;
      }
    }
  }

  private bumpLogs(): void {
    if (this.logTimer !== null) return;
    this.logTimer = setTimeout(() => {
      this.logTimer = null;
      this.skipped = this.logs.skipped;
      this.logVersion++;
    }, LOG_RENDER_MS);
  }
}

export const cluster = new ClusterStore();
