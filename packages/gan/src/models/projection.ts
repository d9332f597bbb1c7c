/**
 * Projection discriminator (Miyato & Koyama 2018, "cGANs with Projection Discriminator"): a
 * conditional D whose logit is the unconditional logit plus the inner product of a learned class
 * vector with the features under D's last layer, in place of feeding the label in as an input.
 */
import { add, mul, reshape, sum, type Tensor } from '@webgan/core';
import { Embedding, init, type Sequential } from '@webgan/nn';

/**
 * A projection discriminator's class vectors, N(0, 0.02) like the DCGAN init of the layers they
 * sit beside: PyTorch's default N(0, 1) embedding would swamp the logit at the start (an inner
 * product over ~1,500 features).
 */
export function projectionEmbedding(numClasses: number, features: number): Embedding {
  const embedding = new Embedding(numClasses, features);
  init.normal_(embedding.tensor('weight'), 0, 0.02);
  return embedding;
}

/**
 * Projection discriminator output: the net's last `headLayers` layers (the final layer, and a
 * reshape after it if any) give the unconditional logit from features h; the label adds
 * ⟨projection(y), flatten(h)⟩.
 */
export function projectLabels(net: Sequential, headLayers: number, projection: Embedding, x: Tensor, labels: Tensor): Tensor {
  let h = x;
  for (let i = 0; i < net.length - headLayers; i++) h = net.at(i).forward(h);
  let logit = h;
  for (let i = net.length - headLayers; i < net.length; i++) logit = net.at(i).forward(logit);
  const features = reshape(h, [h.shape[0], h.size / h.shape[0]]);
  return add(logit, sum(mul(features, projection.forward(labels)), [1], true));
}
