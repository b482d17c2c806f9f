import { DaprError } from '../../src/common/dapr-error';

/** For unit tests: runs fn and returns the DaprError it throws (fails if it throws nothing or something else). */
export function daprErrorOf(fn: () => unknown): DaprError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DaprError) return err;
    throw err;
  }
  throw new Error('expected a DaprError');
}
