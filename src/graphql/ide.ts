import fs from 'node:fs';
import path from 'node:path';
import { Router, type Request } from 'express';

/**
 * GraphiQL at GET /graphql for a browser, served whole from the project's own dependencies: the page loads
 * nothing from outside this service (no CDN, works offline). Subscriptions go over graphql-ws on the same path;
 * the headers editor is prefilled, when given, with a development token.
 */
export interface IdeOptions {
  /** Headers to prefill (development only: the dev user's bearer token). */
  headers?: () => Promise<Record<string, string> | null>;
}

const ASSETS: Record<string, { module: string; type: string }> = {
  'react.js': { module: 'react/umd/react.production.min.js', type: 'text/javascript' },
  'react-dom.js': { module: 'react-dom/umd/react-dom.production.min.js', type: 'text/javascript' },
  'graphiql.js': { module: 'graphiql/graphiql.min.js', type: 'text/javascript' },
  'graphiql.css': { module: 'graphiql/graphiql.min.css', type: 'text/css' },
};

/** Starts GraphiQL on the page (an external script: the page's CSP allows no inline script). */
const IDE_CLIENT = `(function () {
  var root = document.getElementById('graphiql');
  var http = new URL(root.dataset.endpoint, window.location.href);
  var ws = new URL(http.href);
  ws.protocol = http.protocol === 'https:' ? 'wss:' : 'ws:';
  var fetcher = GraphiQL.createFetcher({ url: http.href, subscriptionUrl: ws.href });
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: root.dataset.query,
      headers: root.dataset.headers || undefined,
      defaultEditorToolsVisibility: root.dataset.headers ? 'headers' : undefined,
      shouldPersistHeaders: false,
    }),
  );
})();
`;

const DEFAULT_QUERY = `# The Alipay payment service. Ctrl-Enter runs the query; the headers below carry your token.
{
  me {
    id
  }
}
`;

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  // GraphiQL and CodeMirror set element styles from script.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  // 'self' covers ws:/wss: to this host in CSP Level 3 browsers.
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const escapeAttribute = (value: string) => value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A browser asking for a page (not a GraphQL GET with a query, not a client asking for JSON). */
export function wantsIde(req: Request): boolean {
  if (req.query.query !== undefined || req.query.extensions !== undefined) return false;
  const accept = req.headers.accept ?? '';
  return /\btext\/html\b/i.test(accept);
}

export function ideRoutes(options: IdeOptions = {}): Router {
  const router = Router();
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const [name, { module, type }] of Object.entries(ASSETS)) {
    // By package folder: react's "exports" do not list its UMD builds.
    const [pkg, ...rest] = module.split('/');
    files.set(name, { body: fs.readFileSync(path.join(path.dirname(require.resolve(`${pkg}/package.json`)), ...rest)), type });
  }
  files.set('ide.js', { body: Buffer.from(IDE_CLIENT), type: 'text/javascript' });
  router.get('/graphql', async (req, res, next) => {
    if (!wantsIde(req)) return next();
    const headers = (await options.headers?.().catch(() => null)) ?? null;
    const data = [
      ['endpoint', '/graphql'],
      ['query', DEFAULT_QUERY],
      ...(headers ? [['headers', JSON.stringify(headers, null, 2)]] : []),
    ]
      .map(([k, v]) => `data-${k}="${escapeAttribute(v)}"`)
      .join(' ');
    res
      .status(200)
      .set({ 'content-security-policy': CSP, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'x-content-type-options': 'nosniff' })
      .type('text/html; charset=utf-8')
      .send(
        `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL · Alipay payment service</title>
<link rel="stylesheet" href="/graphql/ide/graphiql.css">
<style>html, body { height: 100%; margin: 0; } #graphiql { height: 100vh; }</style>
</head>
<body>
<div id="graphiql" ${data}>Loading GraphiQL…</div>
<script src="/graphql/ide/react.js"></script>
<script src="/graphql/ide/react-dom.js"></script>
<script src="/graphql/ide/graphiql.js"></script>
<script src="/graphql/ide/ide.js"></script>
</body>
</html>
`,
      );
  });
  router.get('/graphql/ide/:file', (req, res, next) => {
    const file = files.get(req.params.file);
    if (!file) return next();
    res.set({ 'cache-control': 'public, max-age=3600', 'x-content-type-options': 'nosniff' }).type(file.type).send(file.body);
  });
  return router;
}
