// Which view is open, kept in the URL hash (#/, #/logs, #/events, #/service/NAME) so the
// back button and a reload keep it.

export type Route = { view: 'overview' } | { view: 'logs' } | { view: 'events' } | { view: 'traffic' } | { view: 'service'; name: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  if (path === 'logs') return { view: 'logs' };
  if (path === 'events') return { view: 'events' };
  if (path === 'traffic') return { view: 'traffic' };
  const m = /^service\/(.+)$/.exec(path);
  if (m) return { view: 'service', name: decodeURIComponent(m[1]) };
  return { view: 'overview' };
}

export function routeHref(r: Route): string {
  return r.view === 'service' ? `#/service/${encodeURIComponent(r.name)}` : r.view === 'overview' ? '#/' : `#/${r.view}`;
}

class Router {
  route = $state<Route>(parseRoute(typeof location === 'undefined' ? '' : location.hash));

  constructor() {
    if (typeof window !== 'undefined') {
      window.addEventListener('hashchange', () => (this.route = parseRoute(location.hash)));
    }
  }
}

export const router = new Router();
