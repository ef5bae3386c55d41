import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { md5Base64, newLockInfo, stateDocument } from '../support/go-client.js';
import { capturedLogger } from '../support/log-capture.js';
import { basicAuth, PASSWORD, startServer, USER } from '../support/server.js';

type Line = Record<string, unknown>;

/** The access line of one request (by its request id); the test fails unless there is exactly one. */
const accessLines = (lines: Line[], id: string): Line[] => lines.filter((line) => line.request_id === id && typeof line.route !== 'undefined' && 'bytes_in' in line);

/** The line without what varies from run to run (time, pid, host, duration), the duration checked apart. */
const stable = (line: Line | undefined): Line => {
  if (line === undefined) return {};
  const { time, pid, hostname, duration_ms, ...rest } = line;
  return { ...rest, times: [typeof time, typeof pid, typeof hostname, typeof duration_ms === 'number' && duration_ms >= 0] };
};
const TIMES = ['number', 'number', 'string', true];

t.test('one access line per request, with exactly its fields, and the request id in the events', async (t) => {
  const { logger, lines } = capturedLogger();
  const server = await startServer(t, { logger });
  const doc = stateDocument(1);

  const pushed = await server.request('/states/net', {
    method: 'POST',
    body: new Uint8Array(doc),
    headers: { 'content-type': 'application/json', 'content-md5': md5Base64(doc), 'x-request-id': 'abc-123' },
  });
  t.strictSame([pushed.status, pushed.headers.get('x-request-id')], [200, 'abc-123'], 'the request id is echoed');
  const answer = Buffer.from(await pushed.arrayBuffer());
  const pushLines = accessLines(lines(), 'abc-123');
  t.strictSame(pushLines.length, 1, 'one line for the push');
  t.strictSame(
    stable(pushLines[0]),
    {
      level: 30,
      request_id: 'abc-123',
      method: 'POST',
      route: '/states/:name',
      status: 200,
      bytes_in: doc.length,
      bytes_out: answer.length,
      user: 'user:alice',
      remote_address: '127.0.0.1',
      msg: 'request completed',
      times: TIMES,
    },
    'exactly these fields: method, route pattern, status, duration, bytes, user, address, request id',
  );

  // The round trip: the id the client sent is the event's request_id.
  const events = await (await server.request('/states/net/events')).json();
  t.strictSame(
    events.events.map((e: { type: string; request_id: string }) => [e.type, e.request_id]),
    [['StatePushed', 'abc-123']],
    'GET /states/NAME/events shows request_id abc-123',
  );
  const feed = await (await server.request('/events')).json();
  t.strictSame(
    feed.events.filter((e: { state: string }) => e.state === 'net').map((e: { request_id: string }) => e.request_id),
    ['abc-123'],
    'and so does the global feed',
  );

  const read = await server.request('/states/net', { headers: { 'x-request-id': 'read-1' } });
  const body = Buffer.from(await read.arrayBuffer());
  t.strictSame(body, doc);
  t.strictSame(
    stable(accessLines(lines(), 'read-1')[0]),
    { level: 30, request_id: 'read-1', method: 'GET', route: '/states/:name', status: 200, bytes_in: 0, bytes_out: doc.length, user: 'user:alice', remote_address: '127.0.0.1', msg: 'request completed', times: TIMES },
    'a read: the body bytes out',
  );

  // A generated id when the client sends none (or an unusable one), and one line for each request.
  const ids: string[] = [];
  for (const sent of [undefined, 'not sane: spaces and ;', 'ok-id-2']) {
    const reply = await server.request('/states', sent === undefined ? {} : { headers: { 'x-request-id': sent } });
    await reply.arrayBuffer();
    ids.push(reply.headers.get('x-request-id') ?? '');
  }
  t.ok(/^[0-9a-f-]{36}$/.test(ids[0] ?? '') && /^[0-9a-f-]{36}$/.test(ids[1] ?? ''), `generated ids: ${ids.join(', ')}`);
  t.strictSame(ids[2], 'ok-id-2');
  t.strictSame(ids.map((id) => accessLines(lines(), id).length), [1, 1, 1], 'one line per request');
  t.strictSame(accessLines(lines(), ids[0] ?? '')[0]?.route, '/states');

  const lock = newLockInfo();
  const lockBody = Buffer.from(JSON.stringify(lock));
  const locked = await server.request('/states/net/lock', { method: 'POST', body: lockBody, headers: { 'content-type': 'application/json', 'x-request-id': 'lock-1' } });
  await locked.arrayBuffer();
  const held = await server.request('/states/net/lock', {
    method: 'POST',
    body: Buffer.from(JSON.stringify(newLockInfo())),
    headers: { 'content-type': 'application/json', 'x-request-id': 'lock-2' },
  });
  const heldBody = Buffer.from(await held.arrayBuffer());
  t.strictSame(
    stable(accessLines(lines(), 'lock-2')[0]),
    { level: 30, request_id: 'lock-2', method: 'POST', route: '/states/:name/lock', status: 423, bytes_in: lockBody.length, bytes_out: heldBody.length, user: 'user:alice', remote_address: '127.0.0.1', msg: 'request completed', times: TIMES },
    'a 423 is logged like any answer',
  );

  const unknown = await server.request('/nothing/here', { headers: { 'x-request-id': 'nowhere' } });
  await unknown.arrayBuffer();
  t.strictSame(stable(accessLines(lines(), 'nowhere')[0]).route, null, 'no route: route null, never the raw path');
  t.notOk(JSON.stringify(lines()).includes('/nothing/here'), 'the raw path is not logged');
});

