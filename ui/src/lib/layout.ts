// A layered layout of a call graph, drawn left to right: every caller before its callees, so
// the picture reads as the path of a request (external → gateway → services → their backends).
// Pure and deterministic: the same nodes and edges give the same picture on every poll.
//
// The classic steps, small enough for the ≤ 20 nodes of a cluster: break cycles at the back
// edges of a depth-first search, put each node one layer after its deepest caller, route an
// edge that skips layers through a bend in each skipped one, and order each layer by a few
// barycenter sweeps, keeping the order with the fewest crossings.

export interface LayoutEdge {
  from: string;
  to: string;
}

export interface Point {
  x: number;
  y: number;
}

export interface PlacedNode extends Point {
  id: string;
  /** The column, from 0 on the left; `null` for a node with no edge (drawn in a row below the flow). */
  layer: number | null;
  /** The position within its layer (or within the row of nodes without edges), from the top (left). */
  order: number;
}

export interface PlacedEdge {
  from: string;
  to: string;
  /** Node centres and the bends between them, from the caller to the callee. */
  points: Point[];
  /** Drawn against the flow: the edge that closes a cycle. */
  back: boolean;
}

export interface Layout {
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  width: number;
  height: number;
  /** How many layers the flow has (0 without edges). */
  layers: number;
}

export interface Spacing {
  /** Between layers (x). */
  layerGap: number;
  /** Between the nodes of a layer (y). */
  rowGap: number;
  /** Around everything: room for a node's radius and its name. */
  margin: number;
  /** Between the ends of edges that come into one node, so each arrow shows. */
  portGap: number;
}

export const DEFAULT_SPACING: Spacing = { layerGap: 160, rowGap: 92, margin: 56, portGap: 10 };
/** The ends of the edges into one node stay this close to its centre line. */
const PORT_SPREAD_MAX = 16;

/** Barycenter sweeps (down then up is two): plenty for a cluster's graph. */
const SWEEPS = 8;
/** Nodes with no edge are laid in rows of at least this many (or as many as the flow has layers). */
const IDLE_ROW_MIN = 5;

interface Slot {
  /** A node's id; a bend of a long edge has none. */
  id: string | null;
  /** Neighbours in the layer before and after (indices into `slots`). */
  up: number[];
  down: number[];
}

/**
 * Lays out `nodes` (their order breaks ties: put the first callers first) with the `edges`
 * between them. Edges naming unknown nodes, repeated edges and self-calls are left out.
 */
