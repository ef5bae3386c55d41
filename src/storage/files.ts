import fs from 'node:fs/promises';

/** A file's text, or undefined when it does not exist. */
export const readIfExists = (file: string): Promise<string | undefined> =>
  fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : Promise.reject(error)));
