/** Command-line checks shared by the bench runners: a bad option stops the run with exit code 2, naming it. */
export interface CliChecks {
  fail(message: string): never;
  /** A numeric option's value: finite, ≥ 0 (> 0 unless `zero`), whole when `integer`. */
  number(name: string, text: string, options?: { integer?: boolean; zero?: boolean }): number;
}

export function cliChecks(command: string): CliChecks {
  const fail = (message: string): never => {
    process.stderr.write(`${command}: ${message}\n`);
    process.exit(2);
  };
  return {
    fail,
    number(name, text, { integer = false, zero = false } = {}) {
      const v = Number(text);
      if (!Number.isFinite(v) || v < 0 || (!zero && v === 0) || (integer && !Number.isInteger(v))) fail(`--${name} must be a ${integer ? 'whole ' : ''}number ${zero ? '≥ 0' : '> 0'}, got "${text}"`);
      return v;
    },
  };
}
