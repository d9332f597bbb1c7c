/**
 * The playground's Node-side pieces without a browser: the digits file the page downloads, the
 * mapping of its controls to training configurations, and the static server.
 */
import { join } from 'node:path';
import { createServer } from 'node:net';
import { describe, expect, test } from 'vitest';
import { validateConfig } from '../../packages/gan/src/train/config';
import { bundledMnistSplit } from '../../packages/gan/src/data/mnist';
import { decodeDigits, encodeDigits } from '../../apps/playground/src/mnist-file';
import { defaultSettings, settingsProblem, trainConfigFor, type PlaygroundSettings } from '../../apps/playground/src/settings';
import { startPlayground } from '../../apps/playground/server';

describe('digits file', () => {
  test('round-trips the 8,000 training digits to within 1/510 per pixel, labels exact', () => {
    const { train } = bundledMnistSplit();
    const bytes = encodeDigits(train);
    expect(bytes.length).toBe(8 + 8000 * 785);
    const back = decodeDigits(bytes, 'digits.bin');
    expect(back.count).toBe(8000);
    expect(Array.from(back.labels)).toEqual(Array.from(train.labels));
    let worst = 0;
    for (let i = 0; i < train.images.length; i++) worst = Math.max(worst, Math.abs(back.images[i] - train.images[i]));
    expect(worst).toBeLessThanOrEqual(1 / 510 + 1e-7);
  });

  test('rejects a wrong header, a wrong length and an impossible label, naming the file', () => {
    const { train } = bundledMnistSplit();
    const bytes = encodeDigits({ images: train.images.subarray(0, 3 * 784), labels: train.labels.subarray(0, 3), count: 3 });
    const wrongMagic = bytes.slice();
    wrongMagic[0] = 0x58;
    expect(() => decodeDigits(wrongMagic, 'd.bin')).toThrow("d.bin: not a webgan digits file (starts 'XGMN', expected 'WGMN')");
    expect(() => decodeDigits(bytes.subarray(0, bytes.length - 1), 'd.bin')).toThrow('d.bin: 2362 bytes, but a file of 3 digits has 2363');
    const badLabel = bytes.slice();
    badLabel[9] = 12;
    expect(() => decodeDigits(badLabel, 'd.bin')).toThrow('d.bin: digit 1 has label 12, expected 0–9');
  });
});

describe('settings', () => {
  test('every combination of the controls is a valid training configuration', () => {
    for (const mode of ['2d', 'mnist'] as const) {
      for (const loss of ['non-saturating', 'wgan-gp', 'hinge'] as const) {
        for (const dataset of ['ring8', 'grid25'] as const) {
          for (const model of ['mlp', 'dcgan'] as const) {
            const s: PlaygroundSettings = { ...defaultSettings(mode, loss), dataset, model };
            expect(settingsProblem(s)).toBeNull();
            const c = trainConfigFor(s);
            expect(() => validateConfig(c)).not.toThrow();
            expect(c.data).toBe(mode === '2d' ? dataset : 'mnist');
            expect(c.model).toBe(mode === '2d' ? 'mlp' : model);
            expect(c.emaDecay).toBe(0);
            expect(c.penalty).toBe(loss === 'wgan-gp' ? 'gp' : 'none');
            expect(c.loss).toBe(loss === 'wgan-gp' ? 'wasserstein' : loss);
            expect(c.nCritic).toBe(loss === 'wgan-gp' ? 5 : 1);
          }
        }
      }
    }
  });

  test('values out of range are named', () => {
    const s = defaultSettings('2d');
    expect(settingsProblem({ ...s, lrD: 0 })).toBe('discriminator learning rate must be in (0, 1), got 0');
    expect(settingsProblem({ ...s, lrG: Number.NaN })).toBe('generator learning rate must be in (0, 1), got NaN');
    expect(settingsProblem({ ...s, nCritic: 2.5 })).toBe('critic steps must be an integer from 1 to 20, got 2.5');
  });
});

describe('server', () => {
  const outDir = join(import.meta.dirname, '..', '..', '.cache', 'test-playground-server');

  test('serves the page, its script and the digits; nothing else', async () => {
    const server = await startPlayground({ port: 0, outDir });
    try {
      const page = await fetch(server.url);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await page.text()).toContain('<script type="module" src="main.js">');
      const script = await fetch(new URL('main.js', server.url));
      expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      // Built for the browser: no Node module may reach the bundle.
      expect(await script.text()).not.toMatch(/from ["']node:|require\(["']/);
      const digits = await fetch(new URL('mnist-train.bin', server.url), { method: 'HEAD' });
      expect(digits.status).toBe(200);
      expect(Number(digits.headers.get('content-length'))).toBe(8 + 8000 * 785);
      expect((await fetch(new URL('../package.json', server.url))).status).toBe(404);
      expect((await fetch(new URL('build.ts', server.url))).status).toBe(404);
      expect((await fetch(server.url, { method: 'POST' })).status).toBe(405);
    } finally {
      await server.close();
    }
  });

  test('a port in use is refused with a message that says what to do', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(startPlayground({ port, outDir })).rejects.toThrow(`playground: port ${port} on 127.0.0.1 is in use; pass --port N (0 picks a free port)`);
    } finally {
      blocker.close();
    }
  });
});
