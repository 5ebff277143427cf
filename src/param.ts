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
export const PG_POOL_MAX = 20; // connections in the PostgresDriver pool (10 were all busy at 200 agents, 13 queued)
export const PG_CONNECT_TIMEOUT_MS = 5_000; // fail fast when the server is down
export const SQL_INSERT_BATCH_ROWS = 200; // memories / vectors written per multi-row INSERT
export const REEMBED_BATCH_ROWS = 100; // memories re-embedded per batch by `aos memory reembed` (one request, one UPDATE)
export const MIGRATION_LOCK_KEY = 0x414f535f; // pg_advisory_xact_lock key guarding migrations ("AOS_")
export const AUDIT_LOCK_CLASS = 0x41554454; // advisory-lock class of audit streams ("AUDT"; the second key is hashtext(schema:stream), so kernels in other schemas of one database never wait on each other)
export const PGLITE_LOCK_FILE = 'kernel.lock'; // lockfile inside the PGlite data dir
export const PGLITE_LOCK_REFRESH_MS = 2_000; // the holder touches the lockfile this often (from a worker thread)
export const PGLITE_LOCK_STALE_MS = 15_000; // a lock from another pid namespace untouched this long is stale
export const PGLITE_TEMPLATE_ENV = 'AOS_PGLITE_TEMPLATE'; // dir of a migrated PGlite that new databases start from
// PGlite runs inside the kernel's process: its buffer pool is our RSS. initdb sizes shared_buffers for a
// server (128MB); an embedded kernel's working set (process rows, the step log's tail, audit heads) fits in
// 16MB, and the data dir's files are in the OS page cache anyway. Measured: reopen RSS 301 → 180 MiB.
export const PGLITE_YIELD_MS = 10; // queued PGlite statements run this long, then let the event loop take a turn
export const PGLITE_WORKER_DEFAULT = false; // storage.pglite_worker unset: PGlite on the kernel's thread (the worker costs +18-47 % CPU, +30 MiB peak RSS: docs/storage.md)
export const PGLITE_WORKER_ENV = 'AOS_PGLITE_WORKER'; // 1/0: the default for storage.pglite_worker (config wins)
export const PGLITE_PREPARED_MAX = 256; // named prepared statements PGlite's backend keeps (LRU): the kernel's SQL texts, parsed and planned once
export const PGLITE_SETTINGS = ['shared_buffers=16MB', 'temp_buffers=2MB', 'maintenance_work_mem=16MB'];
// An embedded kernel's JS heap: V8 lets the old generation grow to up to 4× what survived the last full
// collection before collecting again (its factor for a machine with a large heap limit). With 200 agents the
// heap peaked at 175–232 MiB over ~55–75 MiB live: per-step garbage that outlived the young generation
// (requests held across a model call's wait). A fixed factor of 1.3 keeps it near the live set. Applied
// (v8.setFlagsFromString, process-wide) when a PGlite store opens, unless the process was started with its
// own heap growth flag or AOS_HEAP_GROWING_PERCENT says otherwise (0 = V8's default). See docs/storage.md.
export const PGLITE_HEAP_GROWING_PERCENT = 30;
export const HEAP_GROWING_ENV = 'AOS_HEAP_GROWING_PERCENT';
// PGlite's WASM on V8's baseline compiler only (--liftoff-only, process-wide, set when a PGlite store opens
// unless the process chose its own WASM tier flags). TurboFan's tier-up of PostgreSQL's hot functions left
// 40–60 MiB in glibc's per-thread malloc arenas (compiler memory, freed, never returned): 200 live agents
// peaked at 306–365 MiB with it, 280–287 without; the 200-agent run's CPU +5–7 %, one agent's step the same
// within noise, single statements 5–15 % slower (storage bench), initdb faster (2.8 vs 3.5 s). See docs/storage.md.
export const PGLITE_WASM_LIFTOFF_ONLY = true;
export const PGLITE_WASM_TIERUP_ENV = 'AOS_PGLITE_WASM_TIERUP'; // 1: let TurboFan recompile PGlite's hot functions (faster statements, more RSS)
export const EMBEDDING_DIM = 256; // dimension of stored embeddings (local hashing embedder)
export const EMBED_MAX_CHARS = 20_000; // head of a text the local hashing embedding reads; enough to characterise it
export const SNAPSHOT_EVERY_STEPS = 10; // state snapshot every K steps
export const STEP_LOG_RETAIN_SNAPSHOTS = 3; // keep step rows back to the 3rd-newest snapshot
export const TERMINATED_RETAIN_MS = 7 * 24 * 3600_000; // terminated processes' rows kept this long
export const LEASE_TTL_MS = 15_000; // default named-lease period (database clock)
export const CLAIM_GRACE_MAX_MS = 1_000; // cap on that grace (a 15 s lease: claimed 1 s after it ends)
export const CLAIM_GRACE_FRACTION = 0.25; // a node claims a dead node's processes lease × this after its lease ends: time for a holder whose heartbeat came late to notice and stop before its effects are redone elsewhere (the old poll gave 0 to lease/2, at random)
export const LEASE_EFFECT_MARGIN_FRACTION = 1 / 3; // a node starts a model call or a tool's effect only with lease × this still ahead of it (its local, conservative count from the last renewal); with less, it renews first (one round trip) or stops: heartbeats every lease/3 keep ≥ 2/3 ahead, so only a late heartbeat costs a round trip
export const LEASE_EFFECT_MARGIN_MIN_MS = 250; // that margin, at least (short test leases)
export const CLAIM_SWEEP_EVERY = 8; // a node's claim reads candidates from the owner index (unowned, dead nodes', its own released); every this many claims (and at boot) it walks all live processes instead, for a lapsed lease held by a node that is up but never claims
export const CLAIM_MIN_DELAY_MS = 10; // shortest wait between two claims of one node (no spinning on a lease that is about to end)
export const RRF_K = 60; // reciprocal-rank-fusion constant for hybrid memory search
export const VECTOR_SEARCH_CANDIDATES = 50; // per-arm candidates fused by hybrid search
export const MEM_TEXT_POOL_ROWS = 2_000; // rows the full-text arm ranks at most (picked by the query's rarest terms)
export const MEM_TEXT_DF_TTL_MS = 60_000; // how long a query term's counted document frequency is reused
export const MEM_TEXT_DF_CACHE_MAX = 10_000; // (owner, term) frequencies a memory store keeps before it forgets them all
export const MEM_EXACT_CACHE_MAX_FLOATS = 32 * 2 ** 20; // floats (4 B each) of memory vectors held in process for exact search without pgvector (100k × 256 = 25.6M)
export const MEM_EXACT_CACHE_FETCH_ROWS = 5_000; // memory vectors read per statement while that copy catches up with the table
export const HNSW_MAX_DIM = 2_000; // pgvector's HNSW limit for \`vector\`: a model with more dimensions is searched exactly
export const HNSW_EF_SEARCH = 64; // pgvector hnsw.ef_search; must be >= VECTOR_SEARCH_CANDIDATES or HNSW returns fewer

