// Messages between the extension host and the attack webview, and the attack panel's persisted state.
// Shared by both sides (the attack webview bundle includes it); every message is validated on arrival.
import { z } from 'zod';
import { METHODS } from '../engine/protocol';

/** The knobs the panel exposes (epsilon, lambda = TV weight, method, steps). */
export const AttackControls = z.object({
  method: METHODS.attack.params.shape.settings.shape.method,
  epsilon: METHODS.attack.params.shape.settings.shape.epsilon,
  /** Lambda: the weight of the total-variation penalty on the perturbation (AM); the panel caps it at 1. */
  tv: z.number().min(0).max(1),
  steps: METHODS.attack.params.shape.settings.shape.steps,
});
export type AttackControls = z.infer<typeof AttackControls>;

const AttackPairResult = METHODS.attack.result.shape.pairs.element;

export const AttackPanelState = z.object({
  modelPath: z.string(),
  modelName: z.string(),
  image: z.string(),
  /** The target as the engine takes it: a class index or name. */
  target: z.string(),
  targetLabel: z.string(),
  controls: AttackControls,
  status: z.enum(['running', 'done', 'cancelled', 'error', 'idle']),
  message: z.string().optional(),
  result: AttackPairResult.optional(),
  msPerStep: z.number().optional(),
});
export type AttackPanelState = z.infer<typeof AttackPanelState>;

export const ToAttackWebview = z.union([
  z.object({ type: z.literal('state'), state: AttackPanelState }),
  z.object({ type: z.literal('progress'), fraction: z.number().min(0).max(1), text: z.string() }),
]);
export type ToAttackWebview = z.infer<typeof ToAttackWebview>;

export const FromAttackWebview = z.union([
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('cancel') }),
  z.object({ type: z.literal('run'), controls: AttackControls }),
]);
export type FromAttackWebview = z.infer<typeof FromAttackWebview>;
