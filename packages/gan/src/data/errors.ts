/**
 * The one error class every webgan data reader throws for bad input bytes (IDX, PNG, image
 * folders). Callers can catch malformed data with a single `instanceof DataFormatError` and let
 * everything else (I/O errors, programming errors) propagate. Messages start with the source
 * (usually a file path) so a failure in a folder of thousands of files says which one.
 */
export class DataFormatError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DataFormatError';
  }
}
