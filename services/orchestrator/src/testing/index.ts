/** Test helpers of the orchestrator, for other packages' tests (`@aviary/orchestrator/testing`). */
export {
  type RunningOrchestrator,
  type RunningOrchestratorOptions,
  startRunningOrchestrator,
} from './running-orchestrator.ts';
