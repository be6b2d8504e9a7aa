export {
  type DatadogSim,
  type DatadogSimOptions,
  type Organisation,
  startDatadogSim,
} from './datadog-sim.ts';
export { type RateLimit, RateLimiter } from './rate-limit.ts';
export { type Point, SeriesStore } from './series.ts';
