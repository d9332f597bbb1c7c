/**
 * @webgan/gan: GAN losses, penalties, trainers, models, datasets, metrics and the `webgan` CLI.
 */
export { doctor } from './cli/doctor';
