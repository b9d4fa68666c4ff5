import { CONFIG_VARIABLES } from './schema.js';

// Prefixes of the variables a deployment sets for Herald: one of these that the gateway does not
// read is most likely a misspelling (REDIS_ULR), which would otherwise be ignored in silence.
const WATCHED_PREFIXES = ['HERALD_', 'REDIS_', 'JWT_', 'HISTORY_'];
// A known name at most this many edits away is offered as what was meant.
const MAX_SUGGESTION_DISTANCE = 3;

/** Levenshtein distance between two short strings. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

export interface UnknownVariable {
  readonly name: string;
  /** The known variable it most likely means, if one is close. */
  readonly closest: string | undefined;
}

/** Variables in `env` with a watched prefix that the gateway does not read, each with the closest known name. */
export function unknownVariables(env: Readonly<Record<string, string | undefined>>): UnknownVariable[] {
  const known = Object.keys(CONFIG_VARIABLES);
  return Object.keys(env)
    .filter((name) => WATCHED_PREFIXES.some((prefix) => name.startsWith(prefix)) && !known.includes(name))
    .sort()
    .map((name) => {
      let closest: string | undefined;
      let best = MAX_SUGGESTION_DISTANCE + 1;
      for (const candidate of known) {
        const distance = editDistance(name, candidate);
        if (distance < best) {
          best = distance;
          closest = candidate;
        }
      }
      return { name, closest };
    });
}
