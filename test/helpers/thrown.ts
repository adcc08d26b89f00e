// Small helpers shared by the unit tests.

/** The error f throws (fails the test when it does not throw). */
export function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a throw");
}