// ── llm ───────────────────────────────────────────────────────────────────────────────────────────
export const LLM_REQUEST_TIMEOUT_MS = 120_000; // per request
export const LLM_MAX_RETRIES = 4; // on 429 / 5xx / network errors
export const LLM_RETRY_BASE_MS = 500; // exponential backoff base, with full jitter
export const LLM_RETRY_MAX_MS = 30_000; // cap on one backoff wait (Retry-After may not exceed it)
export const LLM_SSE_MAX_EVENT_BYTES = 16 * 1024 * 1024; // one event of a streamed answer (a whole completion in one chunk fits)
export const PROVIDER_PARK_BASE_MS = 2_000; // first wait of a process parked on a provider outage (doubles, jittered)
export const STORAGE_PARK_BASE_MS = 500; // first wait of a process parked on a storage outage (doubles)
export const STORAGE_PARK_MAX_MS = 15_000; // cap on that wait (disk full, connection lost: retried until storage answers)
export const PROVIDER_PARK_MAX_MS = 120_000; // cap on that wait when the provider names no Retry-After
export const CIRCUIT_FAILURE_THRESHOLD = 5; // consecutive failures that open a provider's circuit
export const CIRCUIT_OPEN_MS = 30_000; // how long the circuit stays open before a half-open probe
export const SIM_DEFAULT_PORT = 7979; // `aos sim-llm` default port
export const TOKENIZER_MERGE_CACHE = 4_096; // pre-tokens that needed byte-pair merging, kept with their tokens (oldest dropped first)
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 8_192; // max_tokens sent to Anthropic when the request names none (the API requires one)
export const SIM_CACHE_MAX_PREFIXES = 200_000; // simulator: cached prefix blocks kept (LRU) before eviction
export const SIM_CONCEPT_RESIDUE_WEIGHT = 0.35; // simulator embeddings: an uncovered word's weight next to a concept's (1)
export const SIM_EMBEDDING_DIM = 256; // simulator /v1/embeddings default dimension (concept lexicon)
export const EMBED_MAX_INPUTS = 2_048; // inputs per llm.embed call (the OpenAI embeddings API limit)
export const EMBED_BATCH_DEFAULT = 64; // texts per request of a configured memory embedder (embeddings.batch_size)
export const EMBED_BATCH_QWEN = 10; // DashScope's text-embedding-v3 limit per request
export const SIM_TTFT_MS = 0; // simulator: default time to first token
export const SIM_PER_TOKEN_MS = 0; // simulator: default delay per output token
export const SIM_MAX_CONCURRENCY = 64; // simulator: requests served at once; the rest queue
export const SIM_MAX_TOOL_ROUNDS = 8; // simulator policy: it answers after this many tool rounds, whatever is left
export const SIM_BODY_LIMIT_BYTES = 32 * 1024 * 1024; // simulator: request bodies above this are refused (413)
export const SIM_PROMPT_MEMO_MAX = 20_000; // simulator: distinct prompt segments whose token encoding is remembered
export const SIM_JSON_FULL_DEPTH = 8; // simulator structured outputs: nesting past which only what a schema requires is produced (recursion ends)
export const SIM_JSON_MAX_DEPTH = 64; // simulator structured outputs: nesting past which a schema's value is null
export const ANTHROPIC_MIN_THINKING_TOKENS = 1_024; // Anthropic's smallest extended-thinking budget_tokens (the API refuses less)
export const ANTHROPIC_THINKING_ANSWER_TOKENS = 1_024; // max_tokens room kept above the thinking budget for the answer

