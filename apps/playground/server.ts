/**
 * Serves the built playground on localhost: the static files only, from memory, nothing else.
 */
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PLAYGROUND_FILES, buildPlayground, defaultPlaygroundOutDir } from './build';

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  map: 'application/json; charset=utf-8',
  bin: 'application/octet-stream',
};

export interface PlaygroundServer {
  url: string;
  close(): Promise<void>;
}

export interface PlaygroundServerOptions {
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  outDir?: string;
}

export async function startPlayground(options: PlaygroundServerOptions = {}): Promise<PlaygroundServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8080;
  const outDir = options.outDir ?? defaultPlaygroundOutDir();
  await buildPlayground(outDir);
  const files = new Map(PLAYGROUND_FILES.map((name) => [`/${name}`, { bytes: readFileSync(join(outDir, name)), type: TYPES[name.split('.').pop()!] }]));
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const file = files.get(path === '/' ? '/index.html' : path);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (!file) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: ${path}\n`);
    } else {
      response.writeHead(200, { 'content-type': file.type, 'content-length': file.bytes.length, 'cache-control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : file.bytes);
    }
  });
  await listen(server, port, host);
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${actualPort}/`,
    close: () => new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((error) => (error ? reject(error) : resolve()));
    }),
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(new Error(`playground: port ${port} on ${host} is in use; pass --port N (0 picks a free port)`));
      else if (error.code === 'EACCES') reject(new Error(`playground: no permission to listen on ${host}:${port}; pass a port above 1023`));
      else reject(error);
    });
    server.listen(port, host, () => resolve());
  });
}
