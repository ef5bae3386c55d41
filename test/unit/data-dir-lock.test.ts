import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { lockDataDir } from '../../src/storage/data-dir-lock.js';
import { tempDir } from '../support/services.js';

t.test('a lock left by a process that is gone, or by an earlier process with our pid, does not count', async (t) => {
  for (const pid of [999_999, process.pid]) {
    const dir = await tempDir(t);
    await fs.writeFile(path.join(dir, 'owner.json'), JSON.stringify({ pid, command: 'serve', hostname: os.hostname() }));
    const lock = await lockDataDir(dir, 'serve');
    t.equal(lock.held, true, `pid ${pid === process.pid ? 'of this process' : 'of a dead process'}: taken over`);
    if (lock.held) await lock.release();
    t.strictSame(await fs.readdir(dir), [], 'released: the file is gone');
  }
});
