// Loading a view. ink decides when it is first imported whether it runs under
// CI (CI=..., CONTINUOUS_INTEGRATION, CI_*: the is-in-ci package) and then
// draws nothing until the end. A view is only opened on a terminal both ways,
// where a person is looking: those variables are hidden while ink loads.
export async function loadView<T>(load: () => Promise<T>): Promise<T> {
  const saved: Record<string, string> = {};
  for (const k of Object.keys(process.env)) {
    if (k === "CI" || k === "CONTINUOUS_INTEGRATION" || k.startsWith("CI_")) {
      saved[k] = process.env[k]!;
      delete process.env[k];
    }
  }
  try {
    return await load();
  } finally {
    Object.assign(process.env, saved);
  }
}
