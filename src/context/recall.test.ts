import { describe, expect, it } from 'vitest';
import { safeCountTokens } from './page.js';
import { readWindow } from './recall.js';
import { mulberry32 } from './workload.js';

describe('readWindow', () => {
  for (const known of [undefined, 'exact', 'low', 'high'] as const) {
    it(`reads a page piece by piece with the page table's count ${known ?? 'absent'}: within the cap, rebuilds the text`, () => {
      const rnd = mulberry32(9);
      const text = Array.from(
        { length: 400 },
        (_, i) =>
          `${i}: ${'lorem ipsum dolor '.repeat(Math.floor(rnd() * 20))}${rnd() < 0.05 ? '東京都の天気'.repeat(40) : ''}`,
      ).join('\n');
      const n = safeCountTokens(text);
      // 'low' is a wrong count (the table never under-counts, but the cut must stay within the cap anyway).
      const knownTokens =
        known === 'exact' ? n : known === 'low' ? Math.floor(n / 3) : known === 'high' ? n * 2 : undefined;
      let offset = 0;
      let rebuilt = '';
      for (let guard = 0; guard < 1000; guard++) {
        const w = readWindow('3.4', text, offset, 700, knownTokens);
        const m =
          /\n\[page 3\.4 continues: \d+ more characters; call recall with \{"page_id": "3\.4", "offset": (\d+)\}\]$/.exec(
            w,
          );
        const chunk = m ? w.slice(0, m.index) : w;
        expect(safeCountTokens(chunk)).toBeLessThanOrEqual(700);
        rebuilt += chunk;
        if (!m) break;
        offset = Number(m[1]);
      }
      expect(rebuilt).toBe(text);
    });
  }

  it('returns a page that fits whole as it is when its count is known', () => {
    const text = 'one line\ntwo lines';
    expect(readWindow('5.6', text, 0, 100, safeCountTokens(text) + 4)).toBe(text);
  });

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
