/**
 * Scripted scenarios for tests: a list of turns the simulator plays back in order, one per request — text,
 * tool calls, HTTP errors, malformed output, or a hang (for timeouts). A scenario may also be a function of
 * the request. When a list runs out the simulator falls back to its policy and counts it in `stats`.
 */
import type { ChatMessage, ToolSpec } from '../model.js';

export type ScriptedTurn =
  /** `cut`: the answer is cut off halfway (a stream stops after some deltas, a body mid-JSON). */
  | { text: string; reasoning?: string; cut?: true }
  | {
      toolCalls: Array<{ name: string; arguments: Record<string, unknown> | string; id?: string }>;
      text?: string;
      reasoning?: string;
      cut?: true;
    }
  | { error: { status: number; message?: string; retryAfterMs?: number } }
  /** tool_arguments: a tool call whose arguments are cut-off JSON; truncated_stream: the body stops mid-way. */
  | { malformed: 'tool_arguments' | 'truncated_stream' }
  /**
   * Never finishes (until the client goes away): drives timeout and abort tests. With `partialText`, a
   * stream first delivers that text, then stalls (abort mid-stream).
   */
  | { hang: true; partialText?: string };

/** What the simulator knows about a request, whatever the wire dialect. */
export interface SimRequest {
  model: string;
  messages: ChatMessage[];
  tools: ToolSpec[];
  /** Preset whose dialect and quirks the request arrived through. */
  preset: string;
  stream: boolean;
  /** Anthropic: the request enabled extended thinking (answers start with a signed thinking block). */
  thinking?: boolean;
  /** OpenAI `stop` / Anthropic `stop_sequences`: the answer ends before the first one it contains. */
  stop?: string[];
  /**
   * OpenAI `response_format` / Anthropic `output_config.format`: the policy's answer comes back as JSON —
   * an object carrying it (json_object), or a value valid against the schema (json_schema).
   */
  responseFormat?: { type: 'json_object' } | { type: 'json_schema'; schema: Record<string, unknown> };
}

export type Scenario =
  | readonly ScriptedTurn[]
  | ((req: SimRequest, index: number) => ScriptedTurn | undefined);

/** Plays a scenario; `next` returns undefined when it is exhausted. */
export class ScenarioCursor {
  private n = 0;
  constructor(private readonly scenario: Scenario) {}

  next(req: SimRequest): ScriptedTurn | undefined {
    const i = this.n++;
    return typeof this.scenario === 'function' ? this.scenario(req, i) : this.scenario[i];
  }

  get played(): number {
    return this.n;
  }
}
