/**
 * The declarative header of a kernel: what it binds, how it is named and cached, and how its WGSL
 * is generated. Launchers in `../ops` build one of these per specialisation.
 */

/** How a storage binding is accessed by the shader. */
export type BindingAccess = 'read' | 'read_write';

export interface KernelProgram {
  /** Kernel family and variant, e.g. `matmul.regblock`; appears in labels and error messages. */
  readonly name: string;
  /** Cache key: the name plus every specialisation baked into the WGSL (shapes, tiles, flags). */
  readonly key: string;
  /** Storage bindings, in binding order (`@group(0) @binding(i)`). */
  readonly bindings: readonly BindingAccess[];
  /**
   * Bytes of the uniform block bound after the storage bindings, 0 for none. Values that change
   * every step (learning rates, step counts, RNG offsets) go here so the pipeline is reused.
   */
  readonly uniformBytes: number;
  /** Generates the WGSL; called only when the pipeline is not cached yet. */
  readonly source: () => string;
}

/** Workgroup counts for a dispatch. */
export type Workgroups = readonly [number, number?, number?];
