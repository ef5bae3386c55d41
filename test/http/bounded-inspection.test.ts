import http from 'node:http';
import { Readable } from 'node:stream';
import t from 'tap';
import { basicAuth, PASSWORD, startServer, USER } from '../support/server.js';

/**
 * Hostile shapes that once froze or exhausted the server: values nested just under the limit,
 * repeated, and one huge string. While such a body streams in and is inspected, the server keeps
 * answering other requests, and its heap does not grow with the body.
 */
/** Pieces of about 1 MiB each, so each shape sends about 40 MiB. */
const PIECES = 40;
const PIECE_BYTES = 1 << 20;
const shapes: Record<string, { head: string; unit: string; separator: string; tail: string; status: number }> = {
  'nesting 999 deep, repeated': {
    head: '{"version":4,"serial":1,"lineage":"l","resources":[],"check_results":[',
    unit: `${'['.repeat(997)}${']'.repeat(997)}`,
    separator: ',',
    tail: ']}',
    status: 200,
  },
  'one huge string': { head: '{"version":4,"serial":1,"lineage":"l","resources":[],"outputs":{"o":{"value":"', unit: 'x'.repeat(1 << 20), separator: '', tail: '"}}}', status: 200 },
  'nesting 5,000 deep': { head: '{"version":4,"serial":1,"lineage":"l","x":', unit: '['.repeat(5000), separator: '', tail: '', status: 400 },
};

t.test('bodies of hostile shapes are inspected in bounded memory while the server keeps answering', async (t) => {
  const server = await startServer(t);
  for (const [name, shape] of Object.entries(shapes)) {
    const { port } = new URL(server.baseUrl);
    let readyWhileInspecting = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    const perPiece = Math.max(1, Math.floor(PIECE_BYTES / (shape.unit.length + shape.separator.length)));
    const piece = Buffer.from(`${shape.separator}${shape.unit}`.repeat(perPiece));
    const pieces = function* () {
      yield Buffer.from(`${shape.head}${shape.unit}`);
      for (let i = 0; i < PIECES; i++) yield piece;
      yield Buffer.from(shape.tail);
    };
    const body = Readable.from(pieces());
    const status = await new Promise<number>((resolve, reject) => {
      const request = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: `/states/shape-${name.replace(/\W/g, '')}`, headers: { authorization: basicAuth(USER, PASSWORD) } },
        (response) => {
          response.resume();
          response.once('end', () => resolve(response.statusCode ?? 0));
        },
      );
      request.once('error', reject);
      // Between pieces, ask whether the server is ready: it must answer while the body is being inspected.
      body.on('data', (piece: Buffer) => {
        body.pause();
        request.write(piece, async () => {
          const ready = await fetch(`${server.baseUrl}/readyz`).then((r) => r.status, () => 0);
          if (ready === 200) readyWhileInspecting++;
          heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
          body.resume();
        });
      });
      body.once('end', () => request.end());
    });
    t.equal(status, shape.status, `${name}: answered ${shape.status}`);
    t.ok(readyWhileInspecting >= PIECES / 2, `${name}: /readyz answered ${readyWhileInspecting} times while the body was inspected`);
    const growthMb = (heapPeak - heapBefore) / (1 << 20);
    t.ok(growthMb < 64, `${name}: the heap grew ${growthMb.toFixed(1)} MB for a ${((PIECES * piece.length) / (1 << 20)).toFixed(0)} MB body`);
  }
});
