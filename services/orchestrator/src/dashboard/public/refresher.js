/**
 * Reloads a part of the page from the read model when events say it changed. The projections
 * follow the log a moment behind the event stream, so a load says whether what it read includes
 * the version it was asked for; if not it is tried again shortly. Requests that arrive while a
 * load runs are folded into one more load after it.
 */
import { describe, sleep } from './api.js';

/** Pause before reading again when the read model is behind or a read failed. */
const RETRY_MS = 250;
/** Retries of one request before giving up (the next event asks again). */
const MAX_RETRIES = 40;

export class Refresher {
  /**
   * @param {(wanted: number) => Promise<boolean>} load true once it read version `wanted` or later
   * @param {AbortSignal} signal
   */
  constructor(load, signal) {
    this.load = load;
    this.signal = signal;
    this.wanted = 0;
    this.running = false;
    this.again = false;
  }

  /** @param {number} version the stream version the part must show (0: any) */
  request(version) {
    this.wanted = Math.max(this.wanted, version);
    if (this.running) {
      this.again = true;
      return;
    }
    void this.run();
  }

  async run() {
    this.running = true;
    let retries = 0;
    try {
      do {
        this.again = false;
        let done = false;
        try {
          done = await this.load(this.wanted);
        } catch (error) {
          if (this.signal.aborted) return;
          console.warn(`reloading failed: ${describe(error)}`);
        }
        if (!done && retries < MAX_RETRIES) {
          retries += 1;
          await sleep(RETRY_MS, this.signal);
          this.again = true;
        } else if (done) {
          retries = 0;
        }
      } while (this.again && !this.signal.aborted);
    } finally {
      this.running = false;
    }
  }
}
