import fs from 'node:fs';
import path from 'node:path';

/**
 * What a running development server tells local tools (npm run dev:notify): its URL and its database. Written to
 * DATA_DIR/runtime.json (mode 0600) at start, removed at a clean stop.
 */
export interface RuntimeInfo {
  pid: number;
  publicUrl: string;
  databaseUrl: string;
}

const file = (dataDir: string) => path.join(dataDir, 'runtime.json');

export function writeRuntimeInfo(dataDir: string, info: RuntimeInfo): void {
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file(dataDir), JSON.stringify(info), { mode: 0o600 });
}

export function readRuntimeInfo(dataDir: string): RuntimeInfo | null {
  try {
    const info = JSON.parse(fs.readFileSync(file(dataDir), 'utf8')) as RuntimeInfo;
    process.kill(info.pid, 0);
    return info;
  } catch {
    return null;
  }
}

/**
 * Removes runtime.json only when it is this process's own (`pid`): a second `npm start` that fails (the port is
 * taken, the database is in use) must not delete the file of the server that is still running.
 */
export function removeRuntimeInfo(dataDir: string, pid: number = process.pid): boolean {
  try {
    const info = JSON.parse(fs.readFileSync(file(dataDir), 'utf8')) as Partial<RuntimeInfo>;
    if (info.pid !== pid) return false;
  } catch {
    return false; // absent or unreadable: nothing of ours to remove
  }
  fs.rmSync(file(dataDir), { force: true });
  return true;
}
