/**
 * The three passes of a direct convolution x[N,C,H,W] * w[O,C,KH,KW] → y[N,O,OH,OW] as implicit
 * GEMMs (no im2col buffer: the gather happens in the A loads):
 *   forward          rows = output pixels (n,oh,ow)   cols = O   k = (kh,kw,c)
 *   backward-data    rows = input pixels (n,ih,iw)    cols = C   k = (kh,kw,o)   (a transposed conv)
 *   backward-filter  rows = taps (c,kh,kw)            cols = O   k = (n,oh,ow)
 * Conv-transpose2d's passes are these same three with the roles of its input and output swapped.
 *
 * Each problem gives two views of the same GEMM: the loop nest the register-blocked main loop
 * runs (its K loops ordered as above), and flat accessors A(row, k), B(k, col) for the
 * workgroup-memory main loop, which gathers any (row, k) of a tile. The flat k order may differ
 * from the loop nest's — it follows the weight's layout ((c,kh,kw) forward, (o,kh,kw) backward-
 * data) so that B slices are contiguous along k — but A and B of one view always agree.
 *
 * Layouts: 'nchw' reads the tensors as they are. 'channels-last' reads copies permuted so that
 * the innermost K loop walks contiguous memory in both operands (`CHANNELS_LAST_PERMUTATIONS`),
 * and adds vec4 bindings (`<name>Quads`) of the same copies: subgroup-shared main loops then load
 * four k per access (`GemmProblem.aQuad`, `bAlongK`). The loop length must be a multiple of 4.
 */
import type { ConvGeometry } from '../ops/conv-geometry';
import { fourColumns, type GemmProblem } from './gemm';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export type ConvLayout = 'nchw' | 'channels-last';

/**
 * The permutations (of the NCHW tensors / PyTorch weight layouts) a pass reads in the
 * channels-last layout, in the order of its two inputs, and the loop that must be a multiple of 4.
 *   forward:          x → [N,H,W,C],  w → [O,KH,KW,C]   (innermost loop: c)
 *   backward-data:    dy → [N,OH,OW,O], w → [KH,KW,C,O] (innermost loop: o; phased form only)
 *   backward-filter:  x → [C,H,W,N],  dy → [O,OH,OW,N]  (innermost loop: the image n)
 */
export const CHANNELS_LAST_PERMUTATIONS = {
  forward: { inputs: [[0, 2, 3, 1], [0, 2, 3, 1]], loop: (g: ConvGeometry) => g.C },
  'backward-data': { inputs: [[0, 2, 3, 1], [2, 3, 1, 0]], loop: (g: ConvGeometry) => g.O },
  'backward-filter': { inputs: [[1, 2, 3, 0], [1, 2, 3, 0]], loop: (g: ConvGeometry) => g.N },
} as const;

/** The two inputs, plus their vec4 views for channels-last problems. */
function convInputs(layout: ConvLayout, first: string, second: string): GemmProblem['inputs'] {
  const plain = [[first, 'f32'], [second, 'f32']] as const;
  return layout === 'nchw' ? plain : [...plain, [`${first}Quads`, 'vec4f'], [`${second}Quads`, 'vec4f']];
}

function checkQuadLoop(name: string, layout: ConvLayout, loop: string, length: number): void {
  if (layout === 'channels-last' && length % 4 !== 0) throw new Error(`${name}: the channels-last layout needs ${loop} divisible by 4, got ${length}`);
}
const geometryKey = (g: ConvGeometry) => JSON.stringify(g);
/** Flat index of pixel (h, w) (i32 expressions) of an H × W plane, clamped into range. */
const clampedPixel = (h: string, w: string, H: number, W: number) => `u32(clamp(${h}, 0, ${H - 1})) * ${W}u + u32(clamp(${w}, 0, ${W - 1}))`;

