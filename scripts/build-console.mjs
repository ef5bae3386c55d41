// Builds the web console into dist/console: the Preact app bundled and minified by esbuild, its
// stylesheets bundled into one, both named by their content's hash (served as immutable, so a new
// tab takes them from the browser's cache without asking), and the page that names them.
// Part of `npm run build` (and so of `npm ci` and `npm start`).
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'src', 'console', 'web');
const out = path.join(root, 'dist', 'console');
await rm(out, { recursive: true, force: true }); // earlier builds' hashed files
await mkdir(out, { recursive: true });
const common = { bundle: true, minify: true, target: ['chrome110', 'firefox110', 'safari16'], logLevel: 'warning', outdir: out, entryNames: '[name]-[hash]', metafile: true };

/** The built file's name for the entry point `entry`. */
const builtName = (result, entry) => {
  const [file] = Object.entries(result.metafile.outputs).find(([, output]) => output.entryPoint?.endsWith(entry)) ?? [];
  if (file === undefined) throw new Error(`esbuild wrote nothing for ${entry}`);
  return path.basename(file);
};

const script = await build({
  ...common,
  entryPoints: [path.join(source, 'main.tsx')],
  sourcemap: true,
  format: 'esm',
  jsx: 'automatic',
  jsxImportSource: 'preact',
});
// A classic script the page's head runs at once: the page's first API requests, sent before the app has loaded.
const boot = await build({ ...common, entryPoints: [path.join(source, 'boot.ts')], format: 'iife' });
// The stylesheet and the per-page ones it @imports, in one file.
const styles = await build({ ...common, entryPoints: [path.join(source, 'app.css')] });
const page = (await readFile(path.join(source, 'index.html'), 'utf8'))
  .replace('/ui/boot.js', `/ui/${builtName(boot, 'boot.ts')}`)
  .replace('/ui/app.js', `/ui/${builtName(script, 'main.tsx')}`)
  .replace('/ui/app.css', `/ui/${builtName(styles, 'app.css')}`);
await writeFile(path.join(out, 'index.html'), page);
