import { describe, expect, it } from 'vitest';
import { formatBytes, formatClock, formatCount, formatSkipped, formatDuration, formatExit, formatLatency, formatPercent, formatRate, formatUptime, secondsUntil } from './format';

describe('formatBytes', () => {
  it('uses binary units with at most three significant digits', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.00 KiB');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(12.5 * 1024 * 1024)).toBe('12.5 MiB');
    expect(formatBytes(300 * 1024 * 1024)).toBe('300 MiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.00 GiB');
  });
  it('shows a dash for nothing or nonsense', () => {
    expect(formatBytes(null)).toBe('—');
    expect(formatBytes(undefined)).toBe('—');
    expect(formatBytes(-1)).toBe('—');
    expect(formatBytes(Number.NaN)).toBe('—');
  });
});

describe('formatPercent', () => {
  it('keeps one decimal below 100 and none above', () => {
    expect(formatPercent(0)).toBe('0.0%');
    expect(formatPercent(0.04)).toBe('0.0%');
    expect(formatPercent(12.345)).toBe('12.3%');
    expect(formatPercent(99.96)).toBe('100.0%');
    expect(formatPercent(250.4)).toBe('250%');
  });
  it('never shows a negative share', () => {
    expect(formatPercent(-3)).toBe('0.0%');
    expect(formatPercent(null)).toBe('—');
  });
});

describe('formatDuration', () => {
  it('picks the two largest units', () => {
    expect(formatDuration(0)).toBe('0ms');
    expect(formatDuration(950)).toBe('950ms');
    expect(formatDuration(1000)).toBe('1s');
    expect(formatDuration(59_999)).toBe('59s');
    expect(formatDuration(65_000)).toBe('1m 05s');
    expect(formatDuration(3_700_000)).toBe('1h 01m');
    expect(formatDuration(90_000_000)).toBe('1d 01h');
  });
  it('clamps negatives and rejects nonsense', () => {
    expect(formatDuration(-5)).toBe('0ms');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('—');
  });
});

describe('uptime and countdown', () => {
  it('measures from the start, and shows a dash when stopped', () => {
    expect(formatUptime(1_000, 61_000)).toBe('1m 00s');
    expect(formatUptime(null, 61_000)).toBe('—');
    // A clock that is slightly behind the engine's never shows a negative uptime.
    expect(formatUptime(5_000, 4_000)).toBe('0ms');
  });
  it('rounds the next try up to whole seconds and never below zero', () => {
    expect(secondsUntil(10_000, 7_500)).toBe(3);
    expect(secondsUntil(10_000, 10_000)).toBe(0);
    expect(secondsUntil(10_000, 12_000)).toBe(0);
  });
});

describe('formatExit', () => {
  it('names the common signals', () => {
    expect(formatExit({ code: null, signal: 9, at: 0 })).toBe('signal 9 (SIGKILL)');
    expect(formatExit({ code: null, signal: 15, at: 0 })).toBe('signal 15 (SIGTERM)');
    expect(formatExit({ code: null, signal: 42, at: 0 })).toBe('signal 42');
    expect(formatExit({ code: 1, signal: null, at: 0 })).toBe('code 1');
    expect(formatExit({ code: 0, signal: null, at: 0 })).toBe('code 0');
    expect(formatExit(null)).toBe('—');
  });
});

describe('formatClock', () => {
  it('shows local time with milliseconds', () => {
    const at = new Date(2026, 0, 2, 3, 4, 5, 67).getTime();
    expect(formatClock(at)).toBe('03:04:05.067');
  });
});

describe('formatSkipped', () => {
  it('groups digits by threes and says where the lines are', () => {
    expect(formatCount(12345)).toBe('12,345');
    expect(formatCount(999)).toBe('999');
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatSkipped(12345)).toBe('12,345 lines skipped — all are in the log file');
    expect(formatSkipped(1)).toBe('1 line skipped — all are in the log file');
  });
});

describe('formatRate and formatLatency', () => {
  it('keeps a decimal for small rates only', () => {
    expect([formatRate(null), formatRate(0), formatRate(0.24), formatRate(4), formatRate(48.4), formatRate(-1)]).toEqual(['—', '0', '0.2', '4.0', '48', '0']);
  });
  it('shows milliseconds, a decimal below 10, seconds from 1000', () => {
    expect([formatLatency(null), formatLatency(0.84), formatLatency(12.6), formatLatency(999), formatLatency(1840)]).toEqual(['—', '0.8 ms', '13 ms', '999 ms', '1.84 s']);
  });
});
