/**
 * `agent-os-kernel/io`: tools as devices — defineTool / defineCliTool, the registry, the executor, the
 * built-in tools, idempotency stores and the MCP client (its SDK loads on the first connect).
 */

export { evaluate as evaluateExpression } from './builtin/calculator.js';
export { builtinTools } from './builtin/index.js';
export { buildArgv, type CliToolDeclaration, defineCliTool } from './cli-tool.js';
export { COMMON_CLI_TOOLS } from './common-cli-tools.js';
export { createToolContext, type SyscallTable, syscallPort, type ToolContextOptions } from './context.js';
export {
  type AuditSink,
  createToolExecutor,
  type OutputPager,
  type ToolCallRequest,
  ToolExecutor,
  type ToolExecutorOptions,
  type ToolHooks,
} from './executor.js';
export { type IdempotencyStore, MemoryIdempotencyStore, SqlIdempotencyStore } from './idempotency.js';
export { McpServerConnection, type McpServerSpec, type McpState } from './mcp/client.js';
export { McpManager, type McpServerStatus } from './mcp/manager.js';
export { type ToolFilter, ToolRegistry, toolMatches, toWireName } from './registry.js';
export {
  type AnyTool,
  defineTool,
  fullToolName,
  idempotencyKey,
  PERMISSIONS,
  type Permission,
  type SyscallPort,
  type Tool,
  type ToolContext,
  type ToolResult,
} from './tool.js';
