// Builds the web console into dist/console: the Preact app bundled and minified by esbuild, with
// its page and stylesheet. Part of `npm run build` (and so of `npm ci` and `npm start`).
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'src', 'console', 'web');
const out = path.join(root, 'dist', 'console');
await mkdir(out, { recursive: true });
await build({
  entryPoints: [path.join(source, 'main.tsx')],
  outfile: path.join(out, 'app.js'),
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  logLevel: 'warning',
});
for (const file of ['index.html', 'app.css']) await copyFile(path.join(source, file), path.join(out, file));
