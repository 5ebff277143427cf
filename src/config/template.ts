/** The commented config.yaml that `aos config init` writes; config.example.yaml is the same text. */
export const CONFIG_TEMPLATE = `# agent-os-kernel configuration.
# Values may use \${ENV_VAR} or \${ENV_VAR:-default}; unset variables become empty strings.
# Every key is optional: with no file at all the kernel runs on defaults and the built-in simulator.

# Where embedded state lives (PGlite data, API tokens, audit anchors and signing key).
data_dir: ./.aos

# API keys per provider. A model whose provider has no key here (or in its environment variable,
# e.g. DEEPSEEK_API_KEY) is listed by \`aos models\` as "no key".
api_keys:
  openai: "\${OPENAI_API_KEY}"
  anthropic: "\${ANTHROPIC_API_KEY}"
  deepseek: "\${DEEPSEEK_API_KEY}"
  kimi: "\${KIMI_API_KEY}"
  minimax: "\${MINIMAX_API_KEY}"
  qwen: "\${DASHSCOPE_API_KEY}"

# Models the kernel may use. provider is a preset name (openai, anthropic, deepseek, kimi, qwen, minimax,
# zhipu, gemini, groq, openrouter, siliconflow, together, vllm, ollama, lmstudio, simulated);
# base_url overrides the preset's endpoint (self-hosted vLLM/Ollama, proxies).
llms:
  models:
    - name: "deepseek-chat"
      provider: "deepseek"
      # fallbacks: ["qwen-turbo"]   # tried in order when this model is down, rate-limited or its circuit is open
    - name: "moonshot-v1-32k"
      provider: "kimi"
    - name: "qwen-turbo"
      provider: "qwen"
    - name: "sim-react"
      provider: "simulated"
  # Agent steps stream (tokens live in aos run, aos logs -f, the dashboard); off everywhere with false,
  # per provider with a map, per model with "stream: false" on its entry.
  # stream: { ollama: false }

# Used when a process does not name a model. With no key configured for it, the kernel falls back to
# the simulator and says so.
default_model: "deepseek-chat"

# The embedding model behind memory search (docs/storage.md). Without this section memory uses the local
# lexical hashing embedder: it matches words, not meanings (no synonyms, no other language).
# embeddings:
#   provider: openai              # openai, qwen, ollama, vllm, siliconflow, together, … (not anthropic)
#   model: text-embedding-3-small
#   # base_url: http://127.0.0.1:11434/v1   # Ollama, vLLM, any OpenAI-compatible /v1/embeddings
#   # dimensions: 1024            # OpenAI text-embedding-3 and Qwen v3/v4 can return fewer dimensions
#   # batch_size: 10              # texts per request (default 64; 10 for qwen)
# After changing the model, \`aos memory reembed\` re-embeds the memories the old one made.

storage:
  # pglite://PATH (embedded, default), memory:// (embedded, not persisted) or postgres://user@host:5432/db
  url: "\${AOS_STORAGE_URL:-pglite://./.aos/data}"
  snapshot_every_steps: 10
  # pglite_worker: false    # true: PGlite in a worker thread (statements on the second core, +CPU, +~30 MiB)

server:
  host: 127.0.0.1        # loopback only; anything else exposes the API to your network
  port: 7878
  cors_origins: []       # closed by default
  demo_agents: true      # run demo agents on the simulator when no provider key is configured

scheduler:
  policy: fair           # fair | fifo | round_robin
  slots_per_model: auto  # concurrent LLM calls per model (the kernel's "CPUs"). auto: from the provider's
                         # rate_limits below × the model's learned latency (256 when no limit is known)
  time_slice_steps: 4    # a process yields after this many steps when others are waiting
  time_slice_tokens: 32000
  aging_ms: 5000         # waiting this long raises a process one priority level
  rate_limits:           # per provider; the kernel paces itself below them (no self-inflicted 429s)
    deepseek: { rpm: 500, tpm: 1000000 }
    # global: { rpm: 2000 }   # all providers together

context:
  replacer: scored       # scored (keeps the prompt cache hot) | seeds | append-only (baselines, for comparison)
  high_water: 0.95       # compact when the prompt passes this fraction of the window budget…
  low_water: 0.4         # …down to this fraction, in one chunk (one prompt-cache break per chunk)
  output_reserve_tokens: 4096  # window space kept free for the answer
  summarizer: model      # evicted spans summarised by the agent's model (charged to it) | extractive

security:
  sandbox: auto          # auto | bubblewrap | none | docker
  container:             # the docker sandbox: engine client and image (must be present; commands never pull)
    engine: docker       # docker | podman | a path to either
    image: debian:stable-slim
  workspace: ./workspace # where workspaces live: each process works in ./workspace/proc/<pid>/ (kept after exit
                         # until 'aos workspace rm <pid>'; 'aos ps -w' shows it); policy 'workspace: <name>' shares ./workspace/shared/<name>/
  shared_workspace: false  # true: every process works in ./workspace itself (before per-process workspaces)
  default_policy:
    permission_level: standard   # readonly | standard | elevated | admin
    allowed_paths: []            # readable besides the process's workspace (other processes' workspaces never are)
    blocked_paths: ["~/.ssh", "/etc/shadow"]
    network_allow: []            # domains tools may reach, e.g. ["api.github.com"]
    ask_tools: ["shell"]         # tools that wait for a human approval
    max_memory_mb: 512
    max_cpu_seconds: 30
    max_wall_seconds: 60
  approval_timeout_s: 600        # unanswered approvals are denied
  audit_anchor_interval_s: 60    # signed anchors of the audit chain heads, written outside the database

mcp:
  servers: []
  # - name: filesystem
  #   command: npx
  #   args: ["@modelcontextprotocol/server-filesystem", "./workspace"]  # runs once per process workspace, with that one

# Named agent profiles: \`aos run --agent NAME "…"\`, \`aos chat --agent NAME\`, \`agent: NAME\` in the API and
# the dashboard's spawn form. Every key but name is optional; explicit spawn options win.
agents: []
  # - name: reviewer
  #   description: reads code and reports problems
  #   model: "deepseek-chat"
  #   system: "You are a careful code reviewer. Quote the lines you mean."
  #   tools: [read_file, list_dir]      # the policy's allowed_tools for this agent
  #   policy: { ask_tools: [] }         # policy keys as in security.default_policy
  #   budgets: { max_steps: 30, max_cost_usd: 0.50 }

plugins: []
  # - ./plugins/my-plugin.mjs

# OpenTelemetry traces (off unless otlp_endpoint is set): a span per step, model call and tool call with the
# GenAI semantic-convention attributes, sent over OTLP/HTTP (JSON) to a collector, Jaeger, Tempo, Phoenix…
# telemetry:
#   otlp_endpoint: "http://127.0.0.1:4318/v1/traces"
#   headers: { authorization: "Bearer \${OTLP_TOKEN}" }
#   service_name: agent-os-kernel
`;
