// Running a command from a button: the button shows it is busy until the command returns,
// and a failure is kept (per service, or `cluster`) so the view can say what went wrong.

import { SvelteMap, SvelteSet } from 'svelte/reactivity';
import { normaliseError } from './transport';
import type { CommandError } from './types';

/** Keys of the commands running now, e.g. `restart:auth`. */
export const pending = new SvelteSet<string>();
/** The last failure per scope (a service name or `cluster`). */
export const failures = new SvelteMap<string, CommandError>();
/** Replica counts asked for and not yet seen in a snapshot: − / + count from these. */
export const wantedReplicas = new SvelteMap<string, number>();

export async function run(key: string, scope: string, command: () => Promise<void>): Promise<boolean> {
  if (pending.has(key)) return false;
  pending.add(key);
  failures.delete(scope);
  try {
    await command();
    return true;
  } catch (e) {
    failures.set(scope, normaliseError(e));
    return false;
  } finally {
    pending.delete(key);
  }
}

/** Forgets the replica counts a snapshot now shows. */
export function settleWanted(services: readonly { name: string; desired: number }[]): void {
  for (const s of services) {
    if (wantedReplicas.get(s.name) === s.desired) wantedReplicas.delete(s.name);
  }
}