export function layeredLayout(nodes: readonly string[], edges: readonly LayoutEdge[], spacing: Spacing = DEFAULT_SPACING): Layout {
  const ids = [...new Set(nodes)];
  const index = new Map(ids.map((id, i) => [id, i]));
  const seen = new Set<string>();
  const kept: LayoutEdge[] = [];
  for (const e of edges) {
    const key = edgeKey(e);
    if (e.from === e.to || !index.has(e.from) || !index.has(e.to) || seen.has(key)) continue;
    seen.add(key);
    kept.push({ from: e.from, to: e.to });
  }
  // The edges' own order is the API's: sort by the nodes' order so it cannot move the picture.
  kept.sort((a, b) => index.get(a.from)! - index.get(b.from)! || index.get(a.to)! - index.get(b.to)!);

  const out = new Map<string, string[]>(ids.map((id) => [id, []]));
  const indegree = new Map<string, number>(ids.map((id) => [id, 0]));
  for (const e of kept) {
    out.get(e.from)!.push(e.to);
    indegree.set(e.to, indegree.get(e.to)! + 1);
  }
  const connected = ids.filter((id) => out.get(id)!.length > 0 || indegree.get(id)! > 0);

  const { isBack, discovery } = depthFirst(connected, out, indegree);
  const layerOf = longestPathLayers(connected, kept, isBack);
  const layerCount = connected.length === 0 ? 0 : Math.max(...connected.map((id) => layerOf.get(id)!)) + 1;

  // Slots: the nodes in discovery order, then a bend in every layer a (forward) edge skips.
  const slots: Slot[] = [];
  const layers: number[][] = Array.from({ length: layerCount }, () => []);
  const slotOf = new Map<string, number>();
  const addSlot = (id: string | null, layer: number) => {
    slots.push({ id, up: [], down: [] });
    layers[layer].push(slots.length - 1);
    return slots.length - 1;
  };
  for (const id of [...connected].sort((a, b) => discovery.get(a)! - discovery.get(b)!)) slotOf.set(id, addSlot(id, layerOf.get(id)!));
  const chains: { edge: LayoutEdge; back: boolean; slots: number[] }[] = [];
  for (const e of kept) {
    const reversed = isBack(e);
    // Laid out as if it went with the flow; drawn reversed.
    const [top, bottom] = reversed ? [e.to, e.from] : [e.from, e.to];
    const chain = [slotOf.get(top)!];
    for (let l = layerOf.get(top)! + 1; l < layerOf.get(bottom)!; l++) chain.push(addSlot(null, l));
    chain.push(slotOf.get(bottom)!);
    for (let i = 0; i + 1 < chain.length; i++) {
      slots[chain[i]].down.push(chain[i + 1]);
      slots[chain[i + 1]].up.push(chain[i]);
    }
    chains.push({ edge: e, back: reversed, slots: reversed ? [...chain].reverse() : chain });
  }

  const ordered = fewestCrossings(layers, slots);

  // Coordinates: each layer centred on the tallest one; nodes without edges in rows below.
  const tallest = Math.max(1, ...ordered.map((l) => l.length));
  const { layerGap, rowGap, margin } = spacing;
  const at = new Map<number, Point>();
  ordered.forEach((layer, l) => {
    const top = margin + ((tallest - layer.length) * rowGap) / 2;
    layer.forEach((slot, i) => at.set(slot, { x: margin + l * layerGap, y: top + i * rowGap }));
  });
  const placed: PlacedNode[] = [];
  for (const [l, layer] of ordered.entries()) {
    let order = 0;
    for (const slot of layer) {
      const id = slots[slot].id;
      if (id !== null) placed.push({ id, layer: l, order: order++, ...at.get(slot)! });
    }
  }
  const idle = ids.filter((id) => !layerOf.has(id));
  const perRow = Math.max(layerCount, IDLE_ROW_MIN);
  const flowHeight = layerCount > 0 ? tallest * rowGap : 0;
  idle.forEach((id, i) => {
    placed.push({ id, layer: null, order: i, x: margin + (i % perRow) * layerGap, y: margin + flowHeight + Math.floor(i / perRow) * rowGap });
  });
  placed.sort((a, b) => index.get(a.id)! - index.get(b.id)!);

  const columns = Math.max(layerCount, Math.min(idle.length, perRow), 1);
  const rows = (layerCount > 0 ? tallest : 0) + Math.ceil(idle.length / perRow);
  const routed = chains.map(({ edge, back, slots: chain }) => ({ from: edge.from, to: edge.to, back, points: chain.map((s) => at.get(s)!) }));
  spreadEnds(routed, spacing.portGap);
  return {
    nodes: placed,
    edges: routed,
    width: 2 * margin + (columns - 1) * layerGap,
    height: 2 * margin + (Math.max(rows, 1) - 1) * rowGap,
    layers: layerCount,
  };
}

/** Edges into one node end side by side, in the order they come from (top first), not on one point. */
function spreadEnds(edges: PlacedEdge[], portGap: number): void {
  const into = new Map<string, PlacedEdge[]>();
  for (const e of edges) into.set(e.to, [...(into.get(e.to) ?? []), e]);
  for (const group of into.values()) {
    if (group.length < 2) continue;
    const from = (e: PlacedEdge) => e.points[e.points.length - 2];
    group.sort((a, b) => from(a).y - from(b).y || from(a).x - from(b).x);
    const gap = Math.min(portGap, (2 * PORT_SPREAD_MAX) / (group.length - 1));
    group.forEach((e, i) => {
      const end = e.points[e.points.length - 1];
      e.points[e.points.length - 1] = { x: end.x, y: end.y + (i - (group.length - 1) / 2) * gap };
    });
  }
}

/**
 * A depth-first search from the nodes nobody calls (then from any node left, for a cycle with no
 * way in): the edges to a node still on the stack close a cycle and are the ones laid reversed.
 */
function depthFirst(connected: string[], out: Map<string, string[]>, indegree: Map<string, number>) {
  const backKeys = new Set<string>();
  const discovery = new Map<string, number>();
  const onStack = new Set<string>();
  const visit = (id: string) => {
    discovery.set(id, discovery.size);
    onStack.add(id);
    for (const to of out.get(id)!) {
      if (onStack.has(to)) backKeys.add(edgeKey({ from: id, to }));
      else if (!discovery.has(to)) visit(to);
    }
    onStack.delete(id);
  };
  const roots = [...connected.filter((id) => indegree.get(id) === 0), ...connected];
  for (const id of roots) if (!discovery.has(id)) visit(id);
  return { isBack: (e: LayoutEdge) => backKeys.has(edgeKey(e)), discovery };
}