t.test('a failed login leaves a line, and no credential appears anywhere in the log', async (t) => {
  const { logger, lines } = capturedLogger();
  const server = await startServer(t, { logger });
  const wrong = 'Tr0ub4dor&3-wrong-password';
  const basic = basicAuth(USER, wrong);
  const failed = await fetch(`${server.baseUrl}/states/net`, { headers: { authorization: basic, 'x-request-id': 'login-1' } });
  t.strictSame(failed.status, 401);
  const failedBody = Buffer.from(await failed.arrayBuffer());
  t.strictSame(
    stable(accessLines(lines(), 'login-1')[0]),
    { level: 30, request_id: 'login-1', method: 'GET', route: null, status: 401, bytes_in: 0, bytes_out: failedBody.length, user: null, remote_address: '127.0.0.1', msg: 'request completed', times: TIMES },
    'the 401 goes through the access log (no user: nobody was authenticated)',
  );
  t.strictSame(lines().filter((line) => line.msg === 'failed login' && line.request_id === 'login-1').length, 1, 'beside the failed-login warning');

  const token = 'slt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
  const bearer = await fetch(`${server.baseUrl}/states/net`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'login-2' } });
  t.strictSame(bearer.status, 401);
  await bearer.arrayBuffer();
  t.strictSame(accessLines(lines(), 'login-2').length, 1, 'an unknown token: logged too');

  const querySecret = 'query-secret-value-42';
  const cookie = 'session=cookie-secret-value-43';
  const good = await fetch(`${server.baseUrl}/states?token=${querySecret}&password=${querySecret}`, {
    headers: { authorization: basicAuth(USER, PASSWORD), cookie, 'x-request-id': 'secrets-1' },
  });
  await good.arrayBuffer();
  t.strictSame(accessLines(lines(), 'secrets-1').length, 1, 'a request with a query and a cookie: logged');
  const changed = await server.request('/access/users', {
    method: 'POST',
    body: JSON.stringify({ name: 'carol', password: 'carol-password-in-a-body' }),
    headers: { 'content-type': 'application/json', 'x-request-id': 'secrets-2' },
  });
  t.strictSame(changed.status, 201);
  await changed.arrayBuffer();

  const everything = JSON.stringify(lines());
  for (const secret of [wrong, basic, basic.slice('Basic '.length), PASSWORD, token, querySecret, 'cookie-secret-value-43', 'carol-password-in-a-body']) {
    t.notOk(everything.includes(secret), `never logged: ${secret.slice(0, 12)}...`);
  }
  t.notOk(/authorization|cookie|"headers"|"query"|"url"/i.test(everything), 'no header, query or URL field at all');
});

t.test('health checks are logged at debug level only', async (t) => {
  const debugLines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') debugLines.push(JSON.parse(line) as Line);
      done();
    },
  });
  const atInfo = capturedLogger();
  const quiet = await startServer(t, { logger: atInfo.logger });
  const verbose = await startServer(t, { logger: pino({ level: 'debug' }, sink) });
  for (const server of [quiet, verbose]) {
    for (const path of ['/livez', '/readyz']) {
      const reply = await fetch(`${server.baseUrl}${path}`, { headers: { 'x-request-id': `health${path.replace('/', '-')}` } });
      t.strictSame(reply.status, 200);
      await reply.arrayBuffer();
    }
  }
  t.strictSame([...accessLines(atInfo.lines(), 'health-livez'), ...accessLines(atInfo.lines(), 'health-readyz')], [], 'nothing at info');
  t.strictSame(
    ['health-livez', 'health-readyz'].map((id) => accessLines(debugLines, id).map((line) => [line.level, line.route, line.status])),
    [[[20, '/livez', 200]], [[20, '/readyz', 200]]],
    'one debug line each',
  );
});
