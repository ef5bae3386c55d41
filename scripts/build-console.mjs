// Builds the web console into dist/console: the Preact app bundled and minified by esbuild, with
// its page and its stylesheets bundled into one. Part of `npm run build` (and so of `npm ci` and `npm start`).
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'src', 'console', 'web');
const out = path.join(root, 'dist', 'console');
await mkdir(out, { recursive: true });
const common = { bundle: true, minify: true, target: ['chrome110', 'firefox110', 'safari16'], logLevel: 'warning' };
await build({
  ...common,
  entryPoints: [path.join(source, 'main.tsx')],
  outfile: path.join(out, 'app.js'),
  sourcemap: true,
  format: 'esm',
  jsx: 'automatic',
  jsxImportSource: 'preact',
});
// The stylesheet and the per-page ones it @imports, in one file.
await build({ ...common, entryPoints: [path.join(source, 'app.css')], outfile: path.join(out, 'app.css') });
await copyFile(path.join(source, 'index.html'), path.join(out, 'index.html'));
