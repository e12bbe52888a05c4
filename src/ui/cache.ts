// Results cached per (model hash, unit, settings): re-opening a visualized unit is instant.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { UnitImage, VisualizeSettings } from '../engine/protocol';

export class ResultCache {
  constructor(private readonly dir: string) {}

  key(modelHash: string, spec: string, s: VisualizeSettings): string {
    const canon = [modelHash, spec, s.param, s.steps, s.size ?? 0, s.lr, s.seed, s.transforms, s.decay ?? 1];
    return crypto.createHash('sha256').update(JSON.stringify(canon)).digest('hex');
  }

  get(key: string): UnitImage | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dir, `${key}.json`), 'utf8')) as UnitImage;
    } catch {
      return undefined;
    }
  }

  set(key: string, value: UnitImage): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const file = path.join(this.dir, `${key}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(value));
    fs.renameSync(tmp, file);
  }

  clear(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
