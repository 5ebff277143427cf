/**
 * Every limit and default of the kernel, one line each (xv6's param.h). Subsystems import from here;
 * config.yaml may override the ones it names. Keep sections in subsystem order and add to your own.
 */

// ── server / paths ────────────────────────────────────────────────────────────────────────────────
export const DEFAULT_DATA_DIR = './.aos'; // root of embedded state: data, keys, anchors
export const DEFAULT_STORAGE_URL = 'pglite://./.aos/data'; // embedded PGlite under the data dir
export const DEFAULT_HOST = '127.0.0.1'; // API binds loopback unless config says otherwise
export const DEFAULT_PORT = 7878; // API + dashboard + /metrics
export const CONFIG_FILE = 'config.yaml'; // looked up in the working directory

// ── storage ───────────────────────────────────────────────────────────────────────────────────────
export const PG_POOL_MAX = 10; // connections in the PostgresDriver pool
export const PG_CONNECT_TIMEOUT_MS = 5_000; // fail fast when the server is down
export const MIGRATION_LOCK_KEY = 0x414f535f; // pg_advisory_xact_lock key guarding migrations ("AOS_")
export const PGLITE_LOCK_FILE = 'kernel.lock'; // lockfile inside the PGlite data dir
export const EMBEDDING_DIM = 256; // dimension of stored embeddings (local hashing embedder)
export const SNAPSHOT_EVERY_STEPS = 10; // state snapshot every K steps
export const STEP_LOG_RETAIN_SNAPSHOTS = 3; // keep step rows back to the 3rd-newest snapshot
export const TERMINATED_RETAIN_MS = 7 * 24 * 3600_000; // terminated processes' rows kept this long
export const LEASE_TTL_MS = 15_000; // default named-lease period (database clock)
export const RRF_K = 60; // reciprocal-rank-fusion constant for hybrid memory search
export const VECTOR_SEARCH_CANDIDATES = 50; // per-arm candidates fused by hybrid search

// ── llm ───────────────────────────────────────────────────────────────────────────────────────────
export const LLM_REQUEST_TIMEOUT_MS = 120_000; // per request
export const LLM_MAX_RETRIES = 4; // on 429 / 5xx / network errors
export const LLM_RETRY_BASE_MS = 500; // exponential backoff base, with full jitter
export const LLM_RETRY_MAX_MS = 30_000; // cap on one backoff wait (Retry-After may not exceed it)
export const CIRCUIT_FAILURE_THRESHOLD = 5; // consecutive failures that open a provider's circuit
export const CIRCUIT_OPEN_MS = 30_000; // how long the circuit stays open before a half-open probe
export const SIM_DEFAULT_PORT = 7979; // `aos sim-llm` default port

// ── kernel / scheduler ────────────────────────────────────────────────────────────────────────────
export const PRIORITY_MIN = 0; // most urgent (as in the seeds)
export const PRIORITY_MAX = 99; // least urgent
export const PRIORITY_DEFAULT = 50;
export const DEFAULT_MAX_STEPS = 50; // step limit of the built-in ReAct program
export const DEFAULT_SLOTS_PER_MODEL = 4; // concurrent LLM calls per model (the "CPUs")
export const KILL_GRACE_MS = 5_000; // graceful kill before it is forced

// ── context ───────────────────────────────────────────────────────────────────────────────────────
export const OUTPUT_RESERVE_TOKENS = 4_096; // window space kept free for the model's answer

// ── io / security ─────────────────────────────────────────────────────────────────────────────────
export const TOOL_TIMEOUT_MS = 30_000; // default per tool call
export const TOOL_OUTPUT_MAX_BYTES = 1_000_000; // hard cap on captured tool output
export const APPROVAL_TIMEOUT_MS = 10 * 60_000; // an unanswered approval is denied after this

// ── api ───────────────────────────────────────────────────────────────────────────────────────────
export const API_BODY_LIMIT_BYTES = 1_048_576; // request bodies above this are refused
