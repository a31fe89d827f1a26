import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { GraphiQLOptions } from 'graphql-yoga';

/**
 * GraphiQL at /graphql, offline and with subscriptions over graphql-ws (DESIGN.md §5, §6).
 *
 * Yoga's own page loads its scripts from a CDN, so it stays on "Loading…" without internet access; the
 * bundle of @graphql-yoga/render-graphiql has them, and this page inlines it. Its default fetcher cannot
 * authenticate a WebSocket, though: it sends the Headers editor's values on HTTP only, and its
 * `connectionParams` is one value fixed when the page loads. So the page hands GraphiQL a fetcher of its
 * own (the bundle passes `fetcher` through): queries and mutations are POSTed with the editor's headers,
 * and a subscription opens a graphql-ws socket whose `connectionParams.authorization` is the editor's
 * `Authorization` header — the one thing the server reads from `connection_init` (DESIGN.md §5).
 */
export function renderGraphiQLPage(options: GraphiQLOptions, endpoint: string): string {
  const assets = loadAssets();
  const pageOptions = { ...options, endpoint: options.endpoint ?? endpoint };
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${escapeHtml(options.title ?? 'GraphiQL')}</title>
    <link rel="icon" href="${escapeHtml(options.favicon ?? assets.graphiql.favicon)}" />
    <style>
${assets.graphiql.css}
    </style>
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>You need to enable JavaScript to run this app.</noscript>
    <div id="root"></div>
    <script>${assets.graphqlWs}</script>
    <script>
      (function () {
        function workerUrl(source) {
          return URL.createObjectURL(new Blob([source], { type: 'application/javascript' }));
        }
        var workers = {
          editorWorkerService: workerUrl(${inlineJson(assets.graphiql.editorWorkerService)}),
          json: workerUrl(${inlineJson(assets.graphiql.jsonWorker)}),
          graphql: workerUrl(${inlineJson(assets.graphiql.graphqlWorker)}),
        };
        self['MonacoEnvironment'] = {
          globalAPI: false,
          getWorkerUrl: function (moduleId, label) { return workers[label]; },
        };
      })();
    </script>
    <script>${assets.graphiql.js};</script>
    <script>
${OPERATION_TYPE_SCRIPT}
${FETCHER_SCRIPT}
      var options = ${inlineJson(pageOptions)};
      options.fetcher = parleyFetcher(options);
      YogaGraphiQL.renderYogaGraphiQL(document.querySelector('#root'), options);
    </script>
  </body>
</html>
`;
}

/**
 * Runs in the page. The socket goes to the page's own origin: in the `all` role that is this server, and in
 * a split cluster the proxy in front sends upgrades to receivers and POSTs to senders on the same address.
 * One socket per subscription run, so a header edited between runs always takes effect, and no retries: a
 * refused token shows at once as the close code and reason in the result pane instead of after backoffs.
 */
const FETCHER_SCRIPT = String.raw`
      function parleyFetcher(options) {
        var endpoint = new URL(options.endpoint, location.href);
        var socketUrl = new URL(endpoint.href);
        socketUrl.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';

        function authorizationOf(headers) {
          for (var name in headers || {}) {
            if (name.toLowerCase() === 'authorization') return String(headers[name]);
          }
          return null;
        }

        // graphql-ws reports a refused or dropped socket as its CloseEvent, which GraphiQL would print as {}.
        function describe(error) {
          if (error && typeof error.code === 'number' && 'reason' in error) {
            return new Error('WebSocket closed with ' + error.code + (error.reason ? ': ' + error.reason : ''));
          }
          return error;
        }

        function overSocket(params, authorization) {
          return {
            subscribe: function (sink) {
              var client = graphqlWs.createClient({
                url: socketUrl.href,
                retryAttempts: 0,
                connectionParams: authorization === null ? {} : { authorization: authorization },
              });
              var stop = client.subscribe(params, {
                next: function (value) { sink.next(value); },
                error: function (error) { sink.error(describe(error)); client.dispose(); },
                complete: function () { sink.complete(); client.dispose(); },
              });
              return { unsubscribe: function () { stop(); client.dispose(); } };
            },
          };
        }

        function overHttp(params, headers) {
          return fetch(endpoint.href, {
            method: 'POST',
            credentials: options.credentials || 'same-origin',
            headers: Object.assign(
              { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
              options.additionalHeaders,
              headers,
            ),
            body: JSON.stringify(params),
          }).then(function (response) {
            return response.text().then(function (text) {
              try {
                return JSON.parse(text);
              } catch (_) {
                return { errors: [{ message: 'HTTP ' + response.status + ': ' + text }] };
              }
            });
          });
        }

        return function (params, fetcherOptions) {
          var headers = Object.assign({}, options.additionalHeaders, fetcherOptions && fetcherOptions.headers);
          if (operationTypeOf(params.query, params.operationName) === 'subscription') return overSocket(params, authorizationOf(headers));
          return overHttp(params, headers);
        };
      }
`;

/**
 * Runs in the page: the type of the operation that a request runs. GraphiQL also hands the fetcher a parsed
 * document, but that one is updated after a pause in typing, so a query pasted and run at once arrives with
 * the previous document; the text itself is always current. Strings and comments are blanked, then the
 * definitions are read at bracket depth 0: `query|mutation|subscription [Name]`, a bare `{` (a query), or a
 * fragment. Exported for its unit test, which runs this very text.
 */
export const OPERATION_TYPE_SCRIPT = String.raw`
      function operationTypeOf(query, operationName) {
        var source = String(query || '').replace(/"""[\s\S]*?(?:"""|$)|"(?:[^"\\\n]|\\.)*"?|#[^\n]*/g, ' ');
        var tokens = source.match(/[{}()\[\]]|@?[_A-Za-z][_0-9A-Za-z]*/g) || [];
        var operations = [];
        var depth = 0;
        var current = null;
        for (var i = 0; i < tokens.length; i++) {
          var token = tokens[i];
          if (token === '{' || token === '(' || token === '[') {
            if (depth === 0 && token === '{' && current === null) {
              current = { type: 'query', name: null };
              operations.push(current);
            }
            depth++;
          } else if (token === '}' || token === ')' || token === ']') {
            depth = Math.max(0, depth - 1);
            if (depth === 0 && token === '}') current = null;
          } else if (depth === 0 && current === null) {
            if (token === 'query' || token === 'mutation' || token === 'subscription') {
              var next = tokens[i + 1];
              current = { type: token, name: next && /^[_A-Za-z]/.test(next) ? next : null };
              operations.push(current);
            } else if (token === 'fragment') {
              current = { type: 'fragment', name: null };
            }
          }
        }
        var chosen = operationName
          ? operations.find(function (operation) { return operation.name === operationName; })
          : operations[0];
        return chosen ? chosen.type : 'query';
      }
`;

interface GraphiQLAssets {
  graphiql: { css: string; js: string; favicon: string; editorWorkerService: string; jsonWorker: string; graphqlWorker: string };
  graphqlWs: string;
}

/** About 9 MB, read on first use only: most instances never serve the page. */
let assets: GraphiQLAssets | null = null;

function loadAssets(): GraphiQLAssets {
  if (assets) return assets;
  // The bundle is not in the package's exports; it sits next to its entry point.
  const graphiqlModule = join(dirname(require.resolve('@graphql-yoga/render-graphiql')), 'graphiql.js');
  const graphqlWsBrowser = join(dirname(require.resolve('graphql-ws/package.json')), 'umd', 'graphql-ws.min.js');
  assets = {
    graphiql: require(graphiqlModule) as GraphiQLAssets['graphiql'],
    graphqlWs: readFileSync(graphqlWsBrowser, 'utf8'),
  };
  return assets;
}

/** JSON inside a <script>: a "</script>" in a string must not end the element. */
function inlineJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
