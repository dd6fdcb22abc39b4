import { describe, expect, it } from 'vitest';
import { displayText } from './logtext';

describe('displayText', () => {
  it('shows a JSON line as its message and the remaining fields', () => {
    const line = '{"timestamp":"2026-11-26T03:16:14Z","level":"INFO","message":"listening","service":"users","replica":"0","addr":"127.0.0.1:35133"}';
    expect(displayText(line)).toBe('listening  addr=127.0.0.1:35133');
  });
  it('takes msg when there is no message, and prints non-string values as JSON', () => {
    expect(displayText('{"msg":"request","status":200,"took_ms":3.5,"tags":["a"]}')).toBe('request  status=200  took_ms=3.5  tags=["a"]');
  });
  it('leaves plain text and broken JSON alone', () => {
    expect(displayText('plain text')).toBe('plain text');
    expect(displayText('{not json')).toBe('{not json');
    expect(displayText('[1,2]')).toBe('[1,2]');
  });
  it('keeps the raw line when nothing is left to show', () => {
    expect(displayText('{"level":"info"}')).toBe('{"level":"info"}');
  });
});
