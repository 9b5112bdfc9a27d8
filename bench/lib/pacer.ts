/**
 * A byte-rate limiter for the throttled data hooks: each server's slow consumer asks it how long
 * to wait after taking a chunk, so every face reads the body at the same rate.
 */

/** Paces a reader to `bytesPerSecond`, measured from its first chunk. */
export class Pacer {
  private start = -1
  private taken = 0
  private readonly bytesPerMs: number

  constructor(bytesPerSecond: number) {
    this.bytesPerMs = bytesPerSecond / 1000
  }

  /** Records `bytes` as consumed; returns the milliseconds to wait before reading more. */
  take(bytes: number): number {
    const now = performance.now()
    if (this.start < 0) this.start = now
    this.taken += bytes
    return Math.max(0, this.start + this.taken / this.bytesPerMs - now)
  }
}