// ── kernel / scheduler ────────────────────────────────────────────────────────────────────────────
export const PRIORITY_MIN = 0; // most urgent (as in the seeds)
export const PRIORITY_MAX = 99; // least urgent
export const PRIORITY_DEFAULT = 50;
export const DEFAULT_MAX_STEPS = 50; // step limit of the built-in ReAct program
export const REQUEST_HASH_KEEP_EVERY = 16; // the journal's request hash keeps its sha256 state after every 16th message of a process's last request ...
export const REQUEST_HASH_KEEP_LAST = 4; // ... and after each of its last 4 (the moving cache breakpoint): a next request re-hashes from the latest one it shares
export const POLICY_CACHE_MAX = 256; // distinct process policies a kernel keeps built (each resolves its paths once); more: all rebuilt
export const MAX_USER_MESSAGE_CHARS = 100_000; // longest user message (POST /processes/:pid/messages, aos send)
export const IPC_RECV_DEFAULT_LIMIT = 10; // messages one ipc.recv takes when the call names no limit
export const MEM_SEARCH_DEFAULT_K = 5; // hits one mem.search returns when the call names no k
export const REACT_MAX_MALFORMED = 3; // consecutive answers with malformed tool-call JSON before the ReAct process fails
export const MODEL_FALLBACK_WINDOW = 32_768; // context window assumed for a model the catalogue does not know
export const DEFAULT_SLOTS_PER_MODEL = 4; // concurrent LLM calls per model when a Scheduler is built without config
export const AUTO_SLOTS_MIN = 4; // slots_per_model: auto never gives a model fewer slots than this
export const AUTO_SLOTS_MAX = 256; // ... nor more; a model with no known rate limit gets this many
export const AUTO_SLOTS_HEADROOM = 1.25; // auto slots = rate × latency × this (latency varies call to call)
export const AUTO_SLOTS_PRIOR_LATENCY_MS = 1_000; // assumed call latency until the model's first call returns
export const AUTO_SLOTS_EWMA = 0.2; // weight of the latest call in the learned latency and tokens per call
export const DEFAULT_WEIGHT = 1; // fair-share weight of a process that names none (share ∝ weight)
export const TIME_SLICE_STEPS = 4; // a process yields after this many steps when peers are waiting
export const TIME_SLICE_TOKENS = 32_000; // ... or after this many tokens, whichever comes first
export const AGING_MS = 5_000; // waiting this long raises a ready class one priority level
export const FAIR_REQUEST_TOKENS = 1_000; // fair share: what one call costs a share, in tokens, when only requests are limited (rpm, no tpm)
export const DEFAULT_EST_REQUEST_TOKENS = 4_096; // tokens reserved for a call whose size the caller did not estimate
export const RATE_WINDOW_MS = 60_000; // provider RPM/TPM limits hold over every window this long
export const RATE_BURST_MS = 1_000; // a rate bucket holds this much of the limit; the rest of a window's limit is refill (steady pace = limit × 59/60)
export const GRANT_CHUNK = 0.02; // a node leases this part of a cluster-wide limit at a time (at least what the call needs)
export const GRANT_HOLD_MS = 1_000; // a node takes from a leased grant this long, then gives back what it did not use
export const GRANT_RETRY_MIN_MS = 20; // a refused lease is asked again no sooner than this…
export const GRANT_RETRY_MAX_MS = 1_000; // …and no later than this (a node's release may free room any moment)
export const GRANT_RETRY_OPEN_MS = 200; // asked again after this when only other nodes' open grants fill the pool
export const BUDGET_CHUNK = 0.02; // a node reserves this part of a cluster-wide budget at a time (at least what the call needs)
export const BUDGET_HOLD_MS = 1_000; // a node takes from a reserved budget chunk this long, then gives back what it did not spend
export const BUDGET_RETRY_MS = 2_000; // a process paused on an exhausted kernel-wide or tenant budget asks again this often
export const GRANT_GC_MS = 600_000; // released grants older than a window plus this are deleted
export const FANOUT_FLUSH_MS = 50; // a node publishes its process events to the other nodes in batches this often
export const FANOUT_PAYLOAD_BYTES = 7_000; // one NOTIFY payload at most (PostgreSQL refuses 8000 bytes and more)
export const FANOUT_CLIP_CHARS = 500; // long strings of an oversize event are clipped to this for other nodes
export const GLOBAL_RATE_LIMIT_KEY = 'global'; // scheduler.rate_limits key that limits all providers together
export const KILL_GRACE_MS = 5_000; // graceful kill before it is forced
export const MAX_SPAWN_DEPTH = 8; // agents spawning agents: generations below a top-level process
export const MAX_LIVE_CHILDREN = 64; // live children one process may have at once
export const MAX_LIVE_PROCESSES = 100_000; // live processes one kernel adopts
export const REACT_OBSERVATION_MAX_CHARS = 4_000; // a tool result as the ReAct step record (and lastObservation) keeps it
export const PREVIEW_MAX_CHARS = 2_000; // text kept of a long string in syscall audit results, events and session records
export const TRACE_AUDIT_LIMIT = 20_000; // audit entries read for one process's trace (GET /processes/:pid/trace)
export const KERNEL_VERSION = '0.1.0'; // the package version, as spans and the OpenTelemetry resource report it
export const OTEL_EXPORT_DELAY_MS = 1_000; // OpenTelemetry batch export interval (telemetry.otlp_endpoint)

