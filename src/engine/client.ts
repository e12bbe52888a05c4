// EngineClient: the extension host's side of the engine. Forks the engine lazily on the first request,
// restarts it on the next request after it exits, and fails every pending request with a clear message
// when it dies, so nothing waits forever. No vscode import: it is tested with a real child process.
import { fork, type ChildProcess } from 'child_process';
import {
  describeIssues, EngineMessage, parseResult, type BackendSetting, type EngineBackendInfo, type Method,
  type ParamsIn, type Progress, type Result,
} from './protocol';

export interface EngineClientOptions {
  /** The engine entry: dist/engine.js (or src/engine/main.ts with a TypeScript loader in execArgv). */
  modulePath: string;
  backend: BackendSetting;
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Engine log lines and its stderr. */
  onLog?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** The engine process exited (crash, kill, or dispose); `expected` is true only for dispose/restart. */
  onExit?: (info: { code: number | null; signal: NodeJS.Signals | null; expected: boolean }) => void;
  /** A (re)started engine has its backend ready. */
  onReady?: (backend: EngineBackendInfo) => void;
}

interface Pending {
  method: Method;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  onProgress?: (p: Progress) => void;
}

export interface Job<T> {
  /** The request id: pass it to cancel(). */
  id: number;
  result: Promise<T>;
}

export class EngineClient {
  private child: ChildProcess | null = null;
  private ready: Promise<EngineBackendInfo> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stopping = new WeakSet<ChildProcess>();
  private disposed = false;
  /** How many engine processes have been started (1 after the first start, 2 after one restart, ...). */
  starts = 0;

  constructor(private options: EngineClientOptions) {}

  get running(): boolean {
    return this.child !== null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the engine if it is not running and returns its backend. */
  start(): Promise<EngineBackendInfo> {
    if (this.disposed) return Promise.reject(new Error('the Neuron Lens engine client was disposed'));
    if (this.ready) return this.ready;
    const child = fork(this.options.modulePath, [], {
      execArgv: this.options.execArgv ?? [],
      env: this.options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    this.child = child;
    this.starts++;
    const forward = (level: 'info' | 'error') => (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split(/\r?\n/)) if (line.trim()) this.options.onLog?.(level, line);
    };
    child.stdout?.on('data', forward('info'));
    child.stderr?.on('data', forward('error'));
    child.on('message', (m) => this.onMessage(m));
    child.on('error', (e) => this.options.onLog?.('error', `engine process error: ${e.message}`));
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
    this.ready = this.send(child, 'init', { backend: this.options.backend }).result.then((b) => {
      this.options.onReady?.(b);
      return b;
    });
    this.ready.catch(() => undefined);
    return this.ready;
  }

  /** Sends a request, starting the engine first if needed. */
  request<M extends Method>(method: M, params: ParamsIn<M>, onProgress?: (p: Progress) => void): Job<Result<M>> {
    const id = this.nextId++;
    const result = this.start().then(() => {
      if (!this.child) throw new Error(`the Neuron Lens engine stopped before ${method} could be sent`);
      return this.send(this.child, method, params, onProgress, id).result;
    });
    return { id, result };
  }

  loadModel(params: ParamsIn<'loadModel'>): Promise<Result<'loadModel'>> {
    return this.request('loadModel', params).result;
  }

  visualize(params: ParamsIn<'visualize'>, onProgress?: (p: Progress) => void): Job<Result<'visualize'>> {
    return this.request('visualize', params, onProgress);
  }

  /** Asks the engine to stop a job after its current step; the job then resolves with `cancelled: true`. */
  async cancel(jobId: number): Promise<boolean> {
    if (!this.child) return false;
    return (await this.send(this.child, 'cancel', { jobId }).result).found;
  }

  /** Stops the engine (failing pending requests); the next request starts a new one. */
  restart(reason = 'the engine was restarted'): void {
    const c = this.child;
    if (!c) return;
    this.stopping.add(c);
    this.failAll(new Error(`Neuron Lens: ${reason}`));
    this.detach();
    c.kill();
  }

  /** Changes the backend; takes effect by restarting a running engine. */
  setBackend(backend: BackendSetting): void {
    if (backend === this.options.backend) return;
    this.options = { ...this.options, backend };
    this.restart(`the backend setting changed to ${backend}`);
  }

  dispose(): void {
    this.restart('the engine was shut down');
    this.disposed = true;
  }

  private send<M extends Method>(child: ChildProcess, method: M, params: ParamsIn<M>, onProgress?: (p: Progress) => void, id = this.nextId++): Job<Result<M>> {
    const result = new Promise<Result<M>>((resolve, reject) => {
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject, onProgress });
      try {
        child.send({ kind: 'request', id, method, params }, (err) => {
          if (err) this.settle(id, new Error(`cannot send ${method} to the Neuron Lens engine: ${err.message}`));
        });
      } catch (e) {
        this.settle(id, new Error(`cannot send ${method} to the Neuron Lens engine: ${(e as Error).message}`));
      }
    });
    return { id, result };
  }

  private settle(id: number, error: Error | null, value?: unknown): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (error) p.reject(error);
    else p.resolve(value);
  }

  private onMessage(raw: unknown): void {
    const r = EngineMessage.safeParse(raw);
    if (!r.success) {
      this.options.onLog?.('error', `ignored a malformed message from the engine: ${describeIssues(r.error)}`);
      return;
    }
    const m = r.data;
    if (m.kind === 'log') this.options.onLog?.(m.level, m.message);
    else if (m.kind === 'progress') this.pending.get(m.id)?.onProgress?.(m);
    else if (!m.ok) this.settle(m.id, new Error(m.error.message));
    else {
      const p = this.pending.get(m.id);
      if (!p) return;
      try {
        this.settle(m.id, null, parseResult(p.method, m.result));
      } catch (e) {
        this.settle(m.id, e as Error);
      }
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    const expected = this.stopping.has(child);
    if (this.child === child) {
      const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
      const running = [...this.pending.values()].map((p) => p.method);
      const what = running.length ? ` while running ${[...new Set(running)].join(', ')}` : '';
      this.failAll(new Error(`The Neuron Lens engine ${how}${what}; it will be restarted on the next request`));
      this.detach();
    }
    this.options.onExit?.({ code, signal, expected });
  }

  private detach(): void {
    this.child = null;
    this.ready = null;
  }

  private failAll(e: Error): void {
    const ids = [...this.pending.keys()];
    for (const id of ids) this.settle(id, e);
  }
}
