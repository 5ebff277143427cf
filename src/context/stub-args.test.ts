import { describe, expect, it } from 'vitest';
import { CTX_STUB_MAX_TOKENS } from '../param.js';
import { ContextManager } from './manager.js';
import { callLabel, safeCountTokens } from './page.js';
import { buildStub, type SpanPage, type Summarizer } from './summarizer.js';

// After compaction the model must still know which file or URL a stub stands for: the stub line and the
// summariser's input name the tool and its key arguments, for the call and for its (possibly empty) result.
describe('compaction keeps what a stub stands for', () => {
  it('stubs and summaries name the tool and its path/URL', async () => {
    const seen: SpanPage[][] = [];
    const summarizer: Summarizer = {
      name: 'capture',
      async summarize(pages) {
        seen.push([...pages]);
        return 'earlier reads';
      },
    };
    const cm = new ContextManager({ summarizer });
    cm.open(1, { contextWindow: 3000, outputReserve: 300, system: 'sys', task: 'read the notes' });
    for (let i = 0; i < 40; i++) {
      const id = `c${i}`;
      const args = i % 2 ? { url: `https://example.com/doc/${i}` } : { path: `notes/file-${i}.txt` };
      cm.append(1, {
        kind: 'assistant',
        content: '',
        toolCalls: [{ id, name: i % 2 ? 'http_get' : 'read_file', arguments: JSON.stringify(args) }],
      });
      // Every fourth result is empty: its stub must still say which file it was.
      cm.appendToolResult(1, {
        toolCallId: id,
        name: i % 2 ? 'http_get' : 'read_file',
        output: i % 4 === 0 ? '' : `contents of item ${i} `.repeat(20),
      });
      await cm.prepare(1);
    }
    const stubs = cm
      .render(1, { record: false })
      .messages.filter((m) => m.content.startsWith('[context:'))
      .map((m) => m.content)
      .join('\n');
    expect(stubs).toContain('tool_result read_file(path=notes/file-0.txt)');
    expect(stubs).toContain('assistant → read_file(path=notes/file-0.txt)');
    expect(stubs).not.toMatch(/tool_result read_file, \d+ tokens: \(empty\)/);
    expect(seen.length).toBeGreaterThan(0);
    const lines = seen.flat();
    const call = lines.find((p) => p.kind === 'assistant');
    expect(call?.content).toMatch(
      /^called (read_file\(path=notes\/file-\d+\.txt\)|http_get\(url=https:\/\/example\.com\/doc\/\d+\))$/,
    );
    const result = lines.find((p) => p.kind === 'tool_result' && p.name === 'http_get');
    expect(result?.call).toMatch(/^http_get\(url=https:\/\/example\.com\/doc\/\d+\)$/);
  });

  it('a stub over its token cap keeps the newest pages listed (elides the middle, never the end)', () => {
    const entries = Array.from({ length: 10 }, (_, i) => ({
      id: `1.${i}`,
      label: `1.${i} tool_result read_file(path=notes/file-${i}.txt), 300 tokens`,
      line: `line ${i} `.repeat(12).trim(),
      tokens: 300,
    }));
    const text = buildStub(entries, 'a long summary '.repeat(200));
    expect(safeCountTokens(text)).toBeLessThanOrEqual(CTX_STUB_MAX_TOKENS);
    expect(text).toContain('1.9 tool_result read_file(path=notes/file-9.txt)');
    expect(text).toContain('1.8 tool_result read_file(path=notes/file-8.txt)');
    expect(text).toMatch(/- … \d+ more pages \(1\.\d … 1\.\d\)/);
  });

  it('callLabel picks the key arguments and bounds the length', () => {
    expect(callLabel({ name: 'read_file', arguments: '{"path":"a/b.ts","encoding":"utf8"}' })).toBe(
      'read_file(path=a/b.ts)',
    );
    expect(callLabel({ name: 'shell', arguments: '{"command":"ls -la","timeout":5}' })).toBe(
      'shell(command=ls -la)',
    );
    expect(callLabel({ name: 'custom', arguments: '{"topic":"x"}' })).toBe('custom(topic=x)');
    expect(callLabel({ name: 'broken', arguments: '{"path": "unterminated' })).toBe('broken');
    expect(
      callLabel({ name: 'f', arguments: JSON.stringify({ path: 'x'.repeat(500) }) }).length,
    ).toBeLessThanOrEqual(100);
  });
});
