import { strict as assert } from 'assert';
import { modelPathInQuotesSource, modelFileExtensions, modelFileGlob, modelFileKind, modelFileList, modelFilesHelp, modelFileWhenClause } from './formats';

describe('model file kinds', () => {
  it('names a file by its kind', () => {
    assert.equal(modelFileKind('/a/b/model.json')?.pattern, 'model.json');
    assert.equal(modelFileKind('C:\\m\\net.ONNX')?.pattern, '.onnx');
    assert.equal(modelFileKind('/m/w.h5')?.pattern, '.h5');
    assert.equal(modelFileKind('/m/labels.json'), undefined);
    assert.equal(modelFileKind('/m/.onnx'), undefined);
  });

  it('derives the glob, the dialog filter, the when clause and the help from one table', () => {
    assert.equal(modelFileGlob(), '**/{model.json,*.keras,*.h5,*.hdf5,*.onnx,*.safetensors}');
    assert.deepEqual(modelFileExtensions(), ['json', 'keras', 'h5', 'hdf5', 'onnx', 'safetensors']);
    assert.equal(modelFileList(), 'model.json, .keras, .h5, .hdf5, .onnx or .safetensors');
    assert.match(modelFileWhenClause(), /^resourceFilename == model\.json \|\| resourceExtname == \.keras/);
    assert.equal(modelFilesHelp().split('\n').length, 6);
  });

  it('finds quoted model paths in source code', () => {
    const re = new RegExp(modelPathInQuotesSource(), 'g');
    const src = `m = load("models/net/model.json"); k = keras.load('a/b.keras'); x = "notes.txt"; o = \`c.onnx\`; h = 'w.hdf5'`;
    assert.deepEqual([...src.matchAll(re)].map((m) => m[1]), ['models/net/model.json', 'a/b.keras', 'c.onnx', 'w.hdf5']);
  });

  it('sniffs the first bytes', () => {
    const bytes = (s: string) => new TextEncoder().encode(s);
    assert.ok(modelFileKind('model.json')!.looksLike(bytes('{"format":"layers-model","modelTopology":{}}')));
    assert.ok(!modelFileKind('model.json')!.looksLike(bytes('{"labels":[]}')));
    assert.ok(modelFileKind('a.keras')!.looksLike(bytes('PK\u0003\u0004')));
    assert.ok(modelFileKind('a.h5')!.looksLike(new Uint8Array([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 0])));
    assert.ok(!modelFileKind('a.h5')!.looksLike(bytes('PK')));
    // safetensors: a little-endian u64 header length, then the JSON header.
    assert.ok(modelFileKind('model.safetensors')!.looksLike(new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d])));
    assert.ok(!modelFileKind('model.safetensors')!.looksLike(bytes('PK\u0003\u0004 pickle zip')));
  });
});
