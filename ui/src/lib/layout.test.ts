import { describe, expect, it } from 'vitest';
import { crossings, edgePath, labelPoint, layeredLayout, type Layout, type LayoutEdge } from './layout';

const edges = (...pairs: string[]): LayoutEdge[] =>
  pairs.map((p) => {
    const [from, to] = p.split('>');
    return { from, to };
  });

/** Each layer's nodes, top to bottom; nodes without edges under `idle`. */
function columns(layout: Layout): { layers: string[][]; idle: string[] } {
  const layers: string[][] = Array.from({ length: layout.layers }, () => []);
  const idle: string[] = [];
  for (const n of [...layout.nodes].sort((a, b) => a.order - b.order)) {
    if (n.layer === null) idle.push(n.id);
    else layers[n.layer].push(n.id);
  }
  return { layers, idle };
}

const SAMPLE_NODES = ['external', 'gateway', 'auth', 'users', 'media', 'analytics'];
const SAMPLE_EDGES = edges('external>gateway', 'gateway>auth', 'gateway>users', 'gateway>media', 'users>analytics', 'media>analytics');

describe('layeredLayout', () => {
  it('lays the sample cluster out as the path of a request', () => {
    const layout = layeredLayout(SAMPLE_NODES, SAMPLE_EDGES);
    expect(columns(layout)).toEqual({ layers: [['external'], ['gateway'], ['auth', 'users', 'media'], ['analytics']], idle: [] });
    const at = (id: string) => layout.nodes.find((n) => n.id === id)!;
    // Left to right, one layer a column; the middle layer spread top to bottom.
    expect(at('external').x).toBeLessThan(at('gateway').x);
    expect(at('gateway').x).toBeLessThan(at('users').x);
    expect(at('users').x).toBeLessThan(at('analytics').x);
    expect(at('auth').y).toBeLessThan(at('users').y);
    expect(at('users').y).toBeLessThan(at('media').y);
    expect(layout.edges.every((e) => !e.back)).toBe(true);
    // The two calls into analytics end side by side, users' above media's, around its centre.
    const end = (from: string) => layout.edges.find((e) => e.from === from && e.to === 'analytics')!.points.at(-1)!;
    expect(end('users').y).toBeLessThan(end('media').y);
    expect((end('users').y + end('media').y) / 2).toBeCloseTo(at('analytics').y);
  });

  it('does not depend on the order the edges come in', () => {
    const a = layeredLayout(SAMPLE_NODES, SAMPLE_EDGES);
    const b = layeredLayout(SAMPLE_NODES, [...SAMPLE_EDGES].reverse());
    expect(b.nodes).toEqual(a.nodes);
  });

  it('reorders a layer to take out a crossing', () => {
    // In call order a, b, c: c→x would cross b→y; with c beside a nothing crosses.
    const layout = layeredLayout(['g', 'a', 'b', 'c', 'x', 'y'], edges('g>a', 'g>b', 'g>c', 'a>x', 'b>y', 'c>x'));
    expect(columns(layout).layers).toEqual([['g'], ['a', 'c', 'b'], ['x', 'y']]);
  });

  it('breaks a cycle at its back edge, the same way every time', () => {
    const cycle = edges('a>b', 'b>c', 'c>a', 'd>a');
    const layout = layeredLayout(['a', 'b', 'c', 'd'], cycle);
    // Entered from d, the one node nobody calls: c→a closes the cycle.
    expect(columns(layout).layers).toEqual([['d'], ['a'], ['b'], ['c']]);
    expect(layout.edges.filter((e) => e.back).map((e) => `${e.from}>${e.to}`)).toEqual(['c>a']);
    // It skips layer 2, so it bends there (beside b) and runs right to left.
    const back = layout.edges.find((e) => e.back)!;
    expect(back.points).toHaveLength(3);
    expect(back.points[0].x).toBeGreaterThan(back.points[2].x);
    expect(layeredLayout(['c', 'b', 'a', 'd'], [...cycle].reverse()).nodes.map((n) => [n.id, n.layer])).toEqual(
      layout.nodes.map((n) => [n.id, n.layer]).sort((x, y) => ['c', 'b', 'a', 'd'].indexOf(x[0] as string) - ['c', 'b', 'a', 'd'].indexOf(y[0] as string)),
    );
  });

  it('gives every node of a cycle nobody enters a layer', () => {
    const layout = layeredLayout(['a', 'b', 'c'], edges('a>b', 'b>c', 'c>a'));
    expect(columns(layout).layers).toEqual([['a'], ['b'], ['c']]);
  });

  it('puts nodes without edges in a row below the flow, and ignores unknown or repeated edges', () => {
    const layout = layeredLayout(['external', 'gateway', 'auth', 'users'], edges('external>gateway', 'gateway>auth', 'gateway>auth', 'gateway>nobody', 'users>users'));
    expect(columns(layout)).toEqual({ layers: [['external'], ['gateway'], ['auth']], idle: ['users'] });
    const users = layout.nodes.find((n) => n.id === 'users')!;
    expect(users.y).toBeGreaterThan(Math.max(...layout.nodes.filter((n) => n.layer !== null).map((n) => n.y)));
    expect(users.y).toBeLessThan(layout.height);
    expect(layout.edges).toHaveLength(2);
  });

  it('lays a cluster with no traffic yet in one row', () => {
    const layout = layeredLayout(['gateway', 'auth', 'users'], []);
    expect(layout.layers).toBe(0);
    expect(columns(layout).idle).toEqual(['gateway', 'auth', 'users']);
    expect(new Set(layout.nodes.map((n) => n.y)).size).toBe(1);
    expect(layout.nodes.every((n) => n.x > 0 && n.x < layout.width)).toBe(true);
  });

  it('never puts two nodes on one spot', () => {
    const nodes = Array.from({ length: 20 }, (_, i) => `s${i}`);
    const many = edges(...nodes.slice(1).map((n, i) => `s${Math.floor(i / 3)}>${n}`), 's19>s0', 's7>s2');
    const layout = layeredLayout(nodes, many);
    expect(new Set(layout.nodes.map((n) => `${n.x},${n.y}`)).size).toBe(20);
    expect(layout.nodes.every((n) => n.layer !== null && n.x > 0 && n.x < layout.width && n.y > 0 && n.y < layout.height)).toBe(true);
  });
});

describe('crossings', () => {
  it('counts pairs of edges that cross between two layers', () => {
    const slots = [{ down: [3] }, { down: [2] }, { down: [] }, { down: [] }];
    expect(crossings([[0, 1], [2, 3]], slots)).toBe(1);
    expect(crossings([[0, 1], [3, 2]], slots)).toBe(0);
  });
});

describe('edgePath and labelPoint', () => {
  it('leaves and enters a node at its rim, sideways', () => {
    expect(edgePath([{ x: 0, y: 0 }, { x: 100, y: 50 }], 20)).toBe('M 20 0 C 50 0 50 50 80 50');
    expect(edgePath([{ x: 100, y: 0 }, { x: 0, y: 0 }], 20)).toBe('M 80 0 C 50 0 50 0 20 0');
  });
  it('labels an edge halfway', () => {
    expect(labelPoint([{ x: 0, y: 0 }, { x: 100, y: 50 }])).toEqual({ x: 50, y: 25 });
    expect(labelPoint([{ x: 0, y: 0 }, { x: 100, y: 50 }, { x: 200, y: 0 }])).toEqual({ x: 100, y: 50 });
  });
});
