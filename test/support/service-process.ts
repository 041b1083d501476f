import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const PROJECT = path.resolve(__dirname, '../..');
const REGISTER = path.join(PROJECT, 'scripts/swc-register.js');

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  alive(): boolean;
  /** SIGTERM, then SIGKILL after 15 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * The service as its own process (`src/main.ts`, as `npm start` runs it) on the given environment, resolved once
 * /readyz answers. Only the variables passed (plus PATH and HOME) reach it.
 */
export async function spawnService(env: Record<string, string>, port: number): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['--enable-source-maps', '-r', REGISTER, 'src/main.ts'], {
    cwd: PROJECT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LANG: 'C.UTF-8', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const service: ServiceProcess = {
    url,
    child,
    output: () => out,
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (!service.alive()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
  const until = Date.now() + 60_000;
  for (;;) {
    if (!service.alive()) throw new Error(`the service exited before it was ready:\n${out}`);
    const ready = await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false);
    if (ready) return service;
    if (Date.now() > until) {
      await service.stop();
      throw new Error(`the service was not ready within 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
