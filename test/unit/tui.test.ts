// The live table's text handling: what a cell or a log line shows, and how columns give way to a narrow terminal.
import { describe, expect, test } from "bun:test";
import { columnWidths, printable } from "../../src/tui/table.tsx";

describe("printable", () => {
  test("escape sequences (CSI, OSC titles, DCS, charsets) and control characters go; tabs become spaces", () => {
    expect(printable("\x1b[31mred\x1b[0m")).toBe("red");
    expect(printable("\x1b]0;evil-title\x07after")).toBe("after");
    expect(printable("\x1b]2;t\x1b\\x")).toBe("x");
    expect(printable("\x1bP+q544e\x1b\\ok")).toBe("ok");
    expect(printable("\x1b(0line\x1b(B")).toBe("line");
    expect(printable("a\tb\x00\x07c")).toBe("a    bc");
    expect(printable("echo 1\n\tsleep")).toBe("echo 1    sleep");
  });
  test("a carriage return writes over the line's start, as a terminal shows it", () => {
    expect(printable("cr-test-old\rNEW")).toBe("NEWtest-old");
    expect(printable("progress 10%\rprogress 100%")).toBe("progress 100%");
  });
});

describe("columnWidths", () => {
  test("fits: unchanged", () => {
    expect(columnWidths([10, 20, 5], [4, 4, undefined], 80)).toEqual([10, 20, 5]);
  });
  test("too wide: the first in order gives way first, each down to its least; the rest is cut at the edge", () => {
    // 10 + 30 + 20 + 2 gaps of 3 + 2 = 68
    expect(columnWidths([10, 30, 20], [8, 10, 10], 60, [1, 0, 2])).toEqual([10, 22, 20]);
    expect(columnWidths([10, 30, 20], [8, 10, 10], 40, [1, 0, 2])).toEqual([8, 10, 14]);
    expect(columnWidths([10, 30, 20], [8, 10, undefined], 20)).toEqual([8, 10, 20]);
  });
});
