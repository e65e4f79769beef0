/**
 * Milliseconds since the epoch. Modules that keep time take one (the system's by default), so that
 * their tests move time on instead of waiting for it to pass.
 */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
