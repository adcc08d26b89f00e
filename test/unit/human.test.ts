// since(): Go's units.HumanDuration as Podman prints CREATED / STATUS, case by case.
import { describe, expect, test } from "bun:test";
import { goTime, since } from "../../src/cli/human.ts";

const NOW = Date.parse("2026-11-23T12:00:00Z");
const ago = (ms: number) => since(new Date(NOW - ms).toISOString(), NOW);
const S = 1000, M = 60 * S, H = 60 * M, D = 24 * H;

test.each([
  [500, "Less than a second ago"],
  [1 * S, "1 second ago"],
  [1.9 * S, "1 second ago"],
  [59 * S, "59 seconds ago"],
  [60 * S, "About a minute ago"],
  [119 * S, "About a minute ago"],
  [2 * M, "2 minutes ago"],
  [59 * M, "59 minutes ago"],
  [60 * M, "About an hour ago"],
  [89 * M, "About an hour ago"],
  [90 * M, "2 hours ago"],
  [47 * H, "47 hours ago"],
  [48 * H, "2 days ago"],
  [13 * D + 23 * H, "13 days ago"],
  [14 * D, "2 weeks ago"],
  [59 * D, "8 weeks ago"],
  [60 * D, "2 months ago"],
  [729 * D, "24 months ago"],
  [730 * D, "2 years ago"],
] as const)("%p ms -> %p", (ms, want) => {
  expect(ago(ms)).toBe(want);
});

test("an image made on 2024-01-01 is 2 years old on 2026-11-23, as Podman says", () => {
  expect(since("2024-01-01T00:00:00Z", NOW)).toBe("2 years ago");
});

describe("goTime: a time as Go's time.Time String() prints it (Podman's {{.Created}}), in UTC", () => {
  test("whole seconds, fractions up to nanoseconds without trailing zeros, offsets", () => {
    expect(goTime("2024-01-01T00:00:00Z")).toBe("2024-01-01 00:00:00 +0000 UTC");
    expect(goTime("2026-12-07T13:13:31.948098509Z")).toBe("2026-12-07 13:13:31.948098509 +0000 UTC");
    expect(goTime("2026-12-07T13:13:31.500Z")).toBe("2026-12-07 13:13:31.5 +0000 UTC");
    expect(goTime("2026-12-07T13:13:31.000Z")).toBe("2026-12-07 13:13:31 +0000 UTC");
    expect(goTime("2026-12-07T15:13:31.25+02:00")).toBe("2026-12-07 13:13:31.25 +0000 UTC");
    expect(goTime("0001-01-01T00:00:00Z")).toBe("0001-01-01 00:00:00 +0000 UTC");
    expect(goTime("not a time")).toBe("");
  });
});
