import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readRuntimeInfo, removeRuntimeInfo, writeRuntimeInfo } from '../../src/dev/runtime-info';

describe('DATA_DIR/runtime.json', () => {
  let dataDir: string;
  const file = () => path.join(dataDir, 'runtime.json');
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-svc-runtime-'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('is left in place when a process other than its writer removes it (a failed second npm start)', () => {
    // The running server is another live process: our parent stands in for it.
    const running = { pid: process.ppid, publicUrl: 'http://127.0.0.1:4000', databaseUrl: 'postgres://x@/db' };
    writeRuntimeInfo(dataDir, running);
    expect(removeRuntimeInfo(dataDir)).toBe(false); // this process did not write it
    expect(removeRuntimeInfo(dataDir, process.pid)).toBe(false);
    expect(JSON.parse(fs.readFileSync(file(), 'utf8'))).toEqual(running);
    expect(readRuntimeInfo(dataDir)).toEqual(running);
  });

  it('is removed by the process that wrote it', () => {
    writeRuntimeInfo(dataDir, { pid: process.pid, publicUrl: 'http://127.0.0.1:4000', databaseUrl: 'postgres://x@/db' });
    expect(removeRuntimeInfo(dataDir)).toBe(true);
    expect(fs.existsSync(file())).toBe(false);
  });

  it('is removed by pid when the writer names its own pid explicitly', () => {
    writeRuntimeInfo(dataDir, { pid: 4242, publicUrl: 'http://127.0.0.1:4000', databaseUrl: 'postgres://x@/db' });
    expect(removeRuntimeInfo(dataDir, 4243)).toBe(false);
    expect(fs.existsSync(file())).toBe(true);
    expect(removeRuntimeInfo(dataDir, 4242)).toBe(true);
    expect(fs.existsSync(file())).toBe(false);
  });

  it('removing a missing or unreadable file is a quiet no-op that leaves an unreadable file alone', () => {
    expect(removeRuntimeInfo(dataDir)).toBe(false);
    fs.writeFileSync(file(), '{not json');
    expect(removeRuntimeInfo(dataDir)).toBe(false);
    expect(fs.readFileSync(file(), 'utf8')).toBe('{not json');
  });
});