// ── context ───────────────────────────────────────────────────────────────────────────────────────
export const OUTPUT_RESERVE_TOKENS = 4_096; // window space kept free for the model's answer
export const CTX_SUMMARY_SPAN_MAX_CHARS = 48_000; // text of an evicted span sent to the model summariser (the rest is dropped)
export const CTX_STUB_MAX_LISTED = 12; // evicted pages listed by id in one stub (the middle ones are elided)
export const CTX_HIGH_WATER = 0.95; // compact when the prompt passes this fraction of the budget (checked right before each call)
export const CTX_LOW_WATER = 0.4; // ... down to this fraction (hysteresis: one cache break per chunk; bench-tuned)
export const CTX_PROTECT_RECENT_UNITS = 2; // newest message units never chosen by the scorer (hard overflow aside)
export const CTX_MESSAGE_OVERHEAD_TOKENS = 4; // per-message framing tokens (role, separators) added to content
export const CTX_LARGE_OUTPUT_TOKENS = 4_096; // tool outputs above this become a paged head+tail view
export const CTX_LARGE_OUTPUT_FRACTION = 0.1; // ... or above this fraction of the budget, whichever is smaller
export const CTX_COUNT_MAX_CHARS = 400_000; // texts longer than this are estimated (chars/4), not tokenized
export const CTX_TOOL_LISTS_CACHED = 32; // distinct tool lists whose canonical form, hash and tokens are kept (one per policy in practice)
export const CTX_COUNT_RUN_CHARS = 16; // a long letter run is tokenized in chunks this long (BPE is quadratic on one long pre-token)
export const CTX_HEAD_TAIL_MARKER_TOKENS = 80; // room a head+tail view keeps for its omission marker
export const CTX_STUB_MAX_TOKENS = 400; // a stub (ids + one-line summaries) never exceeds this
export const CTX_SUMMARY_MAX_TOKENS = 200; // summariser output cap per evicted span
export const CTX_RECALL_MAX_TOKENS = 3_000; // one recall returns at most this many tokens (read more by offset)
export const CTX_PREFETCH_SIMILARITY = 0.55; // cosine above which a swapped page is prefetched for the step
export const CTX_PREFETCH_DUPLICATE = 0.9; // ... unless a resident page is this close to it (its text is already in the window)
export const CTX_CALIBRATION_BOUNDS = [0.5, 2] as const; // clamp of the provider-usage / estimate ratio
export const CTX_CACHE_HISTORY = 8; // earlier prompts per process the prefix-cache model remembers
export const CTX_BREAKPOINT_EVERY = 15; // rolling Anthropic cache breakpoint every ≤ N history messages
export const CTX_CACHED_PRICE_RATIO = 0.1; // cached input price / input price when the catalogue has none