/** Each node one layer after its deepest caller (a back edge counts reversed); the uncalled in layer 0. */
function longestPathLayers(connected: string[], edges: LayoutEdge[], isBack: (e: LayoutEdge) => boolean): Map<string, number> {
  const preds = new Map<string, string[]>(connected.map((id) => [id, []]));
  for (const e of edges) {
    if (isBack(e)) preds.get(e.from)!.push(e.to);
    else preds.get(e.to)!.push(e.from);
  }
  const layer = new Map<string, number>();
  const place = (id: string): number => {
    const known = layer.get(id);
    if (known !== undefined) return known;
    // Without back edges the graph has no cycle, so this recursion ends.
    const l = Math.max(-1, ...preds.get(id)!.map(place)) + 1;
    layer.set(id, l);
    return l;
  };
  connected.forEach(place);
  return layer;
}

/** Barycenter sweeps down and up the layers; the order with the fewest crossings wins (the first on a tie). */
function fewestCrossings(initial: number[][], slots: Slot[]): number[][] {
  let layers = initial.map((l) => [...l]);
  let best = layers.map((l) => [...l]);
  let bestCrossings = crossings(layers, slots);
  for (let sweep = 0; sweep < SWEEPS && bestCrossings > 0; sweep++) {
    const downward = sweep % 2 === 0;
    const pos = positions(layers);
    const range = downward ? [...layers.keys()].slice(1) : [...layers.keys()].reverse().slice(1);
    layers = layers.map((l) => [...l]);
    for (const l of range) {
      const keyed = layers[l].map((slot, i) => {
        const neighbours = downward ? slots[slot].up : slots[slot].down;
        // A node with no neighbour on that side keeps its place.
        const bary = neighbours.length === 0 ? i : neighbours.reduce((sum, n) => sum + pos.get(n)!, 0) / neighbours.length;
        return { slot, bary, i };
      });
      keyed.sort((a, b) => a.bary - b.bary || a.i - b.i);
      layers[l] = keyed.map((k) => k.slot);
      keyed.forEach((k, i) => pos.set(k.slot, i));
    }
    const c = crossings(layers, slots);
    if (c < bestCrossings) {
      bestCrossings = c;
      best = layers.map((l) => [...l]);
    }
  }
  return best;
}

function positions(layers: number[][]): Map<number, number> {
  const pos = new Map<number, number>();
  for (const layer of layers) layer.forEach((slot, i) => pos.set(slot, i));
  return pos;
}

/** Pairs of edges that cross between neighbouring layers. */
export function crossings(layers: number[][], slots: { down: number[] }[]): number {
  const pos = positions(layers);
  let count = 0;
  for (let l = 0; l + 1 < layers.length; l++) {
    const pairs = layers[l].flatMap((s) => slots[s].down.map((d) => [pos.get(s)!, pos.get(d)!] as const));
    for (let i = 0; i < pairs.length; i++) {
      for (let j = i + 1; j < pairs.length; j++) {
        const [a, b] = pairs[i];
        const [c, d] = pairs[j];
        if ((a - c) * (b - d) < 0) count++;
      }
    }
  }
  return count;
}

/**
 * An SVG path through `points` that leaves and enters each one sideways (an S-curve a segment),
 * starting and ending `inset` away from the first and last centre: at a node's rim, so an arrow
 * marker at the end touches it.
 */
export function edgePath(points: readonly Point[], inset: number): string {
  if (points.length < 2) return '';
  const rightward = points[points.length - 1].x >= points[0].x;
  const side = rightward ? 1 : -1;
  const pts = points.map((p) => ({ ...p }));
  pts[0].x += side * inset;
  pts[pts.length - 1].x -= side * inset;
  let d = `M ${r(pts[0].x)} ${r(pts[0].y)}`;
  for (let i = 1; i < pts.length; i++) {
    const p = pts[i - 1];
    const q = pts[i];
    const mid = (p.x + q.x) / 2;
    d += ` C ${r(mid)} ${r(p.y)} ${r(mid)} ${r(q.y)} ${r(q.x)} ${r(q.y)}`;
  }
  return d;
}

/** Where an edge's label goes: halfway along its route (an S-curve's halfway point is its segment's midpoint). */
export function labelPoint(points: readonly Point[]): Point {
  if (points.length === 0) return { x: 0, y: 0 };
  if (points.length % 2 === 1) return points[(points.length - 1) / 2];
  const a = points[points.length / 2 - 1];
  const b = points[points.length / 2];
  return { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
}

const edgeKey = (e: LayoutEdge) => `${e.from}\u0000${e.to}`;
const r = (v: number) => Math.round(v * 10) / 10;
