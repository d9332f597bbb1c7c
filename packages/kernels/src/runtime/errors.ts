/**
 * Errors the runtime throws. Each names what failed (a kernel, a buffer, the adapter) and, where
 * the user can do something about it, what to do.
 */

/** No WebGPU adapter could be found: the message says how to get one. */
export class NoAdapterError extends Error {
  constructor(detail: string) {
    super(
      `No WebGPU adapter found (${detail}).\n` +
        'webgan needs a WebGPU adapter. Either:\n' +
        '  - install your GPU vendor\'s Vulkan / Metal / D3D12 driver, or\n' +
        '  - on Debian 12 (bookworm), install Mesa\'s lavapipe CPU driver from bookworm-backports\n' +
        '    (bookworm\'s own Mesa 22.x is too old for Dawn):\n' +
        "      echo 'deb http://deb.debian.org/debian bookworm-backports main' | sudo tee /etc/apt/sources.list.d/backports.list\n" +
        '      sudo apt-get update && sudo apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1\n' +
        '  - on Ubuntu 24.04 or newer: sudo apt-get install mesa-vulkan-drivers libvulkan1\n' +
        'or run scripts/setup.sh, which does this for you.',
    );
    this.name = 'NoAdapterError';
  }
}

/** A kernel failed to compile or its dispatch was rejected by WebGPU validation. */
export class GpuKernelError extends Error {
  constructor(
    readonly kernel: string,
    detail: string,
  ) {
    super(`GPU kernel '${kernel}' failed: ${detail}`);
    this.name = 'GpuKernelError';
  }
}

/** The device was lost (destroyed, driver reset, out of memory). Nothing more can run on it. */
export class GpuDeviceLostError extends Error {
  constructor(
    readonly reason: string,
    readonly during: string,
  ) {
    super(
      `GPU device lost (${reason}) ${during}. No further GPU work can run in this process; ` +
        'state already written to disk is intact: restart the process (training runs: --resume).',
    );
    this.name = 'GpuDeviceLostError';
  }
}

/** A request the runtime refuses before it reaches the GPU (too large, bad size, released). */
export class GpuUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuUsageError';
  }
}
