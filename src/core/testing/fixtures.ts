import * as fs from 'fs';
import * as path from 'path';

/** Repository root (two levels above src/core/testing). */
export const repoRoot = path.resolve(__dirname, '..', '..', '..');

/**
 * The shared test fixtures (real models, photos, reference numbers): `$NEURON_LENS_FIXTURES`, else
 * `../shared/fixtures` beside the repository, else `/work/shared/fixtures` (helpers' worktrees).
 */
export function fixturesDir(): string {
  const candidates = [
    process.env.NEURON_LENS_FIXTURES,
    path.resolve(repoRoot, '..', 'shared', 'fixtures'),
    '/work/shared/fixtures',
  ].filter((p): p is string => !!p);
  for (const c of candidates) if (fs.existsSync(path.join(c, 'README.md'))) return c;
  throw new Error(`test fixtures not found; looked in: ${candidates.join(', ')} (set NEURON_LENS_FIXTURES)`);
}

export function fixture(...parts: string[]): string {
  return path.join(fixturesDir(), ...parts);
}
