/** The README's autograd example runs and gives the documented results. */
import { expect, it } from 'vitest';
import { autogradExample } from '@webgan/examples/autograd';

it('computes 2x, a penalty gradient, and leaves no tensor alive', async () => {
  const { dx, dw, liveTensors } = await autogradExample();
  expect(dx).toEqual([2, 4, 6]);
  expect(dw).toHaveLength(3);
  expect(dw.every(Number.isFinite)).toBe(true);
  expect(dw.some((v) => v !== 0)).toBe(true);
  expect(liveTensors).toEqual([0]);
});
