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
 */
import type { ConvGeometry } from '../ops/conv-geometry';
import { fourColumns, type GemmProblem } from './gemm';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const geometryKey = (g: ConvGeometry) => JSON.stringify(g);
/** Flat index of pixel (h, w) (i32 expressions) of an H × W plane, clamped into range. */
const clampedPixel = (h: string, w: string, H: number, W: number) => `u32(clamp(${h}, 0, ${H - 1})) * ${W}u + u32(clamp(${w}, 0, ${W - 1}))`;

/** y = conv(x, w): x binding `x`, weight binding `w`. */
export function convForwardProblem(name: string, g: ConvGeometry): GemmProblem {
  const HW = g.H * g.W;
  const OHW = g.OH * g.OW;
  const KK = g.KH * g.KW;
  return {
    name,
    key: `forward|${geometryKey(g)}`,
    rows: g.N * OHW,
    cols: g.O,
    batch: 1,
    inputs: [['x', 'f32'], ['w', 'f32']],
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
      let tap${i} = xImg${i} + u32(clamp(ih${i}, 0, ${g.H - 1})) * ${g.W}u + u32(clamp(iw${i}, 0, ${g.W - 1}));`).join('')}
      let wTap = kh * ${g.KW}u + kw;
`,
    kLoopClose: '}}',
    innerLoop: 'c',
    loopBounds: { kh: g.KH, kw: g.KW, c: g.C },
    a: (i) => `select(0.0, x[tap${i} + c * ${HW}u], valid${i})`,
    b: (col) => fourColumns(col, g.O, (o) => `(${o}) * ${g.C * KK}u + c * ${KK}u + wTap`, 'w'),
    flatK: g.C * KK,
    accessorFunctions: `
fn convForwardA(row: u32, k: u32) -> f32 {
  let pix = row % ${OHW}u;
  let ih = i32(pix / ${g.OW}u * ${g.strideH}u + k / ${g.KW}u % ${g.KH}u * ${g.dilationH}u) - ${g.padH};
  let iw = i32(pix % ${g.OW}u * ${g.strideW}u + k % ${g.KW}u * ${g.dilationW}u) - ${g.padW};
  let valid = ih >= 0 && ih < ${g.H} && iw >= 0 && iw < ${g.W};
  return select(0.0, x[(row / ${OHW}u * ${g.C}u + k / ${KK}u) * ${HW}u + ${clampedPixel('ih', 'iw', g.H, g.W)}], valid);
}`,
    // Flat k ↔ (c, kh, kw): the weight row of output channel `col` read straight along k.
    aAt: (row, k) => `convForwardA(${row}, ${k})`,
    bAt: (k, col) => `w[(${col}) * ${g.C * KK}u + ${k}]`,
    aContiguousAlong: 'row',
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
export function convBackwardFilterProblem(name: string, g: ConvGeometry): GemmProblem {
  const HW = g.H * g.W;
  const OHW = g.OH * g.OW;
  const KK = g.KH * g.KW;
  return {
    name,
    key: `backward-filter|${geometryKey(g)}`,
    rows: g.C * KK,
    cols: g.O,
    batch: 1,
    inputs: [['x', 'f32'], ['dy', 'f32']],
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
      let xPix${i} = c${i} * ${HW}u + u32(clamp(ih${i}, 0, ${g.H - 1})) * ${g.W}u + u32(clamp(iw${i}, 0, ${g.W - 1}));`).join('')}
      let dyPix = oh * ${g.OW}u + ow;`,
    kLoopClose: '}}',
    innerLoop: 'img',
    loopBounds: { oh: g.OH, ow: g.OW, img: g.N },
    a: (i) => `select(0.0, x[img * ${g.C * HW}u + xPix${i}], valid${i})`,
    b: (col) => fourColumns(col, g.O, (o) => `img * ${g.O * OHW}u + (${o}) * ${OHW}u + dyPix`, 'dy'),
    flatK: g.N * OHW,
    // Flat k ↔ (n, oh, ow), as in the loop nest; rows are taps (c, kh, kw).
    accessorFunctions: `
fn convBackwardFilterA(row: u32, k: u32) -> f32 {
  let pix = k % ${OHW}u;
  let ih = i32(pix / ${g.OW}u * ${g.strideH}u + row / ${g.KW}u % ${g.KH}u * ${g.dilationH}u) - ${g.padH};
  let iw = i32(pix % ${g.OW}u * ${g.strideW}u + row % ${g.KW}u * ${g.dilationW}u) - ${g.padW};
  let valid = ih >= 0 && ih < ${g.H} && iw >= 0 && iw < ${g.W};
  return select(0.0, x[(k / ${OHW}u * ${g.C}u + row / ${KK}u) * ${HW}u + ${clampedPixel('ih', 'iw', g.H, g.W)}], valid);
}`,
    aAt: (row, k) => `convBackwardFilterA(${row}, ${k})`,
    bAt: (k, col) => `dy[((${k}) / ${OHW}u * ${g.O}u + ${col}) * ${OHW}u + (${k}) % ${OHW}u]`,
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
export function convBackwardDataPhasedProblem(name: string, g: ConvGeometry): GemmProblem {
  const HW = g.H * g.W;
  const OHW = g.OH * g.OW;
  const KK = g.KH * g.KW;
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
    key: `backward-data-phased|${geometryKey(g)}`,
    rows: g.N * phaseRows,
    cols: g.C,
    batch: g.strideH * g.strideW,
    inputs: [['dy', 'f32'], ['w', 'f32']],
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
      let tap${i} = dyImg${i} + u32(clamp(oh${i}, 0, ${g.OH - 1})) * ${g.OW}u + u32(clamp(ow${i}, 0, ${g.OW - 1}));`).join('')}
      let wTap = kh * ${g.KW}u + kw;
`,
    kLoopClose: '}}',
    innerLoop: 'o',
    loopBounds: { kh: g.KH, kw: g.KW, o: g.O },
    a: (i) => `select(0.0, dy[tap${i} + o * ${OHW}u], valid${i})`,
    b: (col) => fourColumns(col, g.C, (c) => `o * ${g.C * KK}u + (${c}) * ${KK}u + wTap`, 'w'),
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
  return select(0.0, dy[(row / ${phaseRows}u * ${g.O}u + k / ${phaseTaps}u) * ${OHW}u + ${clampedPixel('oh', 'ow', g.OH, g.OW)}], valid);
}
fn convBackwardDataPhasedB(k: u32, col: u32, bz: u32) -> f32 {
  let tap = phaseTap(k, bz);
  let inRange = tap.x < ${g.KH}u && tap.y < ${g.KW}u;
  return select(0.0, w[k / ${phaseTaps}u * ${g.C * KK}u + col * ${KK}u + min(tap.x, ${g.KH - 1}u) * ${g.KW}u + min(tap.y, ${g.KW - 1}u)], inRange);
}`,
    aAt: (row, k) => `convBackwardDataPhasedA(${row}, ${k}, bz)`,
    bAt: (k, col) => `convBackwardDataPhasedB(${k}, ${col}, bz)`,
    aContiguousAlong: 'row',
    bContiguousAlong: 'k',
    store: (row, col, value) => `{${pixel(row, 'S')}
    if (ihS < ${g.H}u && iwS < ${g.W}u) { out[(${row} / ${phaseRows}u * ${g.C}u + ${col}) * ${HW}u + ihS * ${g.W}u + iwS] = ${value}; } }`,
  };
}

/** The fastest backward-data formulation for this geometry. */
export function convBackwardDataBest(name: string, g: ConvGeometry): GemmProblem {
  const strided = g.strideH > 1 || g.strideW > 1;
  const undilated = g.dilationH === 1 && g.dilationW === 1;
  return strided && undilated ? convBackwardDataPhasedProblem(name, g) : convBackwardDataProblem(name, g);
}
