/**
 * The shape of config.yaml. Keys are snake_case as in the seeds; unknown keys are errors (a typo must not
 * be silently ignored). Each subsystem owns its section; defaults come from src/param.ts.
 */
import { z } from 'zod';
import * as P from '../param.js';

const modelEntry = z.strictObject({
  name: z.string().min(1),
  provider: z.string().min(1),
  base_url: z.string().url().optional(),
  api_key: z.string().optional(),
  /** Concurrent calls allowed to this model (scheduler slots). */
  max_concurrency: z.number().int().positive().optional(),
  context_window: z.number().int().positive().optional(),
  max_output_tokens: z.number().int().positive().optional(),
  /** Anthropic extended thinking: tokens the model may think before answering (≥ 1024; absent = off). */
  thinking_budget_tokens: z.number().int().min(P.ANTHROPIC_MIN_THINKING_TOKENS).optional(),
  /** Models (names from llms.models or the catalogue) tried in order when this one is unavailable. */
  fallbacks: z.array(z.string().min(1)).optional(),
  /** Agent steps stream from this model (default: llms.stream for its provider, else true). */
  stream: z.boolean().optional(),
});

const rateLimit = z.strictObject({
  rpm: z.number().positive().optional(),
  tpm: z.number().positive().optional(),
});

/**
 * The default policy, the same with or without a config file (config.example.yaml spells it out):
 * `shell` waits for a human, the usual secret files are blocked. docs/security.md documents it.
 */
export const DEFAULT_ASK_TOOLS = ['shell'];
export const DEFAULT_BLOCKED_PATHS = ['~/.ssh', '/etc/shadow'];

const policySection = z.strictObject({
  permission_level: z.enum(['readonly', 'standard', 'elevated', 'admin']).default('standard'),
  allowed_paths: z.array(z.string()).default([]),
  blocked_paths: z.array(z.string()).default(() => [...DEFAULT_BLOCKED_PATHS]),
  network_allow: z.array(z.string()).default([]),
  allowed_tools: z.array(z.string()).optional(),
  ask_tools: z.array(z.string()).default(() => [...DEFAULT_ASK_TOOLS]),
  max_memory_mb: z.number().int().positive().default(512),
  max_cpu_seconds: z.number().int().positive().default(30),
  max_processes: z.number().int().positive().default(64),
  max_file_size_mb: z.number().int().positive().default(64),
  max_wall_seconds: z.number().int().positive().default(60),
  /** A shared workspace's name (`<security.workspace>/shared/<name>`); absent: one workspace per process. */
  workspace: z
    .string()
    .regex(
      /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/,
      "a name: letters, digits, '_', '.', '-' (1–64, not starting with '.')",
    )
    .optional(),
});

/** One `cli_tools:` entry: a name from the shipped set (git_log, git_status, jq) or a declaration. */
export const cliToolEntrySchema = z.union([
  z.string().min(1),
  z.strictObject({
    name: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'lowercase letters, digits and _ (tool names)'),
    description: z.string().min(1),
    /** The program, looked up on PATH inside the sandbox; never run through a shell. */
    command: z.string().min(1),
    /** argv template: literals, `{param}` as one element, `--flag={param}` inside one (src/io/cli-tool.ts). */
    args: z.array(z.string()).default([]),
    params: z
      .record(
        z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/),
        z.strictObject({
          type: z.enum(['string', 'number', 'integer', 'boolean', 'array']).default('string'),
          description: z.string().optional(),
          optional: z.boolean().default(false),
        }),
      )
      .default({}),
    /** A param whose value is fed to the program's stdin. */
    stdin: z.string().optional(),
    network: z.boolean().default(false),
    writes: z.boolean().default(true),
    timeout_ms: z.number().int().positive().optional(),
  }),
]);

