// The client-side log filter: the same meaning as the engine's LogQuery (level = at least
// this severe, lines without a level kept; text = case-insensitive substring).

import type { LogFeed } from './feed';
import { LEVELS } from './types';
import type { Level, LogLine } from './types';

export interface LogFilter {
  service: string | null;
  replica: number | null;
  level: Level | null;
  text: string;
}

export const NO_FILTER: LogFilter = { service: null, replica: null, level: null, text: '' };

export function levelRank(level: Level): number {
  return LEVELS.indexOf(level);
}

/** A predicate for one filter; the text is lower-cased once, not per line. */
export function lineMatcher(f: LogFilter): (line: LogLine) => boolean {
  const needle = f.text.trim().toLowerCase();
  const minRank = f.level ? levelRank(f.level) : -1;
  return (line) =>
    (f.service === null || line.service === f.service) &&
    (f.replica === null || line.replica === f.replica) &&
    (minRank < 0 || line.level === null || levelRank(line.level) >= minRank) &&
    (needle === '' || line.text.toLowerCase().includes(needle));
}

export interface FilterResult {
  lines: LogLine[];
  /** Lines per service in the whole buffer, before the filter: says every service is heard from. */
  perService: Map<string, number>;
}

/** One pass over the buffer: the matching lines and the per-service totals. */
export function filterLines(all: readonly LogLine[], f: LogFilter): FilterResult {
  const match = lineMatcher(f);
  const lines: LogLine[] = [];
  const perService = new Map<string, number>();
  for (const line of all) {
    perService.set(line.service, (perService.get(line.service) ?? 0) + 1);
    if (match(line)) lines.push(line);
  }
  return { lines, perService };
}

/** The tag shown before a line, e.g. "media-2". */
export function lineTag(line: Pick<LogLine, 'service' | 'replica'>): string {
  return `${line.service}-${line.replica}`;
}

/**
 * The lines of a LogFeed that match a filter, kept up to date incrementally: each update
 * looks only at lines added since the last one and drops those the feed dropped, so a
 * batch costs its own size, not the buffer's (20,000 lines). A new filter rescans once.
 */
export class FilteredLog {
  private key: string | null = null;
  /** Line numbers (see LogFeed.at) of `lines`, ascending. */
  private numbers: number[] = [];
  private lines: LogLine[] = [];
  private scanned = 0;

  update(feed: LogFeed, f: LogFilter): LogLine[] {
    const key = JSON.stringify([f.service, f.replica, f.level, f.text.trim().toLowerCase()]);
    const first = feed.total - feed.length;
    if (key !== this.key) {
      this.key = key;
      this.numbers = [];
      this.lines = [];
      this.scanned = first;
    }
    let gone = 0;
    while (gone < this.numbers.length && this.numbers[gone] < first) gone++;
    if (gone > 0) {
      this.numbers.splice(0, gone);
      this.lines.splice(0, gone);
    }
    const match = lineMatcher(f);
    for (let n = Math.max(this.scanned, first); n < feed.total; n++) {
      const line = feed.at(n);
      if (line && match(line)) {
        this.numbers.push(n);
        this.lines.push(line);
      }
    }
    this.scanned = feed.total;
    // A new array each time, so the view sees the change.
    return this.lines.slice();
  }
}
