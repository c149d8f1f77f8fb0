/** A command line that cannot be run as typed (exit code 2); the message names the problem and the fix. */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
}