/** y = conv(x, w): x binding `x`, weight binding `w`. */
export function convForwardProblem(name: string, g: ConvGeometry, layout: ConvLayout = 'nchw'): GemmProblem {
  const HW = g.H * g.W;
  const OHW = g.OH * g.OW;
  const KK = g.KH * g.KW;
  checkQuadLoop(name, layout, 'C', g.C);
  const last = layout === 'channels-last';
  // Element strides of a channel and a pixel in x, of a channel and a tap in w.
  const [xChannel, xPixel] = last ? [1, g.C] : [HW, 1];
  const [wChannel, wTapStride] = last ? [1, g.C] : [KK, 1];
  return {
    name,
    key: `forward|${layout}|${geometryKey(g)}`,
    rows: g.N * OHW,
    cols: g.O,
    batch: 1,
    inputs: convInputs(layout, 'x', 'w'),
    rowSetup: (i) => `
  let img${i} = row${i} / ${OHW}u;
  let pix${i} = row${i} % ${OHW}u;
  let ihBase${i} = i32((pix${i} / ${g.OW}u) * ${g.strideH}u) - ${g.padH};
  let iwBase${i} = i32((pix${i} % ${g.OW}u) * ${g.strideW}u) - ${g.padW};
  let xImg${i} = img${i} * ${g.C * HW}u;`,
    kLoopOpen: (rows) => `
    for (var kh = 0u; kh < bounds.kh; kh++) {
    for (var kw = 0u; kw < bounds.kw; kw++) {
      ${range(rows).map((i) => `
      let ih${i} = ihBase${i} + i32(kh * ${g.dilationH}u);
      let iw${i} = iwBase${i} + i32(kw * ${g.dilationW}u);
      let valid${i} = ih${i} >= 0 && ih${i} < ${g.H} && iw${i} >= 0 && iw${i} < ${g.W};
      let tap${i} = xImg${i} + (${clampedPixel(`ih${i}`, `iw${i}`, g.H, g.W)}) * ${xPixel}u;`).join('')}
      let wTap = (kh * ${g.KW}u + kw) * ${wTapStride}u;
`,
    kLoopClose: '}}',
    innerLoop: 'c',
    loopBounds: { kh: g.KH, kw: g.KW, c: g.C },
    a: (i) => `select(0.0, x[tap${i} + c * ${xChannel}u], valid${i})`,
    b: (col) => fourColumns(col, g.O, (o) => `(${o}) * ${g.C * KK}u + c * ${wChannel}u + wTap`, 'w'),
    aQuad: last ? (i, c) => `select(vec4f(0.0), xQuads[(tap${i} + ${c}) / 4u], valid${i})` : undefined,
    bAlongK: last ? (c, col) => `wQuads[(min(${col}, ${g.O - 1}u) * ${g.C * KK}u + wTap + ${c}) / 4u]` : undefined,
    flatK: g.C * KK,
    // Flat k ↔ (c, kh, kw) in NCHW, (kh, kw, c) channels-last: the weight's own order, so that
    // the weight row of output channel \`col\` is read straight along k.
    accessorFunctions: `
fn convForwardA(row: u32, k: u32) -> f32 {
  let pix = row % ${OHW}u;
  let c = ${last ? `k % ${g.C}u` : `k / ${KK}u`};
  let tap = ${last ? `k / ${g.C}u` : `k % ${KK}u`};
  let ih = i32(pix / ${g.OW}u * ${g.strideH}u + tap / ${g.KW}u * ${g.dilationH}u) - ${g.padH};
  let iw = i32(pix % ${g.OW}u * ${g.strideW}u + tap % ${g.KW}u * ${g.dilationW}u) - ${g.padW};
  let valid = ih >= 0 && ih < ${g.H} && iw >= 0 && iw < ${g.W};
  return select(0.0, x[row / ${OHW}u * ${g.C * HW}u + c * ${xChannel}u + (${clampedPixel('ih', 'iw', g.H, g.W)}) * ${xPixel}u], valid);
}`,
    aAt: (row, k) => `convForwardA(${row}, ${k})`,
    bAt: (k, col) => `w[(${col}) * ${g.C * KK}u + ${k}]`,
    aContiguousAlong: last ? 'k' : 'row',
    bContiguousAlong: 'k',
    store: (row, col, value) => `out[(${row} / ${OHW}u * ${g.O}u + ${col}) * ${OHW}u + ${row} % ${OHW}u] = ${value};`,
  };
}

