// Marks the CLI entry executable after tsc and copies non-TS assets (the built dashboard) into dist/.
import { chmodSync, cpSync, existsSync, rmSync } from 'node:fs';

chmodSync('dist/cli/main.js', 0o755);
if (existsSync('web/dist')) {
  rmSync('dist/web', { recursive: true, force: true }); // hashed assets of older builds must not pile up
  cpSync('web/dist', 'dist/web', { recursive: true });
}
