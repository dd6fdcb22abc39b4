// What a log line shows: a JSON line (as the sample services write) reads as its message
// and its other fields as `key=value`; the tag, level and time are shown beside it already.

/** Fields the row shows elsewhere (time, level, service-replica). */
const SHOWN_ELSEWHERE = new Set(['timestamp', 'time', 'ts', '@timestamp', 'level', 'lvl', 'severity', 'service', 'replica']);
const MESSAGE_KEYS = ['message', 'msg', 'event'];

export function displayText(text: string): string {
  const trimmed = text.trimStart();
  if (!trimmed.startsWith('{')) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    return text;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return text;
  const record = parsed as Record<string, unknown>;
  const messageKey = MESSAGE_KEYS.find((k) => typeof record[k] === 'string');
  const parts: string[] = messageKey ? [record[messageKey] as string] : [];
  for (const [key, value] of Object.entries(record)) {
    if (key === messageKey || SHOWN_ELSEWHERE.has(key)) continue;
    parts.push(`${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  }
  return parts.length ? parts.join('  ') : text;
}