/** dx = conv backward-data(dy, w): dy binding `dy`, weight binding `w`. */
export function convBackwardDataProblem(name: string, g: ConvGeometry): GemmProblem {
  const HW = g.H * g.W;
  const OHW = g.OH * g.OW;
  const KK = g.KH * g.KW;
  return {
    name,
    key: `backward-data|${geometryKey(g)}`,
    rows: g.N * HW,
    cols: g.C,
    batch: 1,
    inputs: [['dy', 'f32'], ['w', 'f32']],
    rowSetup: (i) => `
  let img${i} = row${i} / ${HW}u;
  let pix${i} = row${i} % ${HW}u;
  let ihPad${i} = i32(pix${i} / ${g.W}u) + ${g.padH};
  let iwPad${i} = i32(pix${i} % ${g.W}u) + ${g.padW};
  let dyImg${i} = img${i} * ${g.O * OHW}u;`,
    // Output pixel (oh, ow) reads input pixel (oh·s − p + kh·d, ...): invert that per tap.
    kLoopOpen: (rows) => `
    for (var kh = 0u; kh < bounds.kh; kh++) {
    for (var kw = 0u; kw < bounds.kw; kw++) {
      ${range(rows).map((i) => `
      let th${i} = ihPad${i} - i32(kh * ${g.dilationH}u);
      let tw${i} = iwPad${i} - i32(kw * ${g.dilationW}u);
      let oh${i} = th${i} / ${g.strideH};
      let ow${i} = tw${i} / ${g.strideW};
      let valid${i} = th${i} >= 0 && tw${i} >= 0 && th${i} % ${g.strideH} == 0 && tw${i} % ${g.strideW} == 0 && oh${i} < ${g.OH} && ow${i} < ${g.OW};
      let tap${i} = dyImg${i} + u32(clamp(oh${i}, 0, ${g.OH - 1})) * ${g.OW}u + u32(clamp(ow${i}, 0, ${g.OW - 1}));`).join('')}
      let wTap = kh * ${g.KW}u + kw;
`,
    kLoopClose: '}}',
    innerLoop: 'o',
    loopBounds: { kh: g.KH, kw: g.KW, o: g.O },
    a: (i) => `select(0.0, dy[tap${i} + o * ${OHW}u], valid${i})`,
    b: (col) => fourColumns(col, g.C, (c) => `o * ${g.C * KK}u + (${c}) * ${KK}u + wTap`, 'w'),
    flatK: g.O * KK,
    // Flat k ↔ (o, kh, kw).
    accessorFunctions: `
fn convBackwardDataA(row: u32, k: u32) -> f32 {
  let pix = row % ${HW}u;
  let tap = k % ${KK}u;
  let th = i32(pix / ${g.W}u) + ${g.padH} - i32(tap / ${g.KW}u * ${g.dilationH}u);
  let tw = i32(pix % ${g.W}u) + ${g.padW} - i32(tap % ${g.KW}u * ${g.dilationW}u);
  let oh = th / ${g.strideH};
  let ow = tw / ${g.strideW};
  let valid = th >= 0 && tw >= 0 && th % ${g.strideH} == 0 && tw % ${g.strideW} == 0 && oh < ${g.OH} && ow < ${g.OW};
  return select(0.0, dy[(row / ${HW}u * ${g.O}u + k / ${KK}u) * ${OHW}u + ${clampedPixel('oh', 'ow', g.OH, g.OW)}], valid);
}`,
    aAt: (row, k) => `convBackwardDataA(${row}, ${k})`,
    bAt: (k, col) => `w[(${k}) / ${KK}u * ${g.C * KK}u + (${col}) * ${KK}u + (${k}) % ${KK}u]`,
    aContiguousAlong: 'row',
    bContiguousAlong: 'k',
    store: (row, col, value) => `out[(${row} / ${HW}u * ${g.C}u + ${col}) * ${HW}u + ${row} % ${HW}u] = ${value};`,
  };
}

