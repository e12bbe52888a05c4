// Units and objectives (see DESIGN.md): a unit spec (./spec.ts) parses, through the registered unit kinds
// (./registry.ts, ./kinds), into terms; the terms of a batch of units compile into one Objective
// (./objective.ts): the linear kinds into one weight mask, the others summed in. Diversity is a batch
// objective (./diversity.ts).
export * from './registry';
export type { Term, Unit } from './units';
export { parseUnits } from './spec';
export { type Objective, layerObjective, maskObjective, negate, scale, sum, unitObjective } from './objective';
export { diversityLayer, diversityObjective, type DiversityGroup } from './diversity';
