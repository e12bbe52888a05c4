// "Did you mean" suggestions for names a user typed.

/** Edit distance, for "did you mean" suggestions. */
function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

/** The candidates closest to `name`; a candidate with comma-separated synonyms counts its closest one. */
export function nearest(name: string, candidates: string[], n = 3): string[] {
  const lower = name.toLowerCase();
  const dist = (c: string) => Math.min(...c.toLowerCase().split(',').map((p) => {
    const part = p.trim();
    return part.includes(lower) ? 0.5 : levenshtein(lower, part);
  }));
  return candidates
    .map((c) => ({ c, d: dist(c) }))
    .sort((a, b) => a.d - b.d)
    .slice(0, n)
    .map((x) => x.c);
}
