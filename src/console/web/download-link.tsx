import type { ComponentChildren } from 'preact';
import { statePath } from './api-paths.js';

/** A version's bytes, saved as NAME-vN.tfstate (the session cookie goes with the request). */
export const DownloadLink = ({ name, version, children }: { readonly name: string; readonly version: number; readonly children: ComponentChildren }) => (
  <a href={`${statePath(name)}/versions/${version}`} download={`${name.replace(/\//g, '_')}-v${version}.tfstate`}>{children}</a>
);
