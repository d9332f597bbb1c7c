/**
 * `webgan playground`: builds the browser playground (apps/playground) and serves it on localhost
 * until interrupted.
 */
import { startPlayground } from '../../../../apps/playground/server';
import { flagHelp, parseFlags, type FlagSpec } from './flags';

const SPEC: Record<string, FlagSpec> = {
  port: { kind: 'integer', help: 'port to listen on (default 8080; 0 picks a free one)' },
  host: { kind: 'string', help: 'address to listen on (default 127.0.0.1, this machine only)' },
  help: { kind: 'boolean', help: 'show this help' },
};

export async function playgroundCommand(args: string[]): Promise<number> {
  const { flags } = parseFlags('playground', args, SPEC);
  if (flags.help) {
    console.log(`usage: webgan playground [flags]\n\n${flagHelp(SPEC)}`);
    return 0;
  }
  const port = (flags.port as number | undefined) ?? 8080;
  if (port < 0 || port > 65535) throw new Error(`playground: --port must be 0–65535, got ${port}`);
  const server = await startPlayground({ port, host: flags.host as string | undefined });
  console.log(`webgan playground: ${server.url}  (open it in a WebGPU browser; Ctrl-C stops the server)`);
  await new Promise<void>((resolve) => {
    const stop = () => void server.close().then(resolve, resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}
