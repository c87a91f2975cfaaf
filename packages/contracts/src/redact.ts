/**
 * What a dead letter of a topic carrying raw user ids (clickstream, rec.requests) may keep: a
 * reviewer needs the reason, the offsets and the shape of the payload, never who sent it. The
 * raw id (the `userId` field) is replaced wherever it appears, the key (the raw id) is dropped,
 * quoted values in the detail are masked, and bytes that are not a JSON object are not kept.
 */
export const REDACTED = "[redacted]";

export interface DeadLetterView {
  key: string | null;
  value: Buffer;
  detail: string;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function scrub(v: unknown, rawId: string | undefined, depth: number): unknown {
  if (typeof v === "string") return rawId && v.includes(rawId) ? REDACTED : v;
  if (depth > 8 || typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) return v.map((x) => scrub(x, rawId, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[rawId && k.includes(rawId) ? REDACTED : k] = scrub(x, rawId, depth + 1);
  return out;
}

export function redactRawUserIds(dead: DeadLetterView): DeadLetterView {
  let parsed: unknown;
  try {
    parsed = JSON.parse(UTF8.decode(dead.value));
  } catch {
    parsed = undefined;
  }
  const isObject = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
  const rawField = isObject ? (parsed as Record<string, unknown>).userId : undefined;
  const rawId = typeof rawField === "string" && rawField.length > 0 ? rawField : undefined;
  let value = Buffer.alloc(0);
  if (isObject) {
    const clean = scrub(parsed, rawId, 0) as Record<string, unknown>;
    if ("userId" in clean) clean.userId = REDACTED;
    value = Buffer.from(JSON.stringify(clean), "utf8");
  }
  let detail = dead.detail.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, `"${REDACTED}"`);
  if (rawId) detail = detail.split(rawId).join(REDACTED);
  return { key: null, value, detail };
}
