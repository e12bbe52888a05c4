// The one parser of unit specs: sums, weights, signs and ranges; each term's own text goes to its registered
// kind (./registry.ts, ./kinds). A spec names what to maximize:
//   channel:conv_pw_6:0-7                  a range: one unit per index
//   0.5*channel:conv2:3-channel:conv2:7    weighted sums and differences of terms (no ranges inside sums)
import './kinds';
import { unitKind, unitKinds } from './registry';
import type { NLModel } from '../../model/types';
import type { Term, Unit } from './units';

const WEIGHT = String.raw`\d*\.?\d+(?:e-?\d+)?`;

/** The registered kind names as a regex alternation: a term starts with a sign, `<weight>*` and `<kind>:`. */
function kindsAlternation(): string {
  return unitKinds().map((k) => k.name).join('|');
}

/** Parses one term's text (`kind:...`) with its kind's parser: one term per index of a range. */
function parseTerm(model: NLModel, text: string, spec: string): Term[] {
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  const kind = unitKind(name);
  if (!kind) throw new Error(`bad unit "${spec}": unknown kind "${name}" (expected ${unitKinds().map((k) => k.name).join(', ')})`);
  return kind.parse(text.slice(colon + 1), model, spec);
}

/** `2*x`, `-x`, `+0.5*x` as a signed weight; `x` as 1. */
function formatWeighted(weight: number, s: string, first: boolean): string {
  const a = Math.abs(weight);
  const sign = weight < 0 ? '-' : first ? '' : '+';
  return `${sign}${a === 1 ? '' : `${a}*`}${s}`;
}

/**
 * Parses unit specs into units. A spec with a range (`channel:conv1:0-7`) gives one unit per index;
 * a sum of terms gives one combined unit.
 */
export function parseUnits(model: NLModel, specs: string[]): Unit[] {
  if (specs.length === 0) throw new Error('no unit given: pass --unit, e.g. --unit logit:0 or --unit channel:<layer>:0-7');
  const kinds = kindsAlternation();
  const termSplit = new RegExp(`(?=[+-](?:${WEIGHT}\\*)?(?:${kinds}):)`);
  const units: Unit[] = [];
  for (const raw of specs) {
    const spec = raw.trim()
      .replace(new RegExp(`\\s*([+-])\\s*(?=(?:${WEIGHT}\\s*\\*\\s*)?(?:${kinds}):)`, 'g'), '$1')
      .replace(/(\d)\s*\*\s*/g, '$1*');
    if (!spec) throw new Error('empty unit spec');
    const pieces = spec.split(termSplit).filter((p) => p.length > 0);
    if (pieces.length === 1 && !/^[+-]|^[^:]*\*/.test(pieces[0])) {
      for (const t of parseTerm(model, pieces[0], raw)) units.push({ spec: t.spec, label: t.label, fileStem: t.stem, terms: [t] });
      continue;
    }
    const terms: Term[] = pieces.map((p) => {
      const m = new RegExp(`^([+-])?(?:(${WEIGHT})\\*)?(.*)$`).exec(p)!;
      const sign = m[1] === '-' ? -1 : 1;
      const w = m[2] === undefined ? 1 : Number(m[2]);
      if (!Number.isFinite(w)) throw new Error(`bad unit "${raw}": the weight ${m[2]} is not a finite number`);
      const ts = parseTerm(model, m[3], raw);
      if (ts.length !== 1) throw new Error(`bad unit "${raw}": ranges cannot be combined in a sum; list them as separate units`);
      return { ...ts[0], weight: sign * w };
    });
    units.push({
      spec: terms.map((t, i) => formatWeighted(t.weight, t.spec, i === 0)).join(''),
      label: terms.map((t, i) => formatWeighted(t.weight, t.label, i === 0)).join(' '),
      fileStem: terms.map((t) => `${t.weight < 0 ? 'neg-' : ''}${t.weight !== 1 && t.weight !== -1 ? `${Math.abs(t.weight)}x` : ''}${t.stem}`).join('+'),
      terms,
    });
  }
  return units;
}
