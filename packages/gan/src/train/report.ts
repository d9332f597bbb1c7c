/** report.html and loss-curves.svg of a run folder. */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChartSvg } from '../image/plot';
import type { TrainConfig } from './config';
import type { MetricsLine } from './run';

const escapeHtml = (s: string): string => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

export function lossCurvesSvg(config: TrainConfig, history: MetricsLine[]): string {
  const series = [
    { name: 'discriminator', points: history.map((m) => [m.step, m.loss_d] as [number, number]), color: '#1f77b4' },
    { name: 'generator', points: history.map((m) => [m.step, m.loss_g] as [number, number]), color: '#d62728' },
  ];
  if (history.some((m) => m.penalty !== undefined)) series.push({ name: `${config.penalty} penalty`, points: history.map((m) => [m.step, m.penalty ?? NaN] as [number, number]), color: '#2ca02c' });
  return lineChartSvg(`${config.preset}: ${config.loss} losses`, series, 'generator step');
}

export function writeReport(out: string, config: TrainConfig, summary: Record<string, unknown>, history: MetricsLine[]): void {
  writeFileSync(join(out, 'loss-curves.svg'), lossCurvesSvg(config, history));
  const samples = readdirSync(join(out, 'samples')).filter((f) => f.endsWith('.png')).sort();
  const shown = samples.length > 6 ? [...samples.slice(0, 2), ...samples.slice(-4)] : samples;
  const rows = Object.entries(summary).map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(Array.isArray(v) ? v.join(', ') : typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v))}</td></tr>`);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>webgan run: ${escapeHtml(config.preset)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:4px 10px;text-align:left}figure{display:inline-block;margin:0 1em 1em 0}figcaption{font-size:12px;color:#555}img{image-rendering:pixelated;max-width:520px}</style>
</head><body>
<h1>${escapeHtml(config.preset)}</h1>
<p>${escapeHtml(`${config.model} on ${config.data}, ${config.loss} loss${config.penalty !== 'none' ? ` + ${config.penalty}` : ''}, ${config.steps} generator steps, batch ${config.batchSize}, n_critic ${config.nCritic}, lr G ${config.lrG} / D ${config.lrD}`)}</p>
<h2>Summary</h2><table>${rows.join('')}</table>
<h2>Losses</h2><img src="loss-curves.svg" alt="loss curves">
<h2>Samples</h2>
${shown.map((f) => `<figure><img src="samples/${f}" alt="${f}"><figcaption>${f.replace('.png', '')}</figcaption></figure>`).join('\n')}
<h2>Configuration</h2><pre>${escapeHtml(JSON.stringify(config, null, 2))}</pre>
</body></html>
`;
  writeFileSync(join(out, 'report.html'), html);
}