// ── io / security ─────────────────────────────────────────────────────────────────────────────────
export const TOOL_TIMEOUT_MS = 30_000; // default per tool call
export const TOOL_OUTPUT_MAX_BYTES = 1_000_000; // hard cap on captured tool output
export const APPROVAL_TIMEOUT_MS = 10 * 60_000; // an unanswered approval is denied after this
export const TOOL_MODEL_OUTPUT_MAX_BYTES = 32_768; // what the model reads of one result; the rest is paged/truncated
export const SANDBOX_MEMORY_MB = 512; // default address-space / memory-cgroup limit of a sandboxed command
export const SANDBOX_CPU_SECONDS = 30; // default RLIMIT_CPU of a sandboxed command
export const SANDBOX_MAX_PROCESSES = 64; // default process cap (pids cgroup, or RLIMIT_NPROC when not root)
export const SANDBOX_FILE_SIZE_MB = 64; // default RLIMIT_FSIZE of a sandboxed command
export const SANDBOX_WALL_SECONDS = 60; // wall-clock kill of a sandboxed command
export const SANDBOX_CONTAINER_TIMEOUT_GRACE_S = 10; // podman --timeout = wall limit + this: a dead kernel's container still dies
export const SANDBOX_KILL_GRACE_MS = 500; // SIGTERM → SIGKILL grace when a sandboxed command is stopped
export const WORKSPACE_COPY_MAX_BYTES = 256 * 1024 * 1024; // a fork copies its source's workspace up to this size…
export const WORKSPACE_COPY_MAX_ENTRIES = 20_000; // …and this many entries (else EQUOTA: share a named workspace)
export const WORKSPACE_COPY_MAX_DEPTH = 64; // directories deeper than this are not copied
export const SANDBOX_UID = 64_000; // host uid (and gid) sandboxed commands run as when the kernel runs as root
export const NETWORK_DEFAULT_PORTS: readonly number[] = [80, 443]; // ports network_allow admits unless host:port names another
export const AUDIT_VALUE_MAX_BYTES = 8192; // a string past this is stored in the audit as sha256 + size + preview
export const AUDIT_PREVIEW_BYTES = 512; // bytes of preview kept of a large audited string
export const MCP_CONNECT_TIMEOUT_MS = 20_000; // MCP initialize + tools/list
export const MCP_CALL_TIMEOUT_MS = 60_000; // one MCP tools/call unless the server config says otherwise
export const MCP_WORKSPACE_SERVERS_MAX = 16; // stdio MCP server instances per server, one per workspace in use (LRU)
export const MCP_RECONNECT_MAX = 5; // reconnect attempts before an MCP server is marked down
export const MCP_RECONNECT_BASE_MS = 250; // exponential backoff base between reconnect attempts
export const TOOL_RATE_PER_MINUTE = 600; // default per-tool call rate (token bucket) per process
export const TOOL_CIRCUIT_FAILURES = 5; // consecutive tool failures that open its circuit
export const TOOL_CIRCUIT_OPEN_MS = 30_000; // open circuit duration before a half-open probe
export const HTTP_FETCH_MAX_REDIRECTS = 5; // http_fetch follows at most this many redirects (each re-checked)
export const TOOL_READ_FILE_MAX_BYTES = 512 * 1024; // read_file reads at most this much of a file (page through the rest by offset)
export const TOOL_HTTP_MAX_BODY_BYTES = 2 * 1024 * 1024; // http_fetch stops reading a response body past this
export const GIT_CONFIG_MAX_BYTES = 256 * 1024; // a workspace's .git/config the git tools read (the rest is ignored)
export const SANDBOX_PROXY_PORT = 3128; // in-sandbox loopback port of the network-allowlist proxy (HTTP(S)_PROXY)
export const CONTAINER_NPROC_MAX = 32_768; // RLIMIT_NPROC given to a podman container (conmon's own limit; the cap is --pids-limit)
export const AUDIT_ANCHOR_INTERVAL_MS = 60_000; // signed anchor of the audit chain heads written this often
export const AUDIT_ANCHOR_FILE = 'audit-anchors.jsonl'; // under the data dir, outside the database
export const AUDIT_KEY_FILE = 'keys/audit-ed25519.pem'; // anchor signing key under the data dir, mode 0600
export const AUDIT_STRING_MAX_CHARS = 4_096; // a longer string in an audit payload is stored as hash + size + preview
export const AUDIT_PREVIEW_CHARS = 1_024; // the preview kept of such a string
export const AUDIT_ARRAY_MAX = 256; // array elements (and object keys) kept per level of an audit payload
export const AUDIT_DEPTH_MAX = 24; // nesting an audit payload keeps; deeper values become a marker
export const AUDIT_HEAD_CACHE_MAX = 10_000; // stream heads an audit log remembers to skip reading them (a guess, checked by the insert)
export const AUDIT_APPEND_RETRIES = 16; // an append re-reads a head another append moved (one connection: outside a transaction; a pool: a step commit without the lock), at most this often
export const AUDIT_PAYLOAD_MAX_BYTES = 65_536; // a bounded payload still larger than this is stored as hash + size + preview

