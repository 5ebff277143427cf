// Marks the CLI entry executable after tsc and copies non-TS assets (the built dashboard) into dist/.
import { chmodSync, cpSync, existsSync } from 'node:fs';

chmodSync('dist/cli/main.js', 0o755);
if (existsSync('web/dist')) cpSync('web/dist', 'dist/web', { recursive: true });
