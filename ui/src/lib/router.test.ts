import { describe, expect, it } from 'vitest';
import { parseRoute, routeHref } from './router.svelte';

describe('routes', () => {
  it('reads each view from the hash', () => {
    expect(parseRoute('')).toEqual({ view: 'overview' });
    expect(parseRoute('#/')).toEqual({ view: 'overview' });
    expect(parseRoute('#/logs')).toEqual({ view: 'logs' });
    expect(parseRoute('#/events')).toEqual({ view: 'events' });
    expect(parseRoute('#/service/media')).toEqual({ view: 'service', name: 'media' });
    expect(parseRoute('#/nonsense')).toEqual({ view: 'overview' });
  });
  it('writes hashes that read back the same', () => {
    for (const r of [{ view: 'overview' }, { view: 'logs' }, { view: 'events' }, { view: 'service', name: 'my svc/1' }] as const) {
      expect(parseRoute(routeHref(r))).toEqual(r);
    }
  });
});

describe('the traffic view', () => {
  it('round-trips through the hash', () => {
    expect(parseRoute('#/traffic')).toEqual({ view: 'traffic' });
    expect(routeHref({ view: 'traffic' })).toBe('#/traffic');
  });
});

describe('the lessons view', () => {
  it('lists at #/lessons and opens one at #/lessons/NAME', () => {
    expect(parseRoute('#/lessons')).toEqual({ view: 'lessons' });
    expect(parseRoute('#/lessons/fault-isolation')).toEqual({ view: 'lesson', name: 'fault-isolation' });
    expect(routeHref({ view: 'lesson', name: 'independent-scaling' })).toBe('#/lessons/independent-scaling');
    expect(parseRoute(routeHref({ view: 'lessons' }))).toEqual({ view: 'lessons' });
  });
});
