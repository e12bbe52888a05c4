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
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`${bin} did not start on port ${port}: ${log}`)), 10000);
    child.once('error', (e) => { clearTimeout(timer); reject(new Error(`cannot start ${bin}: ${e.message}`)); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${bin} exited (${code}): ${log}`)); });
    child.stdout!.on('data', (d) => {
      log += d;
      if (/Ready to accept connections/.test(log)) { clearTimeout(timer); child.removeAllListeners('exit'); resolve(); }
    });
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}
