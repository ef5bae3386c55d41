import net from 'node:net';

export interface RawExchange {
  /** Everything the server sent before it closed the connection (or the time ran out). */
  readonly received: string;
  readonly closedByServer: boolean;
  readonly ms: number;
}

/**
 * Sends raw bytes on a fresh connection, optionally nothing more afterwards (a stalled client),
 * and collects what comes back until the server closes the connection or `waitMs` passes.
 */
export const rawExchange = (baseUrl: string, bytes: Buffer | string, waitMs: number): Promise<RawExchange> =>
  new Promise((resolve) => {
    const { hostname, port } = new URL(baseUrl);
    const started = Date.now();
    const socket = net.connect(Number(port), hostname);
    let received = '';
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ received, closedByServer: closed, ms: Date.now() - started });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('end', () => {
      closed = true;
      finish();
    });
    socket.on('error', () => {
      closed = true;
      finish();
    });
    socket.write(bytes);
  });

/** The status code and JSON body of a raw HTTP/1.1 response. */
export const parseRaw = (received: string): { status: number; headers: string; body: unknown } => {
  const [head = '', ...rest] = received.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  const text = rest.join('\r\n\r\n');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status, headers: head.toLowerCase(), body };
};
