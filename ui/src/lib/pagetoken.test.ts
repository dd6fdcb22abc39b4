import { describe, expect, it } from 'vitest';
import { type PageContext, TOKEN_KEY, takePageToken, tokenInFragment } from './pagetoken';

/** A tab: its address, its history's replacements and its sessionStorage. */
function tab(address: string, kept: Record<string, string> = {}) {
  const url = new URL(address);
  const replaced: string[] = [];
  const page: PageContext = {
    location: { hash: url.hash, pathname: url.pathname, search: url.search },
    history: { state: null, replaceState: (_state, _unused, to) => void replaced.push(String(to)) },
    storage: { getItem: (k) => kept[k] ?? null, setItem: (k, v) => void (kept[k] = v) },
  };
  return { page, kept, replaced };
}

describe('tokenInFragment', () => {
  it('reads #token=…, and nothing from a route or an empty fragment', () => {
    expect(tokenInFragment('#token=abc123')).toBe('abc123');
    expect(tokenInFragment('#token=a%2Bb')).toBe('a+b');
    expect(tokenInFragment('#token=')).toBeNull();
    expect(tokenInFragment('#/logs')).toBeNull();
    expect(tokenInFragment('#/service/token=x')).toBeNull();
    expect(tokenInFragment('')).toBeNull();
  });
});

describe('takePageToken', () => {
  it('keeps the address’s token for the tab and takes it out of the address bar', () => {
    const t = tab('http://127.0.0.1:7300/#token=f00d');
    expect(takePageToken(t.page)).toBe('f00d');
    expect(t.kept[TOKEN_KEY]).toBe('f00d');
    expect(t.replaced).toEqual(['/']);
  });
  it('keeps the path and query when it cleans the address', () => {
    const t = tab('http://127.0.0.1:7300/index.html?x=1#token=f00d');
    takePageToken(t.page);
    expect(t.replaced).toEqual(['/index.html?x=1']);
  });
  it('uses the kept token when the address has none (a reload), and changes no address', () => {
    const t = tab('http://127.0.0.1:7300/#/logs', { [TOKEN_KEY]: 'beef' });
    expect(takePageToken(t.page)).toBe('beef');
    expect(t.replaced).toEqual([]);
  });
  it('lets a newer address replace the kept token', () => {
    const t = tab('http://127.0.0.1:7300/#token=new', { [TOKEN_KEY]: 'old' });
    expect(takePageToken(t.page)).toBe('new');
    expect(t.kept[TOKEN_KEY]).toBe('new');
  });
  it('has no token for a tab opened without one', () => {
    const t = tab('http://127.0.0.1:7300/');
    expect(takePageToken(t.page)).toBeNull();
    expect(t.replaced).toEqual([]);
  });
});