/** A named agent profile (`agents:`), spawnable by name: `aos run --agent NAME`, the API, the dashboard. */
export const agentProfileSchema = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9_.-]{1,64}$/, 'letters, digits, _ . and - only (at most 64)'),
  description: z.string().optional(),
  model: z.string().min(1).optional(),
  /** Persona/system prompt, placed ahead of the built-in agent's own instructions. */
  system: z.string().min(1).optional(),
  /** The tools it may use (the policy's allowed_tools); absent: every tool the policy allows. */
  tools: z.array(z.string().min(1)).optional(),
  /** Policy keys (as in security.default_policy) that differ from the default for this agent. */
  policy: policySection.partial().optional(),
  budgets: z
    .strictObject({
      max_tokens: z.number().int().positive().optional(),
      max_cost_usd: z.number().positive().optional(),
      max_steps: z.number().int().positive().optional(),
      max_wall_ms: z.number().int().positive().optional(),
    })
    .optional(),
  priority: z.number().int().min(0).max(99).optional(),
  /** Learning for this profile's processes (lessons at spawn, distillation at exit); absent: learning.enabled. */
  learning: z.boolean().optional(),
});

const gatewayBudget = z.strictObject({
  max_tokens: z.number().int().positive().optional(),
  max_cost_usd: z.number().positive().optional(),
  max_calls: z.number().int().positive().optional(),
});

const gatewayTenant = z.strictObject({
  ...gatewayBudget.shape,
  /** Calls of this tenant in flight at once (the rest queue). */
  max_concurrency: z.number().int().positive().optional(),
  /** Model names this tenant may call (empty: all). */
  models: z.array(z.string().min(1)).default([]),
  priority: z.number().int().min(0).max(99).optional(),
});

/** One `mcp.servers[]` entry; the API's `POST /mcp/servers` body has the same shape. */
export const mcpServerSchema = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9_-]+$/, 'letters, digits, _ and - only'),
  transport: z.enum(['stdio', 'http']).optional(),
  command: z.string().optional(),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  url: z.string().url().optional(),
  headers: z.record(z.string(), z.string()).default({}),
  sandbox: z.boolean().default(true),
  timeout_ms: z.number().int().positive().optional(),
});

