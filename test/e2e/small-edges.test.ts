import { createHash } from 'node:crypto';
import net from 'node:net';
import { startTestServer, type TestServer } from '../support/server';

/** Half a request, then the client vanishes. */
function abortMidBody(url: string, path: string, contentType: string): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(`POST ${path} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: ${contentType}\r\nContent-Length: 5000\r\n\r\n{"query":"`);
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 50);
    });
    socket.on('error', () => resolve());
  });
}

describe('small edges', () => {
  let server: TestServer;
  const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

  beforeAll(async () => {
    server = await startTestServer({ NODE_ENV: 'production', ALIPAY_GATEWAY: 'sandbox', SANDBOX_IN_PRODUCTION: 'true', SANDBOX_CONTROL_TOKEN: 'control-token-0123456789abcdef-0123456789', JWT_SECRET: 'edge-secret-0123456789abcdef-0123456789', METRICS_TOKEN });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers a persisted query whose hash does not match with a 400 and its own code, logged below error', async () => {
    const query = '{ me { id } }';
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, extensions: { persistedQuery: { version: 1, sha256Hash: '0'.repeat(64) } } }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: Array<{ extensions: { code: string } }> };
    expect(body.errors[0].extensions.code).toBe('PERSISTED_QUERY_HASH_MISMATCH');
    expect(server.logs.some((l) => l.includes('"level":"error"'))).toBe(false);
    // The right hash is accepted as usual.
    const ok = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await server.token('apq')}` },
      body: JSON.stringify({ query, extensions: { persistedQuery: { version: 1, sha256Hash: createHash('sha256').update(query).digest('hex') } } }),
    });
    expect(((await ok.json()) as { data: { me: { id: string } } }).data.me.id).toBe('apq');
  });

  it('serves /metrics only with METRICS_TOKEN as a bearer token', async () => {
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${METRICS_TOKEN}x`, METRICS_TOKEN, `bearer  ${METRICS_TOKEN}`]) {
      const res = await fetch(`${server.url}/metrics`, { headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(await res.text()).not.toContain('process_cpu_seconds_total');
    }
    const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('process_cpu_seconds_total');
  });

  it('lets nobody without the token reset the event-loop window in production', async () => {
    const res = await fetch(`${server.url}/metrics?reset=eventloop`);
    expect(res.status).toBe(401);
  });

  it('writes one debug line without a stack, and no error, when a client goes away mid-body', async () => {
    const before = server.logs.length;
    await abortMidBody(server.url, '/alipay/notify', 'application/x-www-form-urlencoded');
    await abortMidBody(server.url, '/graphql', 'application/json');
    await new Promise((r) => setTimeout(r, 200));
    const lines = server.logs.slice(before).map((l) => JSON.parse(l) as { level: string; msg: string; stack?: string });
    expect(lines.filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
    expect(lines.filter((l) => l.msg === 'client went away')).toHaveLength(2);
    // Besides those, only the two requests' own lines, which say the client went away.
    const others = lines.filter((l) => l.msg !== 'client went away');
    expect(others.map((l) => [l.msg, (l as { route?: string }).route, (l as { status?: unknown }).status]).sort()).toEqual([
      ['request', '/alipay/notify', 'aborted'],
      ['request', '/graphql', 'aborted'],
    ]);
    expect(lines.every((l) => !JSON.stringify(l).includes('    at '))).toBe(true);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
