import { RGBImage } from './image';

/**
 * A 5x7 bitmap font for printable ASCII (32..126) plus an ellipsis glyph (U+2026), in the classic
 * column-major layout: 5 bytes per glyph, one per column left to right, bit 0 = top row. Capitals and
 * digits use rows 0-6; g, j, p, q, y have a descender in row 7. Cells are 6 pixels wide (1 pixel spacing).
 */
const ASCII_COLUMNS = [
  '0000000000', '00005f0000', '0007000700', '147f147f14', '242a7f2a12', // space ! " # $
  '2313086462', '3649552250', '0005030000', '001c224100', '0041221c00', // % & ' ( )
  '082a1c2a08', '08083e0808', '0050300000', '0808080808', '0060600000', // * + , - .
  '2010080402', '3e5149453e', '00427f4000', '4261514946', '2141454b31', // / 0 1 2 3
  '1814127f10', '2745454539', '3c4a494930', '0171090503', '3649494936', // 4 5 6 7 8
  '064949291e', '0036360000', '0056360000', '0814224100', '1414141414', // 9 : ; < =
  '0041221408', '0201510906', '324979413e', '7e1111117e', '7f49494936', // > ? @ A B
  '3e41414122', '7f4141221c', '7f49494941', '7f09090101', '3e41415132', // C D E F G
  '7f0808087f', '00417f4100', '2040413f01', '7f08142241', '7f40404040', // H I J K L
  '7f0204027f', '7f0408107f', '3e4141413e', '7f09090906', '3e4151215e', // M N O P Q
  '7f09192946', '4649494931', '01017f0101', '3f4040403f', '1f2040201f', // R S T U V
  '7f2018207f', '6314081463', '0304780403', '6151494543', '007f414100', // W X Y Z [
  '0204081020', '0041417f00', '0402010204', '4040404040', '0001020400', // \ ] ^ _ `
  '2054545478', '7f48444438', '3844444420', '384444487f', '3854545418', // a b c d e
  '087e090102', '98a4a4a47c', '7f08040478', '00447d4000', '408080847d', // f g h i j
  '007f102844', '00417f4000', '7c04180478', '7c08040478', '3844444438', // k l m n o
  'fc24242418', '18242424fc', '7c08040408', '4854545420', '043f444020', // p q r s t
  '3c4040207c', '1c2040201c', '3c4030403c', '4428102844', '9ca0a0a07c', // u v w x y
  '4464544c44', '0008364100', '00007f0000', '0041360800', '0804081008', // z { | } ~
];
const ELLIPSIS_COLUMNS = '4000400040';

export const ELLIPSIS = '\u2026';
export const GLYPH_ADVANCE = 6;
/** Rows a line of text occupies (7 + the descender row). */
export const GLYPH_HEIGHT = 8;

function glyphColumns(ch: string): string {
  if (ch === ELLIPSIS) return ELLIPSIS_COLUMNS;
  const code = ch.charCodeAt(0);
  if (code >= 32 && code <= 126) return ASCII_COLUMNS[code - 32];
  return ASCII_COLUMNS['?'.charCodeAt(0) - 32]; // anything else prints as '?'
}

/** Pixel width of `text` at `scale` (no trailing spacing column). */
export function textWidth(text: string, scale = 1): number {
  const n = Array.from(text).length;
  return n === 0 ? 0 : (n * GLYPH_ADVANCE - 1) * scale;
}

/**
 * Longest prefix of `text` that fits `maxWidth` pixels at `scale`, with an ellipsis glyph appended when
 * anything was cut.
 */
export function fitText(text: string, maxWidth: number, scale = 1): string {
  const chars = Array.from(text);
  if (textWidth(text, scale) <= maxWidth) return text;
  const fit = Math.floor((maxWidth / scale + 1) / GLYPH_ADVANCE); // glyphs that fit, ellipsis included
  if (fit <= 0) return '';
  return chars.slice(0, fit - 1).join('') + ELLIPSIS;
}

/** Draws `text` with its top-left corner at (x, y); pixels outside the image are skipped. */
export function drawText(img: RGBImage, text: string, x: number, y: number, color: readonly number[], scale = 1): void {
  const c = img.channels;
  let penX = x;
  for (const ch of Array.from(text)) {
    const cols = glyphColumns(ch);
    for (let col = 0; col < 5; col++) {
      const bits = parseInt(cols.substr(col * 2, 2), 16);
      for (let row = 0; row < GLYPH_HEIGHT; row++) {
        if (!(bits & (1 << row))) continue;
        for (let sy = 0; sy < scale; sy++) {
          const py = y + row * scale + sy;
          if (py < 0 || py >= img.height) continue;
          for (let sx = 0; sx < scale; sx++) {
            const px = penX + col * scale + sx;
            if (px < 0 || px >= img.width) continue;
            const o = (py * img.width + px) * c;
            for (let k = 0; k < c; k++) img.data[o + k] = color[Math.min(k, color.length - 1)];
          }
        }
      }
    }
    penX += GLYPH_ADVANCE * scale;
  }
}
