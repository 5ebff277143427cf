/**
 * The simulator's engine, shared by the HTTP server (./server.ts) and the in-process provider
 * (./SimulatedProvider.ts): rate limits (RPM/TPM over a sliding minute → 429 + Retry-After), a concurrency
 * limit (excess requests queue), injected failures (by rate, from a seeded PRNG, or scripted), the choice of
 * turn (scenario first, then policy), and usage with cached tokens from real prefix matching.
 */

import { SIM_MAX_CONCURRENCY, SIM_PER_TOKEN_MS, SIM_TTFT_MS } from '../../param.js';
import { mulberry32 } from '../../util/random.js';
import { countTokens } from '../tokenizer.js';
import { sampleJson } from './json-sample.js';
import { type Policy, reactPolicy, type SimTurn } from './policy.js';
import {
  BreakpointCache,
  type BreakpointResult,
  PrefixCache,
  type PrefixCacheOptions,
  type PromptBlock,
} from './prefix-cache.js';
import { type Scenario, ScenarioCursor, type ScriptedTurn, type SimRequest } from './scenario.js';

export type FailureKind =
  | 'server_error'
  | 'overloaded'
  | 'rate_limit'
  | 'timeout'
  | 'malformed_tool_arguments'
  | 'truncated_stream';

export interface SimulatorOptions {
  scenario?: Scenario;
  policy?: Policy;
  /** Seeds the policy's call ids and the failure PRNG. */
  seed?: number;
  latency?: { ttftMs?: number; perTokenMs?: number };
  /** Requests served at once; the rest wait in line. */
  concurrency?: number;
  rateLimit?: { rpm?: number; tpm?: number };
  /** Random failures: each request fails with probability `rate`, kind drawn from `kinds`. */
  failures?: { rate: number; kinds?: FailureKind[] };
  cache?: PrefixCacheOptions;
  /** Clock for rate-limit windows (tests pass a fake one). */
  now?: () => number;
  /** Starts in an outage (see SimEngine.outage). */
  outage?: Outage;
}

/**
 * A provider outage: every chat request fails with `status` (500/502/503 as the vendor's server error,
 * 429 with `Retry-After`) until `forMs` has passed on the engine's clock, or until `outage(null)`.
 */
export interface Outage {
  status: 429 | 500 | 502 | 503 | 529;
  forMs?: number;
  /** Sent as Retry-After (seconds, rounded up) and retry-after-ms. */
  retryAfterMs?: number;
}

export class SimHttpError extends Error {
  /** Set once the engine has counted it in `stats.errors`. */
  counted = false;
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly retryAfterMs?: number,
    /** OpenAI-shape `error.code` (DeepSeek repeats the type there). */
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface SimStats {
  requests: number;
  completed: number;
  errors: Record<string, number>;
  rateLimited: number;
  injectedFailures: number;
  inFlight: number;
  maxInFlight: number;
  promptTokens: number;
  cachedTokens: number;
  outputTokens: number;
  scenarioTurns: number;
  scenarioExhausted: number;
  /** Last wire bodies received (newest last, at most 20): tests check what the providers sent. */
  bodies: Array<{ route: string; preset: string; body: Record<string, unknown> }>;
}

export interface SimOutcome {
  turn: SimTurn;
  truncate: boolean;
  /** Never finish; a stream still delivers `turn.content` first (a mid-stream stall). */
  hang: boolean;
  promptTokens: number;
  /** OpenAI-rule cached tokens (chat completions). */
  cachedTokens: number;
  /** Anthropic-rule cache accounting (messages). */
  breakpoints?: BreakpointResult;
  outputTokens: number;
  reasoningTokens: number;
}

export class SimEngine {
  readonly stats: SimStats = {
    requests: 0,
    completed: 0,
    errors: {},
    rateLimited: 0,
    injectedFailures: 0,
    inFlight: 0,
    maxInFlight: 0,
    promptTokens: 0,
    cachedTokens: 0,
    outputTokens: 0,
    scenarioTurns: 0,
    scenarioExhausted: 0,
    bodies: [],
  };
  readonly prefixCache: PrefixCache;
  readonly breakpointCache: BreakpointCache;
  private cursor: ScenarioCursor | null;
  private readonly policy: Policy;
  private readonly seed: number;
  private readonly rand: () => number;
  private readonly now: () => number;
  private readonly window: Array<{ at: number; tokens: number }> = [];
  private readonly waiters: Array<() => void> = [];
  private down: (Outage & { until: number }) | null = null;
  opts: SimulatorOptions;

  constructor(opts: SimulatorOptions = {}) {
    this.opts = opts;
    this.cursor = opts.scenario ? new ScenarioCursor(opts.scenario) : null;
    this.policy = opts.policy ?? reactPolicy;
    this.seed = opts.seed ?? 1;
    this.rand = mulberry32(this.seed ^ 0x5eed);
    this.now = opts.now ?? Date.now;
    this.prefixCache = new PrefixCache(opts.cache);
    this.breakpointCache = new BreakpointCache(opts.cache);
    if (opts.outage) this.outage(opts.outage);
  }

