/**
 * main.ts loads only the module of the command being run, found by name in COMMANDS: a module that
 * registers a command its entry does not name would make that command slow (every module loads), and an
 * entry naming a command its module lacks would make `aos <name>` unknown. Both are caught here.
 */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMANDS, commandsFor } from './index.js';

describe('CLI command table', () => {
  it('each entry names exactly the top-level commands its module registers', async () => {
    for (const entry of COMMANDS) {
      const program = new Command('aos');
      (await entry.load()).register(program);
      expect(program.commands.map((c) => c.name()).sort()).toEqual([...entry.names].sort());
    }
  });

  it('picks the named command past root options, and everything for help or an unknown word', () => {
    const ps = COMMANDS.find((c) => c.names.includes('ps'));
    expect(commandsFor(['ps'])).toEqual([ps]);
    expect(commandsFor(['-c', 'ps', 'ps', '--json'])).toEqual([ps]); // `-c ps` is a config file named ps
    expect(commandsFor(['--config', 'x.yaml', 'kill', '3']).map((c) => c.names)).toEqual([
      ['kill', 'suspend', 'resume'],
    ]);
    expect(commandsFor(['--help'])).toBe(COMMANDS);
    expect(commandsFor([])).toBe(COMMANDS);
    expect(commandsFor(['no-such-command'])).toBe(COMMANDS);
  });
});
