// A real redis-server for tests: started on a free loopback port with no persistence, stopped after.
import { spawn, type ChildProcess } from 'child_process';
import * as net from 'net';

export interface TestRedis {
  url: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startRedis(bin = '/usr/bin/redis-server'): Promise<TestRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let log = '';
  child.stdout!.on('data', (d) => { log += d; });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${bin} did not start on port ${port}: ${log}`)), 10000);
    child.once('error', (e) => { clearTimeout(timer); reject(new Error(`cannot start ${bin}: ${e.message}`)); });
    exited.then((code) => { clearTimeout(timer); reject(new Error(`${bin} exited (${code}): ${log}`)); });
    child.stdout!.on('data', () => {
      if (/Ready to accept connections/.test(log)) { clearTimeout(timer); resolve(); }
    });
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
