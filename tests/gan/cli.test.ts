/**
 * The `webgan` command line on bad input: each mistake gives a one-line error on stderr that
 * names what is wrong, a non-zero exit status, and leaves existing files untouched. Plus the
 * commands that use a finished run (sample, eval, export) on a tiny run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIdx } from '../../packages/gan/src/data/idx';
import { decodePng } from '../../packages/gan/src/image/png';

const repo = resolve(__dirname, '..', '..');
const root = mkdtempSync(join(tmpdir(), 'webgan-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function webgan(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repo, 'scripts', 'run.mjs'), 'packages/gan/src/cli/main.ts', ...args], { cwd: repo, encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** stderr lines that are not Dawn's start-up notices. */
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Warning: maxDynamic'));

function expectOneLineError(r: ReturnType<typeof webgan>, pattern: RegExp): void {
  expect(r.status, r.stderr).not.toBe(0);
  const lines = errorLines(r.stderr);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^webgan: /);
  expect(lines[0]).toMatch(pattern);
}

describe('bad input: one line, non-zero exit, nothing overwritten', () => {
  it('unknown preset', () => expectOneLineError(webgan('train', '--preset', 'ring9', '--out', join(root, 'a')), /unknown preset 'ring9' \(known: ring8, grid25/));
  it('unknown flag', () => {
    const r = webgan('train', '--preset', 'ring8', '--out', join(root, 'a'), '--learning-rate', '1');
    expectOneLineError(r, /unknown flag --learning-rate/);
    expect(r.status).toBe(2);
  });
  it('unknown command', () => expect(webgan('trian').status).toBe(2));
  it('a flag value of the wrong type', () => expectOneLineError(webgan('train', '--out', join(root, 'a'), '--steps', 'many'), /--steps must be an integer, got 'many'/));
  it('a missing data file', () => expectOneLineError(webgan('train', '--out', join(root, 'a'), '--data', join(root, 'missing-idx3-ubyte')), /data: '.*missing-idx3-ubyte' is neither/));
  it('a corrupt data file', () => {
    const file = join(root, 'corrupt-idx3-ubyte');
    writeFileSync(file, Buffer.from([0, 0, 8, 3, 0, 0, 0, 9, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3]));
    expectOneLineError(webgan('train', '--out', join(root, 'a'), '--data', file), /corrupt-idx3-ubyte/);
  });
  it('images of the wrong size', () => {
    const file = join(root, 'small-idx3-ubyte');
    writeFileSync(file, encodeIdx([3, 16, 16], new Uint8Array(3 * 256)));
    expectOneLineError(webgan('train', '--out', join(root, 'a'), '--data', file), /16×16 images but imageSize is 28/);
  });
  it('an unwritable --out', () => {
    const file = join(root, 'plain-file');
    writeFileSync(file, 'keep');
    expectOneLineError(webgan('train', '--preset', 'ring8', '--out', join(file, 'run')), /is not writable/);
    expect(readFileSync(file, 'utf8')).toBe('keep');
  });
  it('a folder that already holds a run is not overwritten', () => {
    const dir = join(root, 'existing');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), '{"keep": true}');
    expectOneLineError(webgan('train', '--preset', 'ring8', '--out', dir), /already holds a run/);
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe('{"keep": true}');
    expect(readdirSync(dir)).toEqual(['config.json']);
  });
  it('none of the refused runs created its folder', () => expect(existsSync(join(root, 'a'))).toBe(false));
});

describe('sample, eval and export on a finished run', () => {
  const run = join(root, 'tiny-cgan');
  it('trains a tiny conditional DCGAN, then samples a class, walks the latent space, evaluates and exports', () => {
    const t = webgan('train', '--preset', 'mnist-cgan', '--out', run, '--steps', '2', '--width', '4', '--batch-size', '8', '--eval-samples', '100', '--log-every', '1');
    expect(t.status, t.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8'))).toHaveProperty('conditional_accuracy');

    const s = webgan('sample', '--run', run, '--class', '3', '--count', '16', '--out', join(root, 'three.png'));
    expect(s.status, s.stderr).toBe(0);
    const png = decodePng(readFileSync(join(root, 'three.png')));
    expect(png.width).toBeGreaterThan(28 * 4);
    expect(webgan('sample', '--run', run, '--interpolate', '--count', '16', '--out', join(root, 'walk.png')).status).toBe(0);
    expectOneLineError(webgan('sample', '--run', run, '--class', '12'), /--class must be 0..9, got 12/);

    const e = webgan('eval', '--run', run, '--samples', '100');
    expect(e.status, e.stderr).toBe(0);
    const metrics = JSON.parse(e.stdout.slice(e.stdout.indexOf('{')));
    expect(metrics.step).toBe(2);
    expect(metrics).toHaveProperty('fid');

    const x = webgan('export', '--run', run, '--out', join(root, 'export-idx'), '--count', '30', '--format', 'idx');
    expect(x.status, x.stderr).toBe(0);
    expect(readdirSync(join(root, 'export-idx')).sort()).toEqual(['images-idx3-ubyte', 'labels-idx1-ubyte']);
    const p = webgan('export', '--run', run, '--out', join(root, 'export-png'), '--count', '5');
    expect(p.status, p.stderr).toBe(0);
    expect(readdirSync(join(root, 'export-png'))).toHaveLength(5);
    expectOneLineError(webgan('export', '--run', run, '--out', join(root, 'export-png'), '--count', '5'), /is not empty; nothing was written/);
  });
});

describe('Ctrl-C', () => {
  it('writes a checkpoint, exits with 130, and the run resumes from it', async () => {
    const dir = join(root, 'interrupted');
    const child = spawn(process.execPath, [join(repo, 'scripts', 'run.mjs'), 'packages/gan/src/cli/main.ts', 'train', '--preset', 'ring8', '--out', dir,
      '--steps', '100000', '--log-every', '5', '--g-hidden', '16', '--d-hidden', '16', '--batch-size', '32'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    // Interrupt once a few steps are logged.
    await new Promise<void>((done) => {
      const poll = setInterval(() => {
        const path = join(dir, 'metrics.jsonl');
        if (existsSync(path) && readFileSync(path, 'utf8').split('\n').filter(Boolean).length >= 3) {
          clearInterval(poll);
          child.kill('SIGINT');
          done();
        }
      }, 100);
    });
    const status = await new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    expect(status).toBe(130);
    expect(stdout).toMatch(/interrupted at step (\d+): checkpoint written; continue with --resume/);
    const step = Number(/interrupted at step (\d+)/.exec(stdout)![1]);
    expect(JSON.parse(readFileSync(join(dir, 'checkpoint', 'latest.json'), 'utf8')).step).toBe(step);
    const r = webgan('train', '--resume', dir, '--steps', String(step + 5));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')).steps).toBe(step + 5);
  });
});
