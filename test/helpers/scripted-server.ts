/**
 * What the local stand-ins of the model APIs share (messages-api.ts for Claude, gemini-api.ts,
 * codex-api.ts): an HTTP server on a free loopback port that answers each call with the next
 * scripted reply, notes a call that came after the script ran out, and checks at the end that the
 * script was used up.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export abstract class ScriptedServer<Reply> {
  protected readonly script: Reply[] = [];
  protected served = 0;
  /** Set when a call came after the script ran out; `assertDone` throws it. */
  protected overrun: string | undefined;
  private readonly server = http.createServer((req, res) => {
    this.handle(req, res).catch((err: unknown) => res.destroy(err instanceof Error ? err : new Error(String(err))));
  });

  /** How the server names itself in errors ("Scripted Messages API"). */
  protected abstract readonly label: string;
  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;

  /** Start listening with `script` as the first replies. */
  protected async listen(script: Reply[]): Promise<this> {
    this.push(...script);
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return this;
  }

  protected get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Add replies to the end of the script. */
  push(...replies: Reply[]): void {
    this.script.push(...replies);
  }

  /** The next reply, or undefined (and the overrun noted, naming both counts) when the script ran out. */
  protected nextReply(what: string, arrived: number): Reply | undefined {
    const reply = this.script[this.served];
    if (reply === undefined) {
      this.overrun = `${this.label}: the script ran out: ${what} ${arrived} arrived, the script has ${this.script.length} replies`;
      return undefined;
    }
    this.served += 1;
    return reply;
  }

  /** Throws if a call came after the script ran out, or if scripted replies were left unused. */
  assertDone(): void {
    if (this.overrun) throw new Error(this.overrun);
    if (this.served < this.script.length) {
      throw new Error(`${this.label}: ${this.script.length - this.served} of ${this.script.length} replies unused`);
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A request's body, read whole. */
export async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
