import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { appendMcpServer, removeMcpServer } from './edit.js';
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

describe('removeMcpServer takes out one entry and nothing else', () => {
  const file = [
    '# top',
    'mcp:',
    '  # servers we use',
    '  servers:',
    '    - name: fs # files',
    '      command: npx',
    '      args: [a, b]',
    '    # memory one',
    '    - name: mem',
    '      command: node',
    '# tail comment',
    'plugins: []',
    '',
  ].join('\n');
  const names = (t: string) => parseConfigText(t, 'x').config.mcp.servers.map((s) => s.name);

  it('removes the first, the last and then the only entry; comments stay, the file still loads', () => {
    const noFs = removeMcpServer(file, 'fs');
    expect(names(noFs)).toEqual(['mem']);
    expect(noFs).toBe(file.replace('    - name: fs # files\n      command: npx\n      args: [a, b]\n', ''));
    const noMem = removeMcpServer(file, 'mem');
    expect(names(noMem)).toEqual(['fs']);
    expect(noMem).toContain('# memory one'); // a comment above the entry is the user's, it stays
    expect(noMem).toContain('# tail comment');
    const none = removeMcpServer(noMem, 'fs');
    expect(names(none)).toEqual([]);
    expect(none).toContain('  servers: []\n');
    expect(none).toContain('# servers we use');
    expect(none).toContain('# tail comment\nplugins: []');
  });

  it('leaves a file without that name byte-identical, and edits a flow list', () => {
    expect(removeMcpServer(file, 'nope')).toBe(file);
    expect(removeMcpServer('data_dir: ./x\n', 'fs')).toBe('data_dir: ./x\n');
    const flow = removeMcpServer(
      'mcp:\n  servers: [{name: a, command: x}, {name: b, command: y}] # two\n',
      'a',
    );
    expect(names(flow)).toEqual(['b']);
    expect(flow).toContain('# two');
    const appended = appendMcpServer(file, entry);
    expect(removeMcpServer(appended, 'memory')).toBe(file);
  });
});
