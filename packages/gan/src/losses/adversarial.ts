/**
 * Adversarial losses on the discriminator's raw outputs (logits for the probabilistic losses,
 * scores for the Wasserstein and hinge critics). Each returns the discriminator's loss on a real
 * and a fake batch, and the generator's loss on a fake batch; all are means over the batch.
 *
 *   minimax (Goodfellow 2014):  D: −log σ(r) − log(1 − σ(f))      G: log(1 − σ(f))  (saturates)
 *   non-saturating (same paper): D as minimax                      G: −log σ(f)
 *   wasserstein (Arjovsky 2017): D: mean f − mean r                G: −mean f
 *   hinge (Lim & Ye 2017; Miyato 2018): D: relu(1 − r) + relu(1 + f)   G: −mean f
 *   least squares (Mao 2017, a=0 b=c=1): D: ½(r − 1)² + ½f²        G: ½(f − 1)²
 * log σ(x) = −softplus(−x) and log(1 − σ(x)) = −softplus(x) keep them finite for any logit.
 */
import { add, bceWithLogits, full, mean, mul, neg, relu, softplus, square, sub, tidy, type Tensor } from '@webgan/core';

export const LOSS_NAMES = ['minimax', 'non-saturating', 'wasserstein', 'hinge', 'least-squares'] as const;
export type LossName = (typeof LOSS_NAMES)[number];

export interface DiscriminatorLossOptions {
  /** One-sided label smoothing (Salimans et al. 2016): real targets become this value (e.g. 0.9). */
  realLabel?: number;
}

export function discriminatorLoss(name: LossName, real: Tensor, fake: Tensor, options: DiscriminatorLossOptions = {}): Tensor {
  return tidy(() => {
    switch (name) {
      case 'minimax':
      case 'non-saturating': {
        const target = full(real.shape, options.realLabel ?? 1);
        return add(bceWithLogits(real, target), bceWithLogits(fake, full(fake.shape, 0)));
      }
      case 'wasserstein':
        return sub(mean(fake), mean(real));
      case 'hinge':
        return add(mean(relu(sub(1, real))), mean(relu(add(fake, 1))));
      case 'least-squares':
        return mul(add(mean(square(sub(real, options.realLabel ?? 1))), mean(square(fake))), 0.5);
      default:
        throw new Error(`unknown loss '${name as string}' (known: ${LOSS_NAMES.join(', ')})`);
    }
  });
}

export function generatorLoss(name: LossName, fake: Tensor): Tensor {
  return tidy(() => {
    switch (name) {
      case 'minimax':
        // Minimising log(1 − σ(f)) = −softplus(f): Goodfellow's original objective.
        return neg(mean(softplus(fake)));
      case 'non-saturating':
        return bceWithLogits(fake, full(fake.shape, 1));
      case 'wasserstein':
      case 'hinge':
        return neg(mean(fake));
      case 'least-squares':
        return mul(mean(square(sub(fake, 1))), 0.5);
      default:
        throw new Error(`unknown loss '${name as string}' (known: ${LOSS_NAMES.join(', ')})`);
    }
  });
}
