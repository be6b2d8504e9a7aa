export {
  type LogLine,
  type SpawnedService,
  type SpawnServiceOptions,
  spawnService,
} from './spawn-service.ts';
export { parentSpanId, startTestTracing, type TestTracing } from './tracing.ts';
