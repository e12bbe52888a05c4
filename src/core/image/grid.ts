import { drawText, fitText, GLYPH_HEIGHT, textWidth } from './font';
import { checkImage, createImage, RGBImage } from './image';
import { convertChannels, resizeImage } from './resize';

/** 0.5 + gain * delta, clamped to [0, 1]: zero perturbation is mid grey. */
export function perturbationImage(delta: RGBImage, gain = 10): RGBImage {
  checkImage(delta, 'perturbation');
  if (!Number.isFinite(gain)) throw new Error(`perturbationImage: gain must be finite, got ${gain}`);
  const out = createImage(delta.height, delta.width, delta.channels);
  for (let i = 0; i < delta.data.length; i++) {
    const v = 0.5 + gain * delta.data[i];
    out.data[i] = v <= 0 ? 0 : v >= 1 ? 1 : v;
  }
  return out;
}

export interface GridOptions {
  /** Tiles per row; default ceil(sqrt(n)). */
  columns?: number;
  /**
   * Side of the square box each tile is fitted into (aspect kept, centred). Default: the largest tile side,
   * multiplied up to at least 96 px for small tiles (28 -> 112). Upscaling is nearest neighbour (crisp
   * pixels), downscaling is area averaging.
   */
  tileSize?: number;
  /** Space around and between cells in pixels; default 8. */
  padding?: number;
}

export const GRID_BACKGROUND = 0.12;
export const GRID_TEXT = 0.92;
const MIN_DEFAULT_TILE = 96;

/**
 * A labelled contact sheet (RGB): tiles in rows on a dark background, each label in light 5x7 bitmap text (with descenders)
 * centred under its tile (scaled x2 for tiles of 160 px and up), truncated with an ellipsis when too long.
 */
export function makeGrid(tiles: RGBImage[], labels: string[], opts: GridOptions = {}): RGBImage {
  if (tiles.length === 0) throw new Error('makeGrid: no tiles');
  if (labels.length !== tiles.length) throw new Error(`makeGrid: ${tiles.length} tiles but ${labels.length} labels`);
  tiles.forEach((t, i) => checkImage(t, `makeGrid tile ${i}`));
  const n = tiles.length;
  const columns = Math.min(n, opts.columns ?? Math.ceil(Math.sqrt(n)));
  const largest = Math.max(...tiles.map((t) => Math.max(t.width, t.height)));
  const tileSize = opts.tileSize ?? largest * Math.max(1, Math.ceil(MIN_DEFAULT_TILE / largest));
  const padding = opts.padding ?? 8;
  if (!Number.isInteger(columns) || columns < 1) throw new Error(`makeGrid: columns must be a positive integer, got ${opts.columns}`);
  if (!Number.isInteger(tileSize) || tileSize < 1) throw new Error(`makeGrid: tileSize must be a positive integer, got ${opts.tileSize}`);
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`makeGrid: padding must be a non-negative integer, got ${opts.padding}`);

  const textScale = tileSize >= 160 ? 2 : 1;
  const gap = 3 * textScale;
  const labelHeight = gap + GLYPH_HEIGHT * textScale + gap;
  const rows = Math.ceil(n / columns);
  const cellH = tileSize + labelHeight;
  const width = columns * tileSize + (columns + 1) * padding;
  const height = rows * cellH + (rows + 1) * padding;
  const grid = createImage(height, width, 3, GRID_BACKGROUND);
  const textColor = [GRID_TEXT, GRID_TEXT, GRID_TEXT];

  tiles.forEach((tile, i) => {
    const cx = padding + (i % columns) * (tileSize + padding);
    const cy = padding + Math.floor(i / columns) * (cellH + padding);
    const rgb = toRgb(tile, i);
    const f = tileSize / Math.max(rgb.width, rgb.height);
    const tw = Math.max(1, Math.round(rgb.width * f));
    const th = Math.max(1, Math.round(rgb.height * f));
    const scaled = tw === rgb.width && th === rgb.height ? rgb : resizeImage(rgb, th, tw, f >= 1 ? 'nearest' : 'smooth');
    const ox = cx + Math.floor((tileSize - tw) / 2);
    const oy = cy + Math.floor((tileSize - th) / 2);
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw * 3; x++) {
        const v = scaled.data[y * tw * 3 + x];
        grid.data[((oy + y) * width + ox) * 3 + x] = v <= 0 ? 0 : v >= 1 ? 1 : v;
      }
    }
    const text = fitText(labels[i], tileSize, textScale);
    const tx = cx + Math.floor((tileSize - textWidth(text, textScale)) / 2);
    drawText(grid, text, tx, cy + tileSize + gap, textColor, textScale);
  });
  return grid;
}

function toRgb(tile: RGBImage, i: number): RGBImage {
  if (tile.channels === 3) return tile;
  if (tile.channels === 1) return convertChannels(tile, 3);
  throw new Error(`makeGrid tile ${i}: ${tile.channels} channels; only gray (1) and RGB (3) tiles can be shown`);
}
