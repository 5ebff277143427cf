// Marks the CLI entry executable after tsc and copies non-TS assets (the built dashboard) into dist/.
import { chmodSync, cpSync, existsSync, rmSync, writeFileSync } from 'node:fs';

chmodSync('dist/cli/main.js', 0o755);
if (existsSync('web/dist')) {
  rmSync('dist/web', { recursive: true, force: true }); // hashed assets of older builds must not pile up
  cpSync('web/dist', 'dist/web', { recursive: true });
}

// The tokenizer's ranks in their compact form (src/llm/bpe.ts): 2.2 MB read at first use, instead of
// gpt-tokenizer's 2.4 MB JavaScript literal (+55 MiB RSS to parse). Generated, not committed.
const { compileFromPackage, RANK_FILE } = await import('../dist/llm/tokenizer.js');
writeFileSync(RANK_FILE, compileFromPackage());
