/**
 * @webgan/nn: Module, layers, init, optimizers, state dicts and safetensors I/O on @webgan/core.
 * The package is being built layer by layer; it exports nothing yet.
 */
export {};