// ── api ───────────────────────────────────────────────────────────────────────────────────────────
export const API_BODY_LIMIT_BYTES = 1_048_576; // request bodies above this are refused
export const API_JSON_MAX_DEPTH = 64; // request JSON nested deeper than this is a 400
export const API_REQUEST_TIMEOUT_MS = 30_000; // a request (headers + body) must arrive within this
export const API_HEADERS_TIMEOUT_MS = 10_000; // request headers must arrive within this
// An idle keep-alive connection is closed after this. Longer than any client's own idle limit (undici ~4 s,
// the SDKs' agents) and than an event-loop stall on a loaded machine: a server whose timer fires late, in
// the same turn as a request that arrived in time, closes the socket under it ("other side closed").
export const API_KEEPALIVE_TIMEOUT_MS = 65_000;
export const SIM_KEEPALIVE_TIMEOUT_MS = 65_000; // the same for the simulator's HTTP server (aos sim-llm)
export const API_PAGE_DEFAULT = 50; // items per page when a listing names no limit
export const API_PAGE_MAX = 1_000; // largest `limit` a listing accepts
export const API_TOKEN_FILE = 'admin.token'; // first-start admin token, under the data dir, mode 0600
export const API_TOKEN_CACHE_MS = 5_000; // a verified token is trusted this long before it is looked up again
export const API_TOKEN_USED_FLUSH_MS = 5_000; // tokens' last_used_at is written in batches this often, off the requests' path
export const API_SSE_HEARTBEAT_MS = 15_000; // comment line on idle event streams (keeps proxies from closing them)
export const API_SSE_METRICS_MS = 2_000; // `metrics` event tick on the event stream
export const API_SSE_MAX_BUFFER_BYTES = 1_048_576; // a client that falls this far behind is disconnected
export const API_SSE_EVENT_MAX_BYTES = 65_536; // a larger step record is sent as a stub (fetch it from /steps)
export const API_SSE_REPLAY_PROC_BYTES = 262_144; // each process's recent events kept for reconnecting / late SSE clients
export const API_SSE_REPLAY_PROC_EVENTS = 8_192; // … and at most this many of them (oldest dropped first)
export const API_SSE_REPLAY_TOTAL_BYTES = 16_777_216; // all processes' kept events together (least recently active dropped first)
export const API_SSE_REPLAY_PROCS = 1_024; // processes whose recent events are kept
export const API_TOOL_CALL_TIMEOUT_MS = 60_000; // POST /tools/:name/call gives up after this

