/**
 * Per-target circuit breaker (SPEC §6): `threshold` consecutive failures open the circuit for
 * `openMs`; while open, calls fail at once. A success closes it and resets the count.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;

  constructor(private readonly threshold: number, private readonly openMs: number, private readonly now = Date.now) {}

  isOpen(): boolean {
    return this.openUntil > this.now();
  }

  /** Records a failure; true when this failure tripped the circuit. */
  recordFailure(): boolean {
    this.failures++;
    if (this.failures < this.threshold || this.isOpen()) return false;
    this.openUntil = this.now() + this.openMs;
    return true;
  }

  recordSuccess(): void {
    this.failures = 0;
    this.openUntil = 0;
  }
}