/** dw = conv backward-filter(x, dy): x binding `x`, dy binding `dy`; dw laid out [O, C, KH, KW]. */
export function convBackwardFilterProblem(name: string, g: ConvGeometry, layout: ConvLayout = 'nchw'): GemmProblem {
  const HW = g.H * g.W;
  const OHW = g.OH * g.OW;
  const KK = g.KH * g.KW;
  checkQuadLoop(name, layout, 'N', g.N);
  const last = layout === 'channels-last';
  // Element strides of an image and of a (channel, pixel) position in x and in dy.
  const [xImage, xPosition] = last ? [1, g.N] : [g.C * HW, 1];
  const [dyImage, dyPosition] = last ? [1, g.N] : [g.O * OHW, 1];
  return {
    name,
    key: `backward-filter|${layout}|${geometryKey(g)}`,
    rows: g.C * KK,
    cols: g.O,
    batch: 1,
    inputs: convInputs(layout, 'x', 'dy'),
    rowSetup: (i) => `
  let c${i} = row${i} / ${KK}u;
  let khOff${i} = i32((row${i} / ${g.KW}u) % ${g.KH}u * ${g.dilationH}u) - ${g.padH};
  let kwOff${i} = i32(row${i} % ${g.KW}u * ${g.dilationW}u) - ${g.padW};`,
    // Images innermost: the K loop the main loop chunks (subgroup sharing takes 8 k at a time)
    // is then N long, not OW (7 in a 28 px DCGAN's second layer: an eighth of each chunk idle).
    kLoopOpen: (rows) => `
    for (var oh = 0u; oh < bounds.oh; oh++) {
      ${range(rows).map((i) => `
      let ih${i} = i32(oh * ${g.strideH}u) + khOff${i};
      let rowOk${i} = ih${i} >= 0 && ih${i} < ${g.H};`).join('')}
    for (var ow = 0u; ow < bounds.ow; ow++) {
      ${range(rows).map((i) => `
      let iw${i} = i32(ow * ${g.strideW}u) + kwOff${i};
      let valid${i} = rowOk${i} && iw${i} >= 0 && iw${i} < ${g.W};
      let xPix${i} = (c${i} * ${HW}u + u32(clamp(ih${i}, 0, ${g.H - 1})) * ${g.W}u + u32(clamp(iw${i}, 0, ${g.W - 1}))) * ${xPosition}u;`).join('')}
      let dyPix = oh * ${g.OW}u + ow;`,
    kLoopClose: '}}',
    innerLoop: 'img',
    loopBounds: { oh: g.OH, ow: g.OW, img: g.N },
    a: (i) => `select(0.0, x[img * ${xImage}u + xPix${i}], valid${i})`,
    b: (col) => fourColumns(col, g.O, (o) => `img * ${dyImage}u + ((${o}) * ${OHW}u + dyPix) * ${dyPosition}u`, 'dy'),
    aQuad: last ? (i, img) => `select(vec4f(0.0), xQuads[(xPix${i} + ${img}) / 4u], valid${i})` : undefined,
    bAlongK: last ? (img, col) => `dyQuads[((min(${col}, ${g.O - 1}u) * ${OHW}u + dyPix) * ${g.N}u + ${img}) / 4u]` : undefined,
    flatK: g.N * OHW,
    // Flat k ↔ (n, oh, ow), as in the loop nest; rows are taps (c, kh, kw).
    accessorFunctions: `
fn convBackwardFilterA(row: u32, k: u32) -> f32 {
  let pix = k % ${OHW}u;
  let ih = i32(pix / ${g.OW}u * ${g.strideH}u + row / ${g.KW}u % ${g.KH}u * ${g.dilationH}u) - ${g.padH};
  let iw = i32(pix % ${g.OW}u * ${g.strideW}u + row % ${g.KW}u * ${g.dilationW}u) - ${g.padW};
  let valid = ih >= 0 && ih < ${g.H} && iw >= 0 && iw < ${g.W};
  return select(0.0, x[k / ${OHW}u * ${xImage}u + (row / ${KK}u * ${HW}u + ${clampedPixel('ih', 'iw', g.H, g.W)}) * ${xPosition}u], valid);
}`,
    aAt: (row, k) => `convBackwardFilterA(${row}, ${k})`,
    bAt: (k, col) => `dy[(${k}) / ${OHW}u * ${dyImage}u + ((${col}) * ${OHW}u + (${k}) % ${OHW}u) * ${dyPosition}u]`,
    aContiguousAlong: 'k',
    bContiguousAlong: 'k',
    store: (row, col, value) => `out[(${col}) * ${g.C * KK}u + ${row}] = ${value};`,
  };
}

