// The application layer: describe, visualize and attack as jobs with one table of options and defaults.
// The CLI and the engine are thin shells over it.
export * from './options';
export * from './output';
export * from './describe';
export * from './visualize';
export * from './attack';
export * from './examples';
export * from './capabilities';
export * from './modelHash';
export * from './atlas';
