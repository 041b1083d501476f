import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer } from '@apollo/server';
import { ClientAbortError, readBody } from '../common/http';
import type { AppContext } from './context';

/**
 * POST /graphql straight from node:http into Apollo, without Express's router and body parsers: the hottest
 * route of the service (createOrder, pay links). Same body limit, same JSON errors, same Apollo pipeline (CSRF
 * prevention included); everything else still goes through Express.
 */
export function graphqlPostHandler(
  apollo: ApolloServer<AppContext>,
  context: (req: IncomingMessage) => Promise<AppContext>,
  limitBytes: number,
  onAbort: (err: ClientAbortError) => void = () => undefined,
): (req: IncomingMessage, res: ServerResponse) => void {
  const fail = (res: ServerResponse, status: number, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', connection: status === 413 ? 'close' : 'keep-alive' });
    res.end(JSON.stringify({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] }));
  };
  return (req, res) => {
    void readBody(req, limitBytes)
      .then((body) => {
        if (!body.ok) {
          fail(res, 413, 'Request body too large');
          return undefined;
        }
        return respond(req, res, body.raw);
      })
      .catch((err) => {
        if (err instanceof ClientAbortError) {
          onAbort(err);
          res.destroy();
          return;
        }
        if (!res.headersSent) fail(res, 500, 'Internal server error');
        res.destroy(err as Error);
      });
  };

  async function respond(req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
    const type = req.headers['content-type'] ?? '';
    let body: unknown;
    if (/^application\/(.+\+)?json\b/i.test(type)) {
      try {
        body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
      } catch {
        fail(res, 400, 'Malformed JSON body');
        return;
      }
    }
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const at = req.url!.indexOf('?');
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: 'POST', headers, search: at < 0 ? '' : req.url!.slice(at), body },
      context: () => context(req),
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  }
}
