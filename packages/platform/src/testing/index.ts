export {
  type LogLine,
  type SpawnedService,
  type SpawnServiceOptions,
  spawnService,
} from './spawn-service.ts';