/**
 * Backward-data for strided, undilated convolutions, one GEMM batch per output phase: input
 * pixels (ih, iw) with the same (ih mod sH, iw mod sW) are reached by the same taps
 * kh ≡ ih + padH (mod sH), so each phase loops over its own taps only. The gather form above
 * visits every tap and discards all but 1/(sH·sW) of them — 4× the work at stride 2, which is
 * every upsampling layer of a DCGAN generator.
 */
export function convBackwardDataPhasedProblem(name: string, g: ConvGeometry, layout: ConvLayout = 'nchw'): GemmProblem {
  const HW = g.H * g.W;
  const OHW = g.OH * g.OW;
  const KK = g.KH * g.KW;
  checkQuadLoop(name, layout, 'O', g.O);
  const last = layout === 'channels-last';
  // Element strides of a channel and a pixel in dy; of an output channel, an input channel and a
  // tap in w ([O,C,KH,KW], or [KH,KW,C,O] channels-last).
  const [dyChannel, dyPixel] = last ? [1, g.O] : [OHW, 1];
  const [wOut, wIn, wTapStride] = last ? [1, g.O, g.C * g.O] : [g.C * KK, KK, 1];
  const Hp = Math.ceil(g.H / g.strideH);
  const Wp = Math.ceil(g.W / g.strideW);
  const phaseRows = Hp * Wp;
  // Taps per phase, at most: kh ≡ phase (mod sH) leaves ⌈KH / sH⌉ of them (likewise for kw).
  const phaseTapsW = Math.ceil(g.KW / g.strideW);
  const phaseTaps = Math.ceil(g.KH / g.strideH) * phaseTapsW;
  // Input pixel of a GEMM row in phase bz; rows past the image edge are computed but not stored.
  const pixel = (row: string, suffix: string) => `
  let q${suffix} = ${row} % ${phaseRows}u;
  let ih${suffix} = (q${suffix} / ${Wp}u) * ${g.strideH}u + bz / ${g.strideW}u;
  let iw${suffix} = (q${suffix} % ${Wp}u) * ${g.strideW}u + bz % ${g.strideW}u;`;
  return {
    name,
    key: `backward-data-phased|${layout}|${geometryKey(g)}`,
    rows: g.N * phaseRows,
    cols: g.C,
    batch: g.strideH * g.strideW,
    inputs: convInputs(layout, 'dy', 'w'),
    rowSetup: (i) => `${pixel(`row${i}`, `${i}`)}
  let ihPad${i} = i32(ih${i}) + ${g.padH};
  let iwPad${i} = i32(iw${i}) + ${g.padW};
  let dyImg${i} = row${i} / ${phaseRows}u * ${g.O * OHW}u;`,
    kLoopOpen: (rows) => `
    let khStart = (bz / ${g.strideW}u + ${g.padH}u) % ${g.strideH}u;
    let kwStart = (bz % ${g.strideW}u + ${g.padW}u) % ${g.strideW}u;
    let khCount = select(0u, (bounds.kh - khStart + ${g.strideH - 1}u) / ${g.strideH}u, khStart < bounds.kh);
    let kwCount = select(0u, (bounds.kw - kwStart + ${g.strideW - 1}u) / ${g.strideW}u, kwStart < bounds.kw);
    for (var jh = 0u; jh < khCount; jh++) {
    let kh = khStart + jh * ${g.strideH}u;
    for (var jw = 0u; jw < kwCount; jw++) {
      let kw = kwStart + jw * ${g.strideW}u;
      ${range(rows).map((i) => `
      let th${i} = ihPad${i} - i32(kh);
      let tw${i} = iwPad${i} - i32(kw);
      let oh${i} = th${i} / ${g.strideH};
      let ow${i} = tw${i} / ${g.strideW};
      let valid${i} = th${i} >= 0 && tw${i} >= 0 && oh${i} < ${g.OH} && ow${i} < ${g.OW};
      let tap${i} = dyImg${i} + (u32(clamp(oh${i}, 0, ${g.OH - 1})) * ${g.OW}u + u32(clamp(ow${i}, 0, ${g.OW - 1}))) * ${dyPixel}u;`).join('')}
      let wTap = (kh * ${g.KW}u + kw) * ${wTapStride}u;
`,
    kLoopClose: '}}',
    innerLoop: 'o',
    loopBounds: { kh: g.KH, kw: g.KW, o: g.O },
    a: (i) => `select(0.0, dy[tap${i} + o * ${dyChannel}u], valid${i})`,
    b: (col) => fourColumns(col, g.C, (c) => `o * ${wOut}u + (${c}) * ${wIn}u + wTap`, 'w'),
    aQuad: last ? (i, o) => `select(vec4f(0.0), dyQuads[(tap${i} + ${o}) / 4u], valid${i})` : undefined,
    bAlongK: last ? (o, col) => `wQuads[(min(${col}, ${g.C - 1}u) * ${g.O}u + wTap + ${o}) / 4u]` : undefined,
    // Flat k ↔ (o, jh, jw), every phase padded to the most taps any phase has; the taps a phase
    // lacks (kh ≥ KH or kw ≥ KW) read as 0.
    flatK: g.O * phaseTaps,
    accessorFunctions: `
fn phaseTap(k: u32, bz: u32) -> vec2u {
  let j = k % ${phaseTaps}u;
  return vec2u((bz / ${g.strideW}u + ${g.padH}u) % ${g.strideH}u + j / ${phaseTapsW}u * ${g.strideH}u,
               (bz % ${g.strideW}u + ${g.padW}u) % ${g.strideW}u + j % ${phaseTapsW}u * ${g.strideW}u);
}
fn convBackwardDataPhasedA(row: u32, k: u32, bz: u32) -> f32 {
  ${pixel('row', '')}
  let tap = phaseTap(k, bz);
  let th = i32(ih + ${g.padH}u) - i32(tap.x);
  let tw = i32(iw + ${g.padW}u) - i32(tap.y);
  let oh = th / ${g.strideH};
  let ow = tw / ${g.strideW};
  let valid = tap.x < ${g.KH}u && tap.y < ${g.KW}u && th >= 0 && tw >= 0 && oh < ${g.OH} && ow < ${g.OW};
  return select(0.0, dy[row / ${phaseRows}u * ${g.O * OHW}u + k / ${phaseTaps}u * ${dyChannel}u + (${clampedPixel('oh', 'ow', g.OH, g.OW)}) * ${dyPixel}u], valid);
}
fn convBackwardDataPhasedB(k: u32, col: u32, bz: u32) -> f32 {
  let tap = phaseTap(k, bz);
  let inRange = tap.x < ${g.KH}u && tap.y < ${g.KW}u;
  return select(0.0, w[k / ${phaseTaps}u * ${wOut}u + col * ${wIn}u + (min(tap.x, ${g.KH - 1}u) * ${g.KW}u + min(tap.y, ${g.KW - 1}u)) * ${wTapStride}u], inRange);
}`,
    aAt: (row, k) => `convBackwardDataPhasedA(${row}, ${k}, bz)`,
    bAt: (k, col) => `convBackwardDataPhasedB(${k}, ${col}, bz)`,
    aContiguousAlong: 'row',
    bContiguousAlong: 'k',
    store: (row, col, value) => `{${pixel(row, 'S')}
    if (ihS < ${g.H}u && iwS < ${g.W}u) { out[(${row} / ${phaseRows}u * ${g.C}u + ${col}) * ${HW}u + ihS * ${g.W}u + iwS] = ${value}; } }`,
  };
}

/** Whether backward-data runs phased (strided, undilated): the only form with a channels-last layout. */
export const phasedBackwardData = (g: ConvGeometry): boolean => (g.strideH > 1 || g.strideW > 1) && g.dilationH === 1 && g.dilationW === 1;

/** The fastest backward-data formulation for this geometry. */
export function convBackwardDataBest(name: string, g: ConvGeometry, layout: ConvLayout = 'nchw'): GemmProblem {
  if (phasedBackwardData(g)) return convBackwardDataPhasedProblem(name, g, layout);
  if (layout !== 'nchw') throw new Error(`${name}: backward-data has a channels-last layout only in its phased (strided, undilated) form`);
  return convBackwardDataProblem(name, g);
}
