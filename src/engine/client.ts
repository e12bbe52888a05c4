// EngineClient: the extension host's side of the engine. Forks the engine lazily on the first request,
// restarts it on the next request after it exits, and fails every pending request with a clear message
// when it dies, so nothing waits forever. A cancel that cannot wait (a model load, which cannot stop
// midway, or an engine that does not answer) restarts the engine; loads time out; the engine's heap is
// capped, and running out of it says so. No vscode import: it is tested with a real child process.
import { fork, type ChildProcess } from 'child_process';
import * as path from 'path';
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
  onExit?: (info: { code: number | null; signal: NodeJS.Signals | null; expected: boolean; outOfMemory?: boolean }) => void;
  /** A (re)started engine has its backend ready. */
  onReady?: (backend: EngineBackendInfo) => void;
  /** The engine's JavaScript heap limit in MB (node --max-old-space-size); running out fails with a message naming it. */
  memoryMB?: number;
  /** A loadModel that has not answered after this long restarts the engine and fails with a clear error. */
  loadTimeoutMs?: number;
  /** Why a request may not touch this model file now (e.g. an untrusted workspace), or undefined: the request then fails with it. */
  refuse?: (modelPath: string) => string | undefined;
}

/** How long a cancel waits for the engine to answer before it restarts it (a blocking load cannot answer). */
export const CANCEL_GRACE_MS = 500;

/** A request ended by cancel(): the caller shows "cancelled", not an error. */
export class CancelledError extends Error {}

export function isCancelled(e: unknown): boolean {
  return e instanceof CancelledError;
}

/** The setting that caps the engine's heap (named in the out-of-memory error). */
export const MEMORY_SETTING = 'neuronLens.engineMemoryMB';
/** The setting behind loadTimeoutMs (named in the timeout error). */
export const LOAD_TIMEOUT_SETTING = 'neuronLens.loadTimeoutSeconds';

/** What node prints on stderr when the heap limit is reached (before it aborts). */
const OUT_OF_MEMORY = /JavaScript heap out of memory|Reached heap limit|Fatal JavaScript out of memory/;

interface Pending {
  method: Method;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  onProgress?: (p: Progress) => void;
  /** The model file the request uses (absolute), if any. */
  model?: string;
  /** A job that reported progress is stepping: it stops after its current step. */
  progressed?: boolean;
  timer?: NodeJS.Timeout;
}

