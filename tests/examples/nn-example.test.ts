/** The README's nn example runs: the MLP fits, its safetensors round trip is exact, nothing leaks. */
import { expect, it } from 'vitest';
import { nnExample } from '@webgan/examples/nn';

it('fits sin(3x), reloads to identical predictions with PyTorch keys, and leaves no tensor alive', async () => {
  const { firstLoss, lastLoss, reloadedMaxDiff, stateKeys, liveTensors } = await nnExample();
  expect(lastLoss).toBeLessThan(firstLoss / 20);
  expect(reloadedMaxDiff).toBe(0);
  expect(stateKeys).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias']);
  expect(liveTensors).toBe(0);
});
