export { ConcurrencyLimiter } from './concurrency-limiter.ts';
export {
  type BudgetState,
  Priority,
  type RateLimitHeaders,
  ROUTINE_STEP_FACTORS,
  routineStepMs,
  type SpendDecision,
  WindowBudget,
  type WindowBudgetOptions,
} from './window-budget.ts';