// ── gateway ───────────────────────────────────────────────────────────────────────────────────────
export const GATEWAY_QUEUE_TIMEOUT_MS = 30_000; // a call waits this long for an LLM slot / rate tokens, then 429 + Retry-After
export const GATEWAY_MAX_QUEUED = 1_000; // calls waiting kernel-wide beyond this are refused at once (429)
export const GATEWAY_SESSION_IDLE_MS = 600_000; // a session process with no call for this long exits (next call respawns)
export const GATEWAY_PRIORITY = 50; // priority of gateway session processes unless the tenant or header sets one
export const GATEWAY_LOCATE_CONCURRENCY = 4; // cluster: sessions looked up (or spawned) at once per node, each holding a pooled connection under its key's lock while its spawn takes another (20 at once took all PG_POOL_MAX and deadlocked)
export const GATEWAY_RESPONSE_MISS_WAIT_MS = 1_000; // cluster: a stored response not found is looked up again this long (another node's answer goes out before its commit)
export const GATEWAY_PREFIX_MESSAGES = 2; // messages hashed into the implicit session key (system + first user)
export const GATEWAY_BODY_LIMIT_BYTES = 16_777_216; // agents send whole conversations: larger bodies than the REST API
export const GATEWAY_RESPONSE_RETENTION_DAYS = 30; // a stored /v1/responses response (store omitted or true) is kept and chainable this long, as OpenAI keeps them
export const GATEWAY_RESPONSE_PURGE_MS = 3_600_000; // expired stored responses are deleted this often (and when the gateway starts)
export const GATEWAY_INPUT_ITEMS_LIMIT = 20; // GET /v1/responses/{id}/input_items page size unless ?limit= (1–100), as OpenAI's
export const GATEWAY_JOURNAL_BATCH_ROWS = 500; // journal rows per group INSERT (13 parameters each; the protocol allows 65,535)

// ── cli / web ─────────────────────────────────────────────────────────────────────────────────────
export const CLI_PROBE_TIMEOUT_MS = 1_500; // how long the CLI waits for a server's /health before using the library
export const CLI_REQUEST_TIMEOUT_MS = 30_000; // one REST call from the CLI (kill waits for the step to end)
export const CLI_RECONNECT_MS = 120_000; // `aos run` waits this long for a kernel that stopped answering (a restart) before giving up
export const CLI_TOP_REFRESH_MS = 1_000; // `aos top` redraws its clock and waiting times this often
export const CLI_TOP_COALESCE_MS = 100; // `aos top`: events within this window make one fetch and one redraw
export const CLI_TOP_RESYNC_MS = 15_000; // `aos top`: a full listing this often, in case the stream dropped something
export const CLI_SHELL_HISTORY = 500; // lines of `aos shell` history kept in <data_dir>/shell_history

// ── learning (src/learning) ──
/** Lessons offered to a new process with a similar task, and the prompt text they may take. */
export const LESSONS_K = 4;
export const LESSONS_MAX_CHARS = 1600;
/** Cosine similarity of tasks (task ↔ the lesson's source task) below which a lesson is not offered. */
export const LESSONS_MIN_SIMILARITY = 0.35;
/** A lesson below this confidence is forgotten: later runs contradicted it. */
export const LESSON_MIN_CONFIDENCE = 0.2;
/** Tasks whose embeddings are at least this similar form one task family (analysis by `family`). */
export const TASK_FAMILY_SIMILARITY = 0.35;
/** Model-written lessons (src/learning/model-distill.ts): at most this many per run, each this long, from a transcript this long. */
export const MODEL_LESSONS_MAX = 3;
export const MODEL_LESSON_MAX_CHARS = 300;
export const MODEL_LESSON_TRANSCRIPT_MAX_CHARS = 12_000;
