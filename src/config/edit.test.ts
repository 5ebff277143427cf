import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { appendMcpServer } from './edit.js';
import { parseConfigText } from './load.js';
import { CONFIG_TEMPLATE } from './template.js';

const entry = { name: 'memory', transport: 'stdio', command: 'npx', args: ['-y', 'pkg'], env: { K: 'v 1' } };

describe('appendMcpServer keeps the file as the user wrote it', () => {
  it('on the template: every other line (comments, alignment) is byte-identical', () => {
    const out = appendMcpServer(CONFIG_TEMPLATE, entry);
    const kept = CONFIG_TEMPLATE.split('\n').filter((l) => l !== '  servers: []');
    const outLines = out.split('\n');
    let i = 0;
    for (const l of kept) {
      i = outLines.indexOf(l, i);
      expect(i, `line lost or reordered: ${JSON.stringify(l)}`).toBeGreaterThanOrEqual(0);
    }
    const { config } = parseConfigText(out, 'out');
    expect(config.mcp.servers).toEqual([expect.objectContaining({ name: 'memory', env: { K: 'v 1' } })]);
  });

  it('appends to an existing block list and creates the keys when missing', () => {
    const one = appendMcpServer('# mine\ndata_dir: ./x   # here\n', entry);
    expect(one.startsWith('# mine\ndata_dir: ./x   # here\n')).toBe(true);
    const two = appendMcpServer(one, { ...entry, name: 'second' });
    expect(two.startsWith(one.trimEnd())).toBe(true);
    const js = parseDocument(two).toJS() as { mcp: { servers: Array<{ name: string }> } };
    expect(js.mcp.servers.map((s) => s.name)).toEqual(['memory', 'second']);
    const bare = appendMcpServer('mcp:\n  # nothing yet\nplugins: []\n', entry);
    expect((parseDocument(bare).toJS() as { mcp: { servers: unknown[] } }).mcp.servers).toHaveLength(1);
    expect(bare).toContain('# nothing yet');
  });
});
