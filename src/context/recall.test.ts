import { describe, expect, it } from 'vitest';
import { safeCountTokens } from './page.js';
import { readWindow } from './recall.js';
import { mulberry32 } from './workload.js';

describe('readWindow', () => {
  it('reads a page piece by piece: each piece within the token cap, the pieces rebuild the text', () => {
    const rnd = mulberry32(4);
    const text = Array.from(
      { length: 800 },
      (_, i) => `${i}: ${'abc def '.repeat(Math.floor(rnd() * 30))}${rnd() < 0.05 ? 'Z'.repeat(900) : ''}`,
    ).join('\n');
    let offset = 0;
    let rebuilt = '';
    for (let guard = 0; guard < 1000; guard++) {
      const w = readWindow('1.2', text, offset, 500);
      const m =
        /\n\[page 1\.2 continues: \d+ more characters; call recall with \{"page_id": "1\.2", "offset": (\d+)\}\]$/.exec(
          w,
        );
      const chunk = m ? w.slice(0, m.index) : w;
      expect(safeCountTokens(chunk)).toBeLessThanOrEqual(500);
      rebuilt += chunk;
      if (!m) break;
      offset = Number(m[1]);
    }
    expect(rebuilt).toBe(text);
    expect(() => readWindow('1.2', text, text.length + 1, 500)).toThrow(/outside page 1.2/);
  });
});
