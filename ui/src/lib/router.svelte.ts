// Which view is open, kept in the URL hash (#/, #/logs, #/events, #/traffic, #/lessons,
// #/lessons/NAME, #/service/NAME) so the back button and a reload keep it.

export type Route =
  | { view: 'overview' }
  | { view: 'logs' }
  | { view: 'events' }
  | { view: 'traffic' }
  | { view: 'lessons' }
  | { view: 'lesson'; name: string }
  | { view: 'service'; name: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  if (path === 'logs') return { view: 'logs' };
  if (path === 'events') return { view: 'events' };
  if (path === 'traffic') return { view: 'traffic' };
  if (path === 'lessons') return { view: 'lessons' };
  const lesson = /^lessons\/(.+)$/.exec(path);
  if (lesson) return { view: 'lesson', name: decodeURIComponent(lesson[1]) };
  const m = /^service\/(.+)$/.exec(path);
  if (m) return { view: 'service', name: decodeURIComponent(m[1]) };
  return { view: 'overview' };
}

export function routeHref(r: Route): string {
  if (r.view === 'service') return `#/service/${encodeURIComponent(r.name)}`;
  if (r.view === 'lesson') return `#/lessons/${encodeURIComponent(r.name)}`;
  return r.view === 'overview' ? '#/' : `#/${r.view}`;
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