/** The model file a request names, if any. */
function modelOf(params: unknown): string | undefined {
  const p = params as { path?: unknown; model?: { path?: unknown } } | undefined;
  const file = typeof p?.path === 'string' ? p.path : typeof p?.model?.path === 'string' ? p.model.path : undefined;
  return file ? path.resolve(file) : undefined;
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
  /** Requests waiting for the engine to start, by id. */
  private readonly unsent = new Map<number, Method>();
  private nextId = 1;
  private stopping = new WeakSet<ChildProcess>();
  private disposed = false;
  /** Engines whose stderr said they ran out of heap. */
  private outOfMemory = new WeakSet<ChildProcess>();
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
      execArgv: [...(this.options.execArgv ?? []), ...(this.options.memoryMB ? [`--max-old-space-size=${this.options.memoryMB}`] : [])],
      env: this.options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    this.child = child;
    this.starts++;
    const forward = (level: 'info' | 'error') => (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split(/\r?\n/)) {
        if (OUT_OF_MEMORY.test(line)) this.outOfMemory.add(child);
        if (line.trim()) this.options.onLog?.(level, line);
      }
    };
    child.stdout?.on('data', forward('info'));
    child.stderr?.on('data', forward('error'));
    child.on('message', (m) => this.onMessage(m));
    child.on('error', (e) => this.options.onLog?.('error', `engine process error: ${e.message}`));
    // 'close', not 'exit': stderr (which tells an out-of-memory death) has been read by then.
    child.on('close', (code, signal) => this.onExit(child, code, signal));
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
    const model = modelOf(params);
    const refusal = model && this.options.refuse?.(model);
    if (refusal) return { id, result: Promise.reject(new Error(refusal)) };
    this.unsent.set(id, method);
    const result = this.start().then(() => {
      if (!this.unsent.delete(id)) throw new CancelledError(`Neuron Lens: ${method} cancelled`);
      if (!this.child) throw new Error(`the Neuron Lens engine stopped before ${method} could be sent`);
      return this.send(this.child, method, params, onProgress, id).result;
    }, (e) => {
      this.unsent.delete(id);
      throw e;
    });
    return { id, result };
  }

  loadModel(params: ParamsIn<'loadModel'>): Promise<Result<'loadModel'>> {
    return this.request('loadModel', params).result;
  }

  visualize(params: ParamsIn<'visualize'>, onProgress?: (p: Progress) => void): Job<Result<'visualize'>> {
    return this.request('visualize', params, onProgress);
  }

  /**
   * Cancels a request. A job that is stepping (or queued behind one) stops after its current step and
   * resolves with `cancelled: true`. A request waiting for a model load, or an engine that does not answer
   * within CANCEL_GRACE_MS, cannot wait: the engine is restarted and the pending requests fail with a
   * CancelledError. Any other request (or one not sent yet) fails with a CancelledError at once.
   * False if the request is not pending.
   */
  async cancel(jobId: number): Promise<boolean> {
    if (this.unsent.delete(jobId)) return true;
    const p = this.pending.get(jobId);
    const child = this.child;
    if (!p || !child) return false;
    const asked = this.send(child, 'cancel', { jobId }).result;
    if (p.progressed) return (await asked).found;
    let timer: NodeJS.Timeout | undefined;
    const answer = await Promise.race([asked.catch(() => null), new Promise<null>((r) => { timer = setTimeout(() => r(null), CANCEL_GRACE_MS); })]);
    clearTimeout(timer);
    if (!this.pending.has(jobId) || this.child !== child) return true;
    if (!answer || (p.model && answer.loading.includes(p.model))) {
      const what = p.model ? `loading ${path.basename(p.model)}` : p.method;
      this.stop(child, new CancelledError(`Neuron Lens: cancelled ${what} (the engine was restarted to stop it)`));
    } else if (!answer.found) {
      this.settle(jobId, new CancelledError(`Neuron Lens: ${p.method} cancelled`));
    }
    return true;
  }

  /** Stops the engine (failing pending requests); the next request starts a new one. */
  restart(reason = 'the engine was restarted'): void {
    if (this.child) this.stop(this.child, new Error(`Neuron Lens: ${reason}`));
  }

  /** Changes the backend; takes effect by restarting a running engine. */
  setBackend(backend: BackendSetting): void {
    if (backend === this.options.backend) return;
    this.options = { ...this.options, backend };
    this.restart(`the backend setting changed to ${backend}`);
  }

  /** Changes the heap limit; takes effect by restarting a running engine. */
  setMemoryMB(memoryMB: number): void {
    if (memoryMB === this.options.memoryMB) return;
    this.options = { ...this.options, memoryMB };
    this.restart(`the ${MEMORY_SETTING} setting changed to ${memoryMB}`);
  }

  /** Changes the load timeout of the next loads. */
  setLoadTimeoutMs(loadTimeoutMs: number): void {
    this.options = { ...this.options, loadTimeoutMs };
  }

  dispose(): void {
    this.restart('the engine was shut down');
    this.disposed = true;
  }

  private stop(c: ChildProcess, error: Error): void {
    this.stopping.add(c);
    this.failAll(error);
    this.detach();
    c.kill('SIGKILL');
  }

  private send<M extends Method>(child: ChildProcess, method: M, params: ParamsIn<M>, onProgress?: (p: Progress) => void, id = this.nextId++): Job<Result<M>> {
    const result = new Promise<Result<M>>((resolve, reject) => {
      const p: Pending = { method, resolve: resolve as (v: unknown) => void, reject, onProgress, model: modelOf(params) };
      this.pending.set(id, p);
      if (method === 'loadModel' && this.options.loadTimeoutMs) {
        const ms = this.options.loadTimeoutMs;
        p.timer = setTimeout(() => {
          if (this.child !== child || !this.pending.has(id)) return;
          this.stop(child, new Error(`Neuron Lens: loading ${p.model} took longer than ${ms / 1000} s (setting ${LOAD_TIMEOUT_SETTING}); the engine was restarted`));
        }, ms);
      }
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
    clearTimeout(p.timer);
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
    else if (m.kind === 'progress') {
      const p = this.pending.get(m.id);
      if (p) p.progressed = true;
      p?.onProgress?.(m);
    } else if (!m.ok) this.settle(m.id, new Error(m.error.message));
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
      this.failAll(new Error(this.outOfMemory.has(child)
        ? `Neuron Lens: the engine ran out of memory${what}: the model needs more memory than ${this.options.memoryMB ? `${this.options.memoryMB} MB` : 'node gives by default'} (setting ${MEMORY_SETTING})`
        : `The Neuron Lens engine ${how}${what}; it will be restarted on the next request`));
      this.detach();
    }
    this.options.onExit?.({ code, signal, expected, ...(this.outOfMemory.has(child) ? { outOfMemory: true } : {}) });
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