  /** Starts (or, with null, ends) an outage; chat requests fail until it ends. */
  outage(o: Outage | null): void {
    this.down = o
      ? { ...o, until: o.forMs === undefined ? Number.POSITIVE_INFINITY : this.now() + o.forMs }
      : null;
  }

  /** True while an outage is on. */
  get inOutage(): boolean {
    if (this.down && this.now() >= this.down.until) this.down = null;
    return this.down !== null;
  }

  private checkOutage(): void {
    if (!this.inOutage || !this.down) return;
    const d = this.down;
    const msg =
      d.status === 429
        ? 'Rate limit reached for requests (simulated outage)'
        : d.status === 529
          ? 'Overloaded (simulated outage)'
          : `The server had an error while processing your request (simulated outage, HTTP ${d.status})`;
    this.fail(
      new SimHttpError(
        d.status,
        msg,
        d.status === 429 ? 'rate_limit_exceeded' : d.status === 529 ? 'overloaded_error' : 'server_error',
        d.retryAfterMs,
      ),
    );
  }

  /** Replaces the scenario (tests script each case on one running simulator). */
  script(scenario: Scenario | null): void {
    this.cursor = scenario ? new ScenarioCursor(scenario) : null;
  }

  get ttftMs(): number {
    return this.opts.latency?.ttftMs ?? SIM_TTFT_MS;
  }
  get perTokenMs(): number {
    return this.opts.latency?.perTokenMs ?? SIM_PER_TOKEN_MS;
  }

  record(route: string, preset: string, body: Record<string, unknown>): void {
    this.stats.requests++;
    this.stats.bodies.push({ route, preset, body });
    if (this.stats.bodies.length > 20) this.stats.bodies.shift();
  }

  fail(err: SimHttpError): never {
    this.count(err);
    throw err;
  }

  count(err: SimHttpError): void {
    if (err.counted) return;
    err.counted = true;
    this.stats.errors[String(err.status)] = (this.stats.errors[String(err.status)] ?? 0) + 1;
    if (err.status === 429) this.stats.rateLimited++;
  }

  /** RPM/TPM over the last 60 s of the engine's clock. */
  private checkRate(promptTokens: number): void {
    const rl = this.opts.rateLimit;
    if (!rl?.rpm && !rl?.tpm) return;
    const now = this.now();
    while (this.window.length && this.window[0]!.at <= now - 60_000) this.window.shift();
    const oldest = this.window[0]?.at ?? now;
    const retryAfterMs = Math.max(1, oldest + 60_000 - now);
    if (rl.rpm && this.window.length >= rl.rpm) {
      this.fail(
        new SimHttpError(
          429,
          `Rate limit reached: ${rl.rpm} requests per minute (simulator)`,
          'rate_limit_exceeded',
          retryAfterMs,
        ),
      );
    }
    const used = this.window.reduce((s, w) => s + w.tokens, 0);
    if (rl.tpm && used + promptTokens > rl.tpm && this.window.length > 0) {
      this.fail(
        new SimHttpError(
          429,
          `Rate limit reached: ${rl.tpm} tokens per minute (simulator)`,
          'tokens',
          retryAfterMs,
        ),
      );
    }
    this.window.push({ at: now, tokens: promptTokens });
  }

  async acquire(): Promise<void> {
    const limit = this.opts.concurrency ?? SIM_MAX_CONCURRENCY;
    while (this.stats.inFlight >= limit) await new Promise<void>((r) => this.waiters.push(r));
    this.stats.inFlight++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.stats.inFlight);
  }

  release(): void {
    this.stats.inFlight--;
    this.waiters.shift()?.();
  }

  private nextScripted(req: SimRequest): ScriptedTurn | undefined {
    if (!this.cursor) return undefined;
    const t = this.cursor.next(req);
    if (t) this.stats.scenarioTurns++;
    else this.stats.scenarioExhausted++;
    return t;
  }

  private injected(): FailureKind | undefined {
    const f = this.opts.failures;
    if (!f || f.rate <= 0 || this.rand() >= f.rate) return undefined;
    const kinds = f.kinds?.length ? f.kinds : (['server_error', 'overloaded'] as FailureKind[]);
    this.stats.injectedFailures++;
    return kinds[Math.floor(this.rand() * kinds.length)]!;
  }

