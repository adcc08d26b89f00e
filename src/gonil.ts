// Go's nil maps and slices, as Podman prints them: a template sees an empty
// value ({{.Labels}} is map[], {{range}} runs zero times, {{if}} is false),
// JSON sees null ({{json .Labels}}, --format json). A Go struct's map or slice
// field that was never set is nil, so Podman prints null where a JavaScript
// {} or [] would print {} or [].

/** An empty map that JSON.stringify writes as null. */
export function nilMap<V = never>(): Record<string, V> {
  return Object.defineProperty({}, "toJSON", { value: () => null });
}

/** An empty slice that JSON.stringify writes as null. */
export function nilSlice<T = never>(): T[] {
  return Object.defineProperty([] as T[], "toJSON", { value: () => null });
}

/** m itself when it has entries, else a nil map (labels that were never set). */
export function mapOrNil<V>(m: Record<string, V> | undefined | null): Record<string, V> {
  return m && Object.keys(m).length ? m : nilMap<V>();
}
