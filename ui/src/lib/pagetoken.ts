// The web dashboard's token: read from the address it was opened with (`#token=…`, a fragment,
// which the browser never sends to a server or a log), kept for the tab in sessionStorage, and
// taken out of the address bar so it is not bookmarked, shared or shown. No cookie: a browser
// would send one to every port of the host.

/** The sessionStorage key of the token. */
export const TOKEN_KEY = 'microdeck.token';

/** The parts of `window` this reads and writes, so tests can hand in their own. */
export interface PageContext {
  location: Pick<Location, 'hash' | 'pathname' | 'search'>;
  history: Pick<History, 'replaceState' | 'state'>;
  storage: Pick<Storage, 'getItem' | 'setItem'>;
}

/** The token of a `#token=…` fragment, or null (a route such as `#/logs` has none). */
export function tokenInFragment(hash: string): string | null {
  if (!hash.startsWith('#token=')) return null;
  const token = new URLSearchParams(hash.slice(1)).get('token');
  return token ? token : null;
}

/** The token for this tab: the address's (kept, and removed from the address bar), else the one kept before. */
export function takePageToken(page: PageContext = thisPage()): string | null {
  const fromAddress = tokenInFragment(page.location.hash);
  if (fromAddress === null) return page.storage.getItem(TOKEN_KEY);
  page.storage.setItem(TOKEN_KEY, fromAddress);
  page.history.replaceState(page.history.state, '', `${page.location.pathname}${page.location.search}`);
  return fromAddress;
}

function thisPage(): PageContext {
  let storage: PageContext['storage'];
  try {
    storage = sessionStorage;
  } catch {
    // Site data blocked: the token serves this load of the page only.
    storage = { getItem: () => null, setItem: () => {} };
  }
  return { location, history, storage };
}
