import { strict as assert } from 'assert';
import { atlasHtml } from '../core/jobs/atlasHtml';
import { atlasWebviewHtml } from './atlasWebview';

describe('atlas in a webview', () => {
  const index = {
    model: { source: '/m/model.json', name: 'm', format: 'tfjs-layers', input: { height: 28, width: 28, channels: 1 }, preprocess: '[0,1] -> [0,1]', hash: 'ab' },
    settings: { params: ['fourier'] },
    units: [{ unit: 'channel:c:0', label: 'c ch0', layer: 'c', channel: 0, png: 'units/a-fourier.png', activation: 1, images: { fourier: ['units/a-fourier.png'] }, activations: { fourier: [1] } }],
  } as unknown as Parameters<typeof atlasHtml>[0];

  it('adds a CSP with the nonce on every script and style, and a base at the atlas folder', () => {
    const html = atlasWebviewHtml(atlasHtml(index), 'https://file+.vscode-resource/tmp/atlas/', 'https://*.vscode-cdn.net', 'N0nce');
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src https:\/\/\*\.vscode-cdn\.net; style-src 'nonce-N0nce'; script-src 'nonce-N0nce'">/);
    assert.match(html, /<base href="https:\/\/file\+\.vscode-resource\/tmp\/atlas\/">/);
    assert.equal((html.match(/<script nonce="N0nce"/g) ?? []).length, 2);
    assert.equal((html.match(/<style nonce="N0nce">/g) ?? []).length, 1);
    assert.doesNotMatch(html, /<script>|<style>/);
  });

  it('refuses what is not an atlas index.html', () => {
    assert.throws(() => atlasWebviewHtml('<html><head></head></html>', 'x/', 'y', 'n'), /not an atlas index\.html/);
  });
});
