/** Whether something listens on a TCP port: how claudomator finds servers it may reuse. */
import net from 'node:net';

/** True when a TCP connection to `host:port` opens within `timeoutMs`. */
export async function portAnswers(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when the host and port of a `postgres://` (or any) URL answer. */
export async function urlAnswers(url: string, defaultPort: number, timeoutMs = 1_000): Promise<boolean> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return false;
  }
  return portAnswers(target.hostname, Number(target.port || defaultPort), timeoutMs);
}
