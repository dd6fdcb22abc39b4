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
