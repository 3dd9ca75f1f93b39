/** Commander parsers for integer options; the error names the flag and the value. */
import { InvalidArgumentError } from 'commander';

function integer(flag: string, min: number, what: string) {
  return (v: string): number => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) throw new InvalidArgumentError(`${flag} must be ${what}, got "${v}"`);
    return x;
  };
}

export const positiveInteger = (flag: string) => integer(flag, 1, 'a positive integer');
export const nonNegativeInteger = (flag: string) => integer(flag, 0, 'a non-negative integer');
