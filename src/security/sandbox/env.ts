/**
 * The environment a command gets when it is not wrapped by bubblewrap (the `none` sandbox, an MCP server
 * with `sandbox: false`): an explicit allowlist of harmless variables, never the kernel's own environment
 * (which holds provider keys, tokens and database URLs). Anything else a tool needs is passed by name.
 */
const PASS = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'TERM',
  'TZ',
  'TMPDIR',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
];

export function minimalHostEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of PASS) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('LC_') && v !== undefined) env[k] = v;
  return { ...env, ...extra };
}
