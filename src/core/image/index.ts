export type { RGBImage } from './image';
export { createImage, checkImage } from './image';
export { readImage, decodeImage, encodePng, toUint8, fromUint8, MAX_IMAGE_MEGAPIXELS } from './codec';
export type { ResizeMethod } from './resize';
export { fitToInput, resizeImage, convertChannels, crop, LUMA_WEIGHTS } from './resize';
export type { GridOptions } from './grid';
export { makeGrid, perturbationImage } from './grid';
export { tensorToImages } from './tensor';
export { writeFileAtomic } from '../util/fs';
