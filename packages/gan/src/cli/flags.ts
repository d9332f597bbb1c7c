/**
 * Command-line flags: `--name value`, `--name=value` and boolean `--name`, checked against a
 * declared spec so that a typo is an error that names the flag, never silently ignored.
 */

export type FlagKind = 'string' | 'number' | 'integer' | 'boolean';

export interface FlagSpec {
  kind: FlagKind;
  help: string;
}

export type FlagValues = Record<string, string | number | boolean>;

export class UsageError extends Error {}

/** Parses `args` by `spec`; positional arguments are returned separately. */
export function parseFlags(command: string, args: readonly string[], spec: Record<string, FlagSpec>): { flags: FlagValues; positional: string[] } {
  const flags: FlagValues = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const s = spec[name];
    if (!s) {
      const known = Object.keys(spec).map((k) => `--${k}`).join(', ');
      throw new UsageError(`${command}: unknown flag --${name} (known: ${known || 'none'})`);
    }
    let raw: string;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else if (s.kind === 'boolean') raw = args[i + 1] === 'true' || args[i + 1] === 'false' ? args[++i] : 'true';
    else {
      if (i + 1 >= args.length) throw new UsageError(`${command}: --${name} needs a value`);
      raw = args[++i];
    }
    flags[name] = convert(command, name, s.kind, raw);
  }
  return { flags, positional };
}

function convert(command: string, name: string, kind: FlagKind, raw: string): string | number | boolean {
  switch (kind) {
    case 'string':
      return raw;
    case 'boolean':
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new UsageError(`${command}: --${name} must be true or false, got '${raw}'`);
    case 'number':
    case 'integer': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v) || (kind === 'integer' && !Number.isInteger(v))) {
        throw new UsageError(`${command}: --${name} must be ${kind === 'integer' ? 'an integer' : 'a number'}, got '${raw}'`);
      }
      return v;
    }
  }
}

/** Help lines for a spec. */
export function flagHelp(spec: Record<string, FlagSpec>): string {
  return Object.entries(spec).map(([k, s]) => `  --${k}${s.kind === 'boolean' ? '' : ` <${s.kind}>`}`.padEnd(28) + s.help).join('\n');
}
