/**
 * A plain-data picture of Redis state under a namespace, used to compare the real store with
 * the reference model (and a run with a crash with a run without one).
 */
export type KeyValue =
  | { type: "string"; value: string }
  | { type: "hash"; value: Record<string, string> }
  | { type: "set"; value: string[] }
  /** Sorted by (score, member), as Redis orders them. */
  | { type: "zset"; value: [string, number][] }
  | { type: "stream"; value: Record<string, string>[] };

export type Snapshot = Map<string, KeyValue>;

function close(a: number, b: number, relTol: number): boolean {
  return a === b || Math.abs(a - b) <= relTol * Math.max(Math.abs(a), Math.abs(b), 1);
}

function same(a: KeyValue, b: KeyValue, relTol: number): string | undefined {
  if (a.type !== b.type) return `type ${a.type} ≠ ${b.type}`;
  switch (a.type) {
    case "string":
      return a.value === b.value ? undefined : `${JSON.stringify(a.value)} ≠ ${JSON.stringify(b.value)}`;
    case "set":
    case "hash":
    case "stream":
      return JSON.stringify(a.value) === JSON.stringify(b.value)
        ? undefined
        : `${JSON.stringify(a.value).slice(0, 300)} ≠ ${JSON.stringify(b.value).slice(0, 300)}`;
    case "zset": {
      // Float scores (log-sum-exp popularity) depend on the order of additions at the last bits.
      const bv = (b as { value: [string, number][] }).value;
      const bm = new Map(bv);
      if (a.value.length !== bv.length) return `${a.value.length} members ≠ ${bv.length}`;
      for (const [m, s] of a.value) {
        const t = bm.get(m);
        if (t === undefined) return `member ${m} missing`;
        if (!close(s, t, relTol)) return `member ${m}: score ${s} ≠ ${t}`;
      }
      return undefined;
    }
  }
}

/** Differences between two snapshots (empty when equal); scores compared with a relative tolerance. */
export function diffSnapshots(
  expected: Snapshot,
  actual: Snapshot,
  options: { relTol?: number; limit?: number } = {},
): string[] {
  const relTol = options.relTol ?? 1e-9;
  const limit = options.limit ?? 20;
  const out: string[] = [];
  for (const [key, value] of expected) {
    const other = actual.get(key);
    if (!other) out.push(`missing ${key}`);
    else {
      const d = same(value, other, relTol);
      if (d) out.push(`${key}: ${d}`);
    }
    if (out.length >= limit) return out;
  }
  for (const key of actual.keys()) {
    if (!expected.has(key)) out.push(`unexpected ${key}`);
    if (out.length >= limit) return out;
  }
  return out;
}

/** The same snapshot with its key prefix replaced, to compare two namespaces. */
export function renamespace(snapshot: Snapshot, fromPrefix: string, toPrefix: string): Snapshot {
  const out: Snapshot = new Map();
  for (const [k, v] of snapshot) out.set(k.startsWith(fromPrefix) ? toPrefix + k.slice(fromPrefix.length) : k, v);
  return out;
}