export const configSchema = z.strictObject({
  /** Where embedded state, keys and audit anchors live. */
  data_dir: z.string().default(P.DEFAULT_DATA_DIR),
  api_keys: z.record(z.string(), z.string()).default({}),
  llms: z
    .strictObject({
      models: z.array(modelEntry).default([]),
      /**
       * Whether agent steps stream from the provider (tokens on the event stream as they arrive): true or
       * false for every provider, or per provider name (`{ ollama: false }`, others stay on). A model's own
       * `stream:` wins. Internal calls (summaries, lessons) never stream.
       */
      stream: z.union([z.boolean(), z.record(z.string().min(1), z.boolean())]).default(true),
      /** Retries inside one model call before the error reaches the scheduler (which then parks the process). */
      retry: z
        .strictObject({
          max_retries: z.number().int().nonnegative().default(P.LLM_MAX_RETRIES),
          base_ms: z.number().int().positive().default(P.LLM_RETRY_BASE_MS),
          max_ms: z.number().int().positive().default(P.LLM_RETRY_MAX_MS),
        })
        .optional(),
      /** A provider endpoint's circuit opens after `threshold` consecutive failures, for `open_ms`. */
      circuit: z
        .strictObject({
          threshold: z.number().int().positive().default(P.CIRCUIT_FAILURE_THRESHOLD),
          open_ms: z.number().int().positive().default(P.CIRCUIT_OPEN_MS),
        })
        .optional(),
    })
    .default({ models: [], stream: true }),
  default_model: z.string().optional(),
  /**
   * The embedding model behind memory search, recall-by-query and prefetch (docs/context.md). Absent: the
   * local lexical hashing embedder. Vectors carry the model's id; `aos memory reembed` moves old ones over.
   */
  embeddings: z
    .strictObject({
      /** A preset with an embeddings API: openai, qwen, ollama, vllm, siliconflow, together, simulated, … */
      provider: z.string().min(1),
      model: z.string().min(1),
      base_url: z.string().url().optional(),
      api_key: z.string().optional(),
      /** Ask the model for this many dimensions (OpenAI text-embedding-3, Qwen text-embedding-v3/v4). */
      dimensions: z.number().int().positive().max(16_000).optional(),
      /** Texts per request (DashScope's text-embedding-v3 takes at most 10). */
      batch_size: z.number().int().positive().max(P.EMBED_MAX_INPUTS).optional(),
    })
    .optional(),
  storage: z
    .strictObject({
      url: z
        .string()
        .regex(
          /^(pglite:\/\/|postgres:\/\/|postgresql:\/\/|memory:\/\/)/,
          'pglite://PATH, memory:// or postgres://…',
        )
        .default(P.DEFAULT_STORAGE_URL),
      pool_max: z.number().int().positive().default(P.PG_POOL_MAX),
      /** PGlite in a worker thread (its statements on another core); unset: AOS_PGLITE_WORKER, else false. */
      pglite_worker: z.boolean().optional(),
      snapshot_every_steps: z.number().int().positive().default(P.SNAPSHOT_EVERY_STEPS),
      /** Process lease period of a node on a server URL: a dead node's processes move after this long. */
      lease_s: z
        .number()
        .positive()
        .default(P.LEASE_TTL_MS / 1000),
    })
    .prefault({}),
  server: z
    .strictObject({
      host: z.string().default(P.DEFAULT_HOST),
      port: z.number().int().min(0).max(65535).default(P.DEFAULT_PORT),
      cors_origins: z.array(z.string()).default([]),
      demo_agents: z.boolean().default(true),
    })
    .prefault({}),
  /** The OpenAI/Anthropic-compatible endpoints (src/gateway): sessions are processes of program `gateway`. */
  gateway: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Where a session's identity may come from, besides the `x-aos-session` header (always honoured). */
      session_from: z.array(z.enum(['user', 'prompt_cache_key', 'metadata.user_id'])).default([]),
      queue_timeout_ms: z.number().int().positive().default(P.GATEWAY_QUEUE_TIMEOUT_MS),
      max_queued: z.number().int().positive().default(P.GATEWAY_MAX_QUEUED),
      session_idle_ms: z.number().int().positive().default(P.GATEWAY_SESSION_IDLE_MS),
      priority: z.number().int().min(0).max(99).default(P.GATEWAY_PRIORITY),
      /** Journal replay for every session (else per session with the `x-aos-replay: 1` header). */
      replay: z.boolean().default(false),
      /** An exhausted budget: answer an error (402/429), or suspend the session until an operator resumes it. */
      on_budget: z.enum(['error', 'suspend']).default('error'),
      session_budget: gatewayBudget.prefault({}),
      tenants: z.record(z.string().regex(/^[a-zA-Z0-9_.-]{1,64}$/), gatewayTenant).default({}),
      /** How long a stored /v1/responses response (`store` omitted or true) is kept and chainable by `previous_response_id`. */
      response_retention_days: z.number().positive().default(P.GATEWAY_RESPONSE_RETENTION_DAYS),
    })
    .prefault({}),
  scheduler: z
    .strictObject({
      policy: z.enum(['fair', 'fifo', 'round_robin']).default('fair'),
      /** 'auto': per model, from its provider's rate limits × learned latency (src/scheduler/slots.ts). */
      slots_per_model: z.union([z.number().int().positive(), z.literal('auto')]).default('auto'),
      time_slice_steps: z.number().int().positive().default(P.TIME_SLICE_STEPS),
      time_slice_tokens: z.number().int().positive().default(P.TIME_SLICE_TOKENS),
      aging_ms: z.number().int().positive().default(P.AGING_MS),
      rate_limits: z.record(z.string(), rateLimit).default({}),
      /** Budgets of all processes together — of all nodes together on a cluster; exhausted, processes pause. */
      budget: z
        .strictObject({
          max_tokens: z.number().int().positive().optional(),
          max_cost_usd: z.number().positive().optional(),
        })
        .prefault({}),
      /** A process parked on a provider outage retries after base·2^n ms (jittered), at most max (Retry-After wins). */
      provider_retry_base_ms: z.number().int().positive().default(P.PROVIDER_PARK_BASE_MS),
      provider_retry_max_ms: z.number().int().positive().default(P.PROVIDER_PARK_MAX_MS),
    })
    .prefault({}),
  context: z
    .strictObject({
      replacer: z.enum(['scored', 'seeds', 'append-only']).default('scored'),
      high_water: z.number().gt(0).lte(1).default(P.CTX_HIGH_WATER),
      low_water: z.number().gt(0).lt(1).default(P.CTX_LOW_WATER),
      output_reserve_tokens: z.number().int().nonnegative().default(P.OUTPUT_RESERVE_TOKENS),
      /** Who summarises evicted spans: the agent's own model (charged to its budget) or extractive rules. */
      summarizer: z.enum(['model', 'extractive']).default('model'),
    })
    .refine((c) => c.low_water < c.high_water, {
      message: 'low_water must be below high_water',
      path: ['low_water'],
    })
    .prefault({}),
  security: z
    .strictObject({
      sandbox: z.enum(['auto', 'bubblewrap', 'none', 'docker']).default('auto'),
      /** The `docker` sandbox's engine and image (docs/security.md, DockerSandbox). */
      container: z
        .strictObject({
          /** `docker`, `podman`, or a path to either client. */
          engine: z.string().min(1).default('docker'),
          /** Present in the engine's storage (commands never pull). */
          image: z.string().min(1).default('debian:stable-slim'),
        })
        .prefault({}),
      /** Where workspaces live: `proc/<pid>/` per process, `shared/<name>/` for named ones (docs/security.md). */
      workspace: z.string().default('./workspace'),
      /**
       * false (the default): each process works in its own `workspace/proc/<pid>`; true: every process in
       * `workspace` itself, as before per-process workspaces (one agent's files are every agent's).
       */
      shared_workspace: z.boolean().default(false),
      default_policy: policySection.prefault({}),
      approval_timeout_s: z
        .number()
        .int()
        .positive()
        .default(P.APPROVAL_TIMEOUT_MS / 1000),
      audit_anchor_interval_s: z.number().int().positive().default(60),
    })
    .prefault({}),
  mcp: z.strictObject({ servers: z.array(mcpServerSchema).default([]) }).prefault({}),
  /** Agent-native CLI tools offered to every agent (under its policy), registered as `cli.<name>`. */
  cli_tools: z.array(cliToolEntrySchema).default([]),
  agents: z
    .array(agentProfileSchema)
    .default([])
    .refine((a) => new Set(a.map((p) => p.name)).size === a.length, {
      message: 'agent profile names must be unique',
    }),
  plugins: z
    .array(
      z.union([
        z.string(),
        z.strictObject({ module: z.string(), options: z.record(z.string(), z.unknown()).default({}) }),
      ]),
    )
    .default([]),
  /**
   * OpenTelemetry traces (docs/kernel.md#tracing): a span per step, model call and tool call with the
   * GenAI semantic-convention attributes, exported over OTLP/HTTP (JSON) to `otlp_endpoint`. Off unless set.
   */
  telemetry: z
    .strictObject({
      /** e.g. http://127.0.0.1:4318/v1/traces (a collector, Jaeger, Tempo, Phoenix, Langfuse…). */
      otlp_endpoint: z.string().url().optional(),
      headers: z.record(z.string(), z.string()).default({}),
      service_name: z.string().min(1).default('agent-os-kernel'),
    })
    .prefault({}),
  /** Experience accumulation (docs/learning.md): lessons distilled at exit, offered to similar tasks. */
  learning: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** At most this many lessons per new process, within max_chars of prompt text. */
      lessons_k: z.number().int().min(0).max(20).default(P.LESSONS_K),
      max_chars: z.number().int().positive().max(20_000).default(P.LESSONS_MAX_CHARS),
      min_similarity: z.number().min(0).max(1).default(P.LESSONS_MIN_SIMILARITY),
    })
    .prefault({}),
});

export type AosConfig = z.infer<typeof configSchema>;
export type AosConfigInput = z.input<typeof configSchema>;
export type ModelConfigEntry = z.infer<typeof modelEntry>;
export type AgentProfileConfig = z.infer<typeof agentProfileSchema>;
export type McpServerConfig = z.infer<typeof mcpServerSchema>;
export type PolicyConfig = z.infer<typeof policySection>;
export type GatewayConfig = z.infer<typeof configSchema>['gateway'];
export type GatewayTenantConfig = z.infer<typeof gatewayTenant>;
