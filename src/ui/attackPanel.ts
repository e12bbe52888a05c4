// The attack panel: one webview that shows a targeted adversarial example of one image — original |
// perturbation x10 | adversarial, the top-5 before and after, the metrics — with epsilon, lambda and
// method controls to re-run. The attack runs in the engine process with a cancellable progress notification.
import * as path from 'path';
import * as vscode from 'vscode';
import { WebviewPanelBase } from './webviewHtml';
import { isCancelled, type EngineClient } from '../engine/client';
import { AttackPanelState, FromAttackWebview, type AttackControls, type ToAttackWebview } from './attackProtocol';
import { formatDuration } from './panel';

export const ATTACK_VIEW_TYPE = 'neuronLens.attack';

export interface AttackDeps {
  extensionUri: vscode.Uri;
  engine: EngineClient;
  log: vscode.OutputChannel;
}

export interface AttackTarget {
  modelPath: string;
  modelName: string;
  image: string;
  target: string;
  targetLabel: string;
}

export class AttackPanel extends WebviewPanelBase<AttackPanelState, ToAttackWebview, FromAttackWebview> {
  private static instance: AttackPanel | undefined;
  private jobId: number | null = null;
  private running: Promise<AttackPanelState> | null = null;

  static current(): AttackPanel | undefined {
    return AttackPanel.instance;
  }

  /** Opens (or reuses) the attack panel and runs the attack. */
  static async show(deps: AttackDeps, target: AttackTarget, controls: AttackControls): Promise<AttackPanelState> {
    let p = AttackPanel.instance;
    const initial: AttackPanelState = { ...target, controls, status: 'idle' };
    if (!p) {
      const panel = vscode.window.createWebviewPanel(ATTACK_VIEW_TYPE, 'Neuron Lens: Attack', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, AttackPanel.options(deps.extensionUri));
      p = new AttackPanel(deps, panel, initial);
    } else {
      p.panel.reveal(undefined, true);
    }
    return p.run(target, controls);
  }

  /** Revives the panel after a reload from the state its webview saved. */
  static revive(deps: AttackDeps, panel: vscode.WebviewPanel, saved: unknown): void {
    const r = AttackPanelState.safeParse(saved);
    if (!r.success) {
      panel.webview.html = `<!DOCTYPE html><html><body><p>This Neuron Lens attack panel could not be restored. Run "Neuron Lens: Attack Image…" again.</p></body></html>`;
      return;
    }
    const state = r.data.status === 'running' ? { ...r.data, status: 'cancelled' as const, message: 'Interrupted by a reload; re-run to finish.' } : r.data;
    panel.webview.options = AttackPanel.options(deps.extensionUri);
    new AttackPanel(deps, panel, state);
  }

  static options(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')] };
  }

  private constructor(private readonly deps: AttackDeps, panel: vscode.WebviewPanel, state: AttackPanelState) {
    super(panel, deps, state, { title: 'Neuron Lens Attack', script: 'attack.js', styles: ['webview.css', 'attack.css'] }, FromAttackWebview);
    AttackPanel.instance?.panel.dispose();
    AttackPanel.instance = this;
  }

  protected handle(m: FromAttackWebview): void {
    switch (m.type) {
      case 'ready': this.post({ type: 'state', state: this.state }); break;
      case 'cancel': void this.cancel(); break;
      case 'run': {
        const s = this.state;
        void this.run({ modelPath: s.modelPath, modelName: s.modelName, image: s.image, target: s.target, targetLabel: s.targetLabel }, m.controls).catch(() => undefined);
        break;
      }
    }
  }

  /** Asks the engine to stop the running attack after its current step; it finishes with what exists. */
  async cancel(): Promise<void> {
    if (this.jobId !== null) await this.deps.engine.cancel(this.jobId).catch(() => false);
  }

  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  async run(target: AttackTarget, controls: AttackControls): Promise<AttackPanelState> {
    if (this.running) {
      await this.cancel();
      await this.idle();
    }
    const p = this.doRun(target, controls);
    this.running = p;
    try {
      return await p;
    } finally {
      if (this.running === p) this.running = null;
    }
  }

  private async doRun(target: AttackTarget, controls: AttackControls): Promise<AttackPanelState> {
    this.panel.title = `Neuron Lens: Attack ${path.basename(target.image)}`;
    this.setState({ ...target, controls, status: 'running', message: undefined, result: undefined, msPerStep: undefined });
    try {
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Neuron Lens: attacking ${path.basename(target.image)} → ${target.targetLabel}`, cancellable: true },
        async (progress, token) => {
          let reported = 0;
          const job = this.deps.engine.request('attack', {
            model: { path: target.modelPath },
            images: [target.image],
            targets: [target.target],
            settings: { method: controls.method, epsilon: controls.epsilon, steps: controls.steps, ...(controls.method === 'am' ? { tv: controls.tv } : {}) },
          }, (pr) => {
            const fraction = Math.min(1, pr.step / Math.max(1, pr.steps));
            const text = `${controls.method} · step ${pr.step}/${pr.steps} · ${pr.msPerStep.toFixed(0)} ms/step · ${formatDuration(pr.etaMs)} left`;
            progress.report({ message: text, increment: fraction * 100 - reported });
            reported = fraction * 100;
            this.post({ type: 'progress', fraction, text });
          });
          this.jobId = job.id;
          token.onCancellationRequested(() => void this.cancel());
          return job.result;
        },
      );
      const pair = r.pairs[0];
      if (!pair) {
        this.setState({ status: 'cancelled', message: 'Cancelled before the first step' });
        return this.state;
      }
      const verdict = pair.success ? `reached ${pair.targetName ?? `class ${pair.target}`}` : `did not reach ${pair.targetName ?? `class ${pair.target}`}`;
      const steps = pair.stepsToSuccess !== null ? `in ${pair.stepsToSuccess} step${pair.stepsToSuccess === 1 ? '' : 's'}` : `after ${pair.stepsRun} steps`;
      this.setState({
        status: r.cancelled ? 'cancelled' : 'done',
        result: pair,
        msPerStep: r.msPerStep,
        message: `${r.cancelled ? 'Cancelled: ' : ''}${controls.method.toUpperCase()} ε ${controls.epsilon}: ${pair.success ? 'success' : 'no success'}, ${verdict} ${steps} · ${r.msPerStep.toFixed(0)} ms/step`,
      });
      return this.state;
    } catch (e) {
      const message = (e as Error).message;
      if (isCancelled(e)) {
        this.setState({ status: 'cancelled', message });
        return this.state;
      }
      this.setState({ status: 'error', message });
      if (!this.panel.visible) void vscode.window.showErrorMessage(/Neuron Lens/.test(message) ? message : `Neuron Lens: ${message}`);
      throw e;
    } finally {
      this.jobId = null;
    }
  }

  protected override dispose(): void {
    void this.cancel();
    if (AttackPanel.instance === this) AttackPanel.instance = undefined;
    super.dispose();
  }
}
