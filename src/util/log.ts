/**
 * The kernel's logger: leveled, to stderr, secrets redacted. `AOS_LOG=debug|info|warn|error|silent`.
 * `warnOnce` exists for conditions a user should hear about once per process (e.g. a missing extension).
 */
import { redact, redactString } from './redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export type LogSink = (
  level: Exclude<LogLevel, 'silent'>,
  scope: string,
  msg: string,
  fields?: Record<string, unknown>,
) => void;

const stderrSink: LogSink = (level, scope, msg, fields) => {
  const extra = fields && Object.keys(fields).length ? ` ${JSON.stringify(redact(fields))}` : '';
  process.stderr.write(`[aos ${level}] ${scope}: ${redactString(msg)}${extra}\n`);
};

let sink: LogSink = stderrSink;
let threshold: LogLevel =
  (process.env.AOS_LOG as LogLevel | undefined) ?? (process.env.VITEST ? 'warn' : 'info');
const warned = new Set<string>();

export function setLogSink(s: LogSink | null): void {
  sink = s ?? stderrSink;
}
export function setLogLevel(l: LogLevel): void {
  threshold = l;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  warnOnce(key: string, msg: string, fields?: Record<string, unknown>): void;
}

export function logger(scope: string): Logger {
  const emit = (level: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] >= ORDER[threshold]) sink(level, scope, msg, fields);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    warnOnce: (key, m, f) => {
      if (warned.has(key)) return;
      warned.add(key);
      emit('warn', m, f);
    },
  };
}