  /**
   * Decides one request's outcome. Throws SimHttpError for HTTP-level failures. `prompt` is the token
   * sequence (OpenAI rules) or the block list (Anthropic rules); `pool` is the cache key.
   */
  decide(
    req: SimRequest,
    prompt: { tokens: number[] } | { blocks: PromptBlock[] },
    pool: string,
  ): SimOutcome {
    const promptTokens =
      'tokens' in prompt ? prompt.tokens.length : prompt.blocks.reduce((s, b) => s + b.tokens.length, 0);
    this.checkOutage();
    this.checkRate(promptTokens);
    const scripted = this.nextScripted(req);
    let truncate = false;
    let hang = false;
    let turn: SimTurn | undefined;
    const kind = scripted ? undefined : this.injected();
    if (scripted && 'error' in scripted) {
      this.fail(
        new SimHttpError(
          scripted.error.status,
          scripted.error.message ?? `scripted error ${scripted.error.status} (simulator)`,
          'scripted',
          scripted.error.retryAfterMs,
        ),
      );
    }
    if (kind === 'server_error')
      this.fail(new SimHttpError(500, 'injected internal server error (simulator)', 'server_error'));
    if (kind === 'overloaded')
      this.fail(new SimHttpError(503, 'injected overload (simulator)', 'overloaded'));
    if (kind === 'rate_limit')
      this.fail(new SimHttpError(429, 'injected rate limit (simulator)', 'rate_limit_exceeded', 1000));
    if ((scripted && 'hang' in scripted) || kind === 'timeout') hang = true;
    if (
      (scripted && 'malformed' in scripted && scripted.malformed === 'truncated_stream') ||
      (scripted && 'cut' in scripted && scripted.cut === true) ||
      kind === 'truncated_stream'
    )
      truncate = true;
    if (
      (scripted && 'malformed' in scripted && scripted.malformed === 'tool_arguments') ||
      kind === 'malformed_tool_arguments'
    ) {
      const name = req.tools[0]?.name ?? 'tool';
      turn = {
        content: '',
        toolCalls: [
          { id: `call_malformed_${this.stats.requests}`, name, arguments: '{"path": "unterminated' },
        ],
      };
    } else if (scripted && 'hang' in scripted && scripted.partialText) {
      turn = { content: scripted.partialText, toolCalls: [] };
    } else if (scripted && 'text' in scripted && !('toolCalls' in scripted)) {
      turn = {
        content: scripted.text,
        ...(scripted.reasoning ? { reasoning: scripted.reasoning } : {}),
        toolCalls: [],
      };
    } else if (scripted && 'toolCalls' in scripted) {
      turn = {
        content: scripted.text ?? '',
        ...(scripted.reasoning ? { reasoning: scripted.reasoning } : {}),
        toolCalls: scripted.toolCalls.map((tc, k) => ({
          id: tc.id ?? `call_s${this.stats.scenarioTurns}_${k}`,
          name: tc.name,
          arguments: typeof tc.arguments === 'string' ? tc.arguments : JSON.stringify(tc.arguments),
        })),
      };
    }
    // A scripted turn is played as written (a test may script JSON that breaks the schema); the policy's
    // answer is shaped to the requested format, as a constrained decoder would.
    if (!turn) {
      turn = this.policy(req, this.seed);
      if (req.responseFormat) turn = formatted(turn, req.responseFormat);
    }
    if (req.stop?.length) turn = stopAt(turn, req.stop);
    let cachedTokens = 0;
    let breakpoints: BreakpointResult | undefined;
    if ('tokens' in prompt) cachedTokens = this.prefixCache.lookupAndStore(prompt.tokens, pool);
    else {
      breakpoints = this.breakpointCache.lookupAndStore(prompt.blocks, pool);
      cachedTokens = breakpoints.read;
    }
    const reasoningTokens = turn.reasoning ? countTokens(turn.reasoning) : 0;
    const outputTokens =
      countTokens(turn.content) +
      reasoningTokens +
      turn.toolCalls.reduce((s, tc) => s + countTokens(tc.name) + countTokens(tc.arguments), 0);
    this.stats.promptTokens += promptTokens;
    this.stats.cachedTokens += cachedTokens;
    this.stats.outputTokens += outputTokens;
    return {
      turn,
      truncate,
      hang,
      promptTokens,
      cachedTokens,
      ...(breakpoints ? { breakpoints } : {}),
      outputTokens,
      reasoningTokens,
    };
  }
}

/**
 * A structured-output answer: the policy's text as `{"answer": …}` (JSON mode), or a value valid against
 * the schema (./json-sample.ts). A turn that calls tools is left alone: the format binds the final answer.
 */
export function formatted(turn: SimTurn, rf: NonNullable<SimRequest['responseFormat']>): SimTurn {
  if (turn.toolCalls.length) return turn;
  const value = rf.type === 'json_object' ? { answer: turn.content } : sampleJson(rf.schema);
  return { ...turn, content: JSON.stringify(value) };
}

/**
 * A vendor's stop sequences: generation ends where the earliest one begins — the text is cut before it and
 * nothing after it (no tool call) is produced.
 */
export function stopAt(turn: SimTurn, stop: string[]): SimTurn {
  let at = -1;
  let hit: string | undefined;
  for (const s of stop) {
    const i = s ? turn.content.indexOf(s) : -1;
    if (i >= 0 && (at < 0 || i < at)) {
      at = i;
      hit = s;
    }
  }
  if (hit === undefined) return turn;
  return { ...turn, content: turn.content.slice(0, at), toolCalls: [], stopSequence: hit };
}

/** Sleeps `ms` (nothing at all when 0, so a zero-latency simulator adds no timer hops). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> | undefined {
  if (ms <= 0) return undefined;
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
