/**
 * The one-invocation-per-element kernel shape shared by unary, binary, scalar and loss ops: a
 * list of input arrays, an expression per element, one output. Index math for broadcasting
 * inputs comes from `broadcast.ts`; scalars the op changes every step go in a uniform block so the
 * pipeline is reused.
 */
import type { KernelProgram } from '../runtime/program';
import { flatIndex, grid1d, type Grid1d } from './grid';

export interface ElementwiseSpec {
  /** Kernel name for labels and errors, e.g. `unary.exp`. */
  name: string;
  /** Everything baked into the source besides `count` (op, shapes, slope...). */
  key: string;
  /** Number of elements of the output. */
  count: number;
  /** Input binding names, in binding order; each is `array<f32>` unless listed in `intInputs`. */
  inputs: readonly string[];
  intInputs?: readonly string[];
  /** Output element type. */
  outputType?: 'f32' | 'i32';
  /** Every float binding is array<vec4f> and `count` counts vec4s (the caller checks divisibility). */
  vec4?: boolean;
  /** WGSL statements run per element before `value` (index math); `i` is the flat output index. */
  prelude?: string;
  /** WGSL expression of the output element. */
  value: string;
  /** Output index the value is stored at (default `i`; scatter-style kernels compute their own). */
  target?: string;
  /** Uniform fields, all f32, available as `params.<name>`. */
  uniforms?: readonly string[];
  /** Module-scope WGSL helpers (functions) the expression uses. */
  helpers?: string;
}

export const ELEMENTWISE_WORKGROUP = 256;

export function elementwiseProgram(spec: ElementwiseSpec): { program: KernelProgram; grid: Grid1d } {
  const grid = grid1d(spec.count, ELEMENTWISE_WORKGROUP);
  const uniforms = spec.uniforms ?? [];
  // Uniform blocks round up to 16 bytes; an unused pad keeps the declared size equal to what we send.
  const uniformFloats = uniforms.length === 0 ? 0 : Math.ceil(uniforms.length / 4) * 4;
  const program: KernelProgram = {
    name: spec.name,
    // The generated statements are part of the key, so two specs can never share a pipeline by mistake.
    key: `${spec.name}|${spec.key}|${spec.count}|${spec.vec4 ?? false}|${spec.target ?? 'i'}|${spec.prelude ?? ''}|${spec.value}`,
    bindings: [...spec.inputs.map(() => 'read' as const), 'read_write'],
    uniformBytes: uniformFloats * 4,
    source: () => {
      const floatType = spec.vec4 ? 'vec4f' : 'f32';
      const decls = spec.inputs.map(
        (name, b) => `@group(0) @binding(${b}) var<storage, read> ${name}: array<${spec.intInputs?.includes(name) ? 'i32' : floatType}>;`,
      );
      const outBinding = spec.inputs.length;
      const fields = Array.from({ length: uniformFloats }, (_, k) => `  ${uniforms[k] ?? `_pad${k}`}: f32,`);
      const uniformDecl = uniformFloats
        ? `struct Params {\n${fields.join('\n')}\n}\n@group(0) @binding(${outBinding + 1}) var<uniform> params: Params;`
        : '';
      return `
${decls.join('\n')}
@group(0) @binding(${outBinding}) var<storage, read_write> out: array<${spec.outputType === 'i32' ? 'i32' : floatType}>;
${uniformDecl}
${spec.helpers ?? ''}
@compute @workgroup_size(${ELEMENTWISE_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(grid)}
  if (i >= ${spec.count}u) { return; }
  ${spec.prelude ?? ''}
  out[${spec.target ?? 'i'}] = ${spec.value};
}`;
    },
  };
  return { program, grid };
}

/** Packs uniform values for a program declared with `uniforms` (padded to 16 bytes). */
export function packUniforms(values: readonly number[]): Float32Array | undefined {
  if (values.length === 0) return undefined;
  const packed = new Float32Array(Math.ceil(values.length / 4) * 4);
  packed.set(values);
  return packed;
}
