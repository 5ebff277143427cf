/** `agent-os-kernel/learning`: trajectories, analysis, lessons, operator-applied profile changes, evals. */

export {
  type AbReport,
  type ArmSummary,
  type Arms,
  abReport,
  type Interval,
  newcombe,
  welch,
  wilson,
} from './ab.js';
export {
  type Analysis,
  analyzeTrajectories,
  type Distribution,
  distribution,
  type Suggestion,
  type ToolErrorStat,
} from './analyze.js';
export {
  type CheckResult,
  type EvalCheck,
  type EvalHost,
  type EvalOptions,
  type EvalReport,
  type EvalRun,
  type EvalSuite,
  EvalSuiteSchema,
  type EvalSummary,
  evalHistory,
  loadSuite,
  runCheck,
  runEval,
} from './eval.js';
export {
  Learning,
  type LearningStorage,
  type RecordedTrajectory,
  type TrajectoryFilter,
} from './learning.js';
export {
  distill,
  type Lesson,
  LessonBook,
  type LessonKind,
  type RetrievedLesson,
  type StoredLesson,
} from './lessons.js';
export {
  type AppliedChange,
  type ApplyOptions,
  effectiveProfile,
  type ProfileData,
  ProfileOptimizer,
  type ProfileOverrides,
} from './optimizer.js';
export { AgentOptimizer, type LearningHost, type RecorderStep, TrajectoryRecorder } from './recorder.js';
export {
  buildTrajectory,
  classifyFailure,
  type FailureMode,
  type Outcome,
  outcomeOf,
  type Phase,
  type Trajectory,
  type TrajectoryStep,
  type TrajectoryToolCall,
  toJsonl,
} from './trajectory.js';
