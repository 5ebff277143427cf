/** Every CLI command, in the order `aos --help` lists them. Add one line per command module. */
import type { Command } from 'commander';
import { register as approvals } from './approvals.js';
import { register as audit } from './audit.js';
import { register as bench } from './bench.js';
import { register as checkpoint } from './checkpoint.js';
import { register as config } from './config.js';
import { register as learning } from './learning.js';
import { register as logs } from './logs.js';
import { register as mcp } from './mcp.js';
import { register as models } from './models.js';
import { register as proc } from './proc.js';
import { register as ps } from './ps.js';
import { register as run } from './run.js';
import { register as shell } from './shell.js';
import { register as simLlm } from './sim-llm.js';
import { register as start } from './start.js';
import { register as tools } from './tools.js';
import { register as top } from './top.js';

export const COMMANDS: Array<(program: Command) => void> = [
  start,
  config,
  run,
  models,
  simLlm,
  audit,
  bench,
  ps,
  top,
  proc,
  approvals,
  logs,
  checkpoint,
  shell,
  tools,
  mcp,
  learning,
];
