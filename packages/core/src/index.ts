/**
 * @webgan/core: Tensor, ops and reverse-mode autograd on top of @webgan/kernels.
 * The package is being built op family by op family; it exports nothing yet.
 */
export {};
