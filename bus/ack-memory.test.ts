import { describe, expect, it } from 'vitest';
import { AckMemory } from './ack-memory.js';

describe('AckMemory', () => {
  const setup = (max = 100) => {
    let now = 1_000_000;
    const memory = new AckMemory({ rememberMs: 10_000, max, nowMs: () => now });
    return { memory, advance: (ms: number) => (now += ms) };
  };

  it('on reconnect, resends acks from the last rememberMs before the disconnect and all acks sent while disconnected', () => {
    const { memory, advance } = setup();
    memory.sent('old');
    advance(15_000);
    memory.sent('recent');
    memory.disconnected();
    advance(3 * 60_000); // a long outage forgets nothing sent during it
    memory.sent('while-down');
    expect(memory.reconnected()).toEqual(['recent', 'while-down']);
  });

  it('remembers resent acks for another rememberMs, in case the connection breaks again at once', () => {
    const { memory, advance } = setup();
    memory.sent('a');
    memory.disconnected();
    advance(60_000);
    expect(memory.reconnected()).toEqual(['a']);
    advance(5_000);
    memory.disconnected();
    expect(memory.reconnected()).toEqual(['a']);
    advance(11_000);
    memory.sent('b');
    expect(memory.size).toBe(1);
  });

  it('is bounded: past max the oldest are forgotten and reported', () => {
    const { memory } = setup(3);
    memory.disconnected();
    expect([memory.sent('1'), memory.sent('2'), memory.sent('3')]).toEqual([0, 0, 0]);
    expect(memory.sent('4')).toBe(1);
    expect(memory.reconnected()).toEqual(['2', '3', '4']);
  });
});
