/**
 * HyperLogLog (Flajolet et al. 2007) for StatsD sets past EXACT_SAMPLE_LIMIT distinct members:
 * 2^14 one-byte registers (16 KB) whatever the number of members, a standard error of
 * 1.04/sqrt(2^14) = 0.81 %, and merging by register-wise maximum (several writers, tag sets).
 * Below the limit sets are counted exactly from their members; this only takes over above it.
 */

const PRECISION = 14;
const REGISTERS = 1 << PRECISION;
const ALPHA = 0.7213 / (1 + 1.079 / REGISTERS);
/** Reported as the answer's relative_error: three standard errors (99.7 % of estimates fall within). */
export const DISTINCT_RELATIVE_ERROR = 3 * (1.04 / Math.sqrt(REGISTERS));

/** MurmurHash3's 32-bit mix over UTF-16 code units, with a seed: two seeds give 64 bits. */
function hash32(text: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    let k = Math.imul(text.charCodeAt(i), 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= text.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class DistinctCounter {
  readonly registers: Uint8Array;

  constructor(registers?: Uint8Array) {
    if (registers !== undefined && registers.length !== REGISTERS) throw new Error(`a distinct counter has ${REGISTERS} registers, not ${registers.length}`);
    this.registers = registers ?? new Uint8Array(REGISTERS);
  }

  add(member: string): void {
    const index = hash32(member, 0x9747b28c) >>> (32 - PRECISION);
    const rank = Math.clz32(hash32(member, 0x5bd1e995)) + 1;
    if (rank > this.registers[index]) this.registers[index] = rank;
  }

  merge(other: DistinctCounter): void {
    for (let i = 0; i < REGISTERS; i++) if (other.registers[i] > this.registers[i]) this.registers[i] = other.registers[i];
  }

  estimate(): number {
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < REGISTERS; i++) {
      sum += 2 ** -this.registers[i];
      if (this.registers[i] === 0) zeros++;
    }
    const raw = (ALPHA * REGISTERS * REGISTERS) / sum;
    // small-range correction: linear counting while registers are still empty
    if (raw <= 2.5 * REGISTERS && zeros > 0) return Math.round(REGISTERS * Math.log(REGISTERS / zeros));
    return Math.round(raw);
  }
}
