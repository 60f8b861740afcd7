/**
 * `claudomator codec-server`: the codec endpoint of the Temporal Web UI (and of `temporal workflow
 * show --codec-endpoint`), so an operator sees claudomator's encrypted payloads decrypted. It holds the
 * keys of CLAUDOMATOR_ENCRYPTION_KEYS (or the data dir's key file); see infra/codec-server.ts.
 */
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../../infra/config.js';
import { info, out, parsePort } from './common.js';

export const DEFAULT_CODEC_PORT = 8234;

export function registerCodecCommands(program: Command): void {
  program
    .command('codec-server')
    .description(
      "Serve the Web UI's codec endpoint (POST /decode, /encode) with the payload keys, until Ctrl-C. " +
        'Point the UI at it: temporal server start-dev --ui-codec-endpoint <url>, or the namespace setting in Temporal Cloud.',
    )
    .option('--port <port>', 'port to listen on', parsePort, DEFAULT_CODEC_PORT)
    .option('--host <address>', 'interface to listen on (0.0.0.0: every interface; put TLS in front)', '127.0.0.1')
    .option(
      '--origin <origins...>',
      'Web UI origins allowed to call it (default: CLAUDOMATOR_CODEC_SERVER_ORIGINS, else the origin of CLAUDOMATOR_UI_URL)',
    )
    .action(async (opts: { port: number; host: string; origin?: string[] }) => {
      const { createPayloadCodec } = await import('../../infra/codec.js');
      const { startCodecServer } = await import('../../infra/codec-server.js');
      const config = loadConfig();
      if (config.encryption.keys.length === 0) {
        throw new ConfigError([
          {
            variable: 'CLAUDOMATOR_ENCRYPTION_KEYS',
            expected: 'the payload keys (<id>:<base64 of 32 bytes>,...) for the codec server to decrypt with',
          },
        ]);
      }
      const origins = opts.origin?.flatMap((o) => o.split(',')).map((o) => o.trim()) ?? config.codecServer.origins;
      for (const origin of origins) {
        if (!/^https?:\/\/[^/\s]+$/.test(origin) || !URL.canParse(origin)) {
          throw new ConfigError([
            { variable: '--origin', expected: 'origins such as http://localhost:8233', got: origin },
          ]);
        }
      }
      const server = await startCodecServer({
        codec: createPayloadCodec(config),
        host: opts.host,
        port: opts.port,
        origins,
        token: config.codecServer.token,
        namespace: config.temporal.namespace,
      });
      out(`codec server on ${server.url} (namespace ${config.temporal.namespace})`);
      info(
        `  keys ${config.encryption.keys.map((k) => k.id).join(', ')} from ${config.encryption.keySource}; ` +
          `origins ${origins.join(', ')}; bearer token ${config.codecServer.token ? 'required' : 'not required'}`,
      );
      info('Press Ctrl-C to stop.');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.close();
      info('stopped');
    });
}
