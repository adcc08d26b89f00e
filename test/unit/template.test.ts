// The Go text/template subset --format takes (src/cli/template.ts), checked
// against what Go's text/template prints for the same template and data.
import { describe, expect, test } from "bun:test";
import { execute, sprintf } from "../../src/cli/template.ts";
import { formatList, renderTemplate } from "../../src/cli/format.ts";

const data = {
  Id: "689c60ed049818f2833e970e3be9e3538a543748e1dc060632a050d4365b2a9d",
  RepoTags: ["a:1", "b:2"],
  Labels: { z: "last", a: "first" },
  Config: { Env: ["A=1"], ExposedPorts: {}, Cmd: null },
  State: { Running: true, ExitCode: 0, Pid: 42 },
  Size: 2140160,
  Name: "web",
};
const t = (tpl: string, d: unknown = data) => execute(tpl, d);

describe("Go's nil maps and slices (src/gonil.ts)", () => {
  test("empty to a template, null as JSON; a map with entries is itself", async () => {
    const { nilMap, nilSlice, mapOrNil } = await import("../../src/gonil.ts");
    const d = { L: nilMap(), S: nilSlice(), F: mapOrNil({ a: "1" }), E: mapOrNil({}) };
    expect(t("{{.L}}|{{json .L}}|{{len .L}}|{{range .L}}x{{end}}|{{if .L}}y{{else}}n{{end}}", d)).toBe("map[]|null|0||n");
    expect(t("{{.S}}|{{json .S}}|{{len .S}}|{{if .S}}y{{else}}n{{end}}", d)).toBe("[]|null|0|n");
    expect(t("{{.F}}|{{json .F}}|{{.E}}|{{json .E}}", d)).toBe('map[a:1]|{"a":"1"}|map[]|null');
    expect(JSON.parse(JSON.stringify(d))).toEqual({ L: null, S: null, F: { a: "1" }, E: null });
    expect(Object.keys(d.L)).toEqual([]);
  });
});

describe("Go templates", () => {
  test("fields, nested fields, $, printing of lists, maps and nil as Go prints them", () => {
    expect(t("{{.Name}} {{.State.Pid}} {{$.Name}}")).toBe("web 42 web");
    expect(t("{{.RepoTags}}")).toBe("[a:1 b:2]");
    expect(t("{{.Labels}}")).toBe("map[a:first z:last]"); // keys sorted
    expect(t("{{.Config.ExposedPorts}}|{{.Config.Cmd}}")).toBe("map[]|<no value>");
    expect(t("{{.}}", "x")).toBe("x");
  });

  test("range over lists and maps, with variables, else, and over nothing", () => {
    expect(t("{{range .RepoTags}}<{{.}}>{{end}}")).toBe("<a:1><b:2>");
    expect(t("{{range $i, $x := .RepoTags}}{{$i}}={{$x}} {{end}}")).toBe("0=a:1 1=b:2 ");
    expect(t("{{range $k, $v := .Labels}}{{$k}}:{{$v}};{{end}}")).toBe("a:first;z:last;");
    expect(t("{{range .Config.Env}}{{.}}{{else}}none{{end}}")).toBe("A=1");
    expect(t("{{range .Missing}}x{{else}}none{{end}}", { Missing: [] })).toBe("none");
    expect(t("{{range .Config.Cmd}}x{{end}}.")).toBe(".");
  });

  test("if / else if / else, with, comparisons, and/or/not", () => {
    expect(t("{{if .State.Running}}up{{else}}down{{end}}")).toBe("up");
    expect(t("{{if eq .State.ExitCode 1}}one{{else if eq .State.ExitCode 0}}zero{{else}}other{{end}}")).toBe("zero");
    expect(t("{{if not .State.Running}}down{{end}}.")).toBe(".");
    expect(t("{{with .Labels.a}}{{.}}{{end}}|{{with .Config.Cmd}}x{{else}}no cmd{{end}}")).toBe("first|no cmd");
    expect(t('{{if and .State.Running (eq .Name "web" "db")}}yes{{end}}')).toBe("yes");
    expect(t("{{if or .Config.Cmd .Name}}{{or .Config.Cmd .Name}}{{end}}")).toBe("web");
    expect(t("{{lt 1 2}} {{gt .Size 100}} {{ne .Name \"x\"}} {{le 2 2}} {{ge 1 2}}")).toBe("true true true true false");
  });

  test("functions and pipelines: len, printf, index, join, json, upper, lower, title, truncate, println", () => {
    expect(t("{{len .RepoTags}} {{len .Labels}} {{len .Name}}")).toBe("2 2 3");
    expect(t('{{printf "%.12s" .Id}}')).toBe("689c60ed0498");
    expect(t('{{.Id | printf "%.12s"}}')).toBe("689c60ed0498");
    expect(t('{{printf "%-6s|%5d|%05d|%q|%v|%x" .Name 42 42 .Name .State.Running 255}}')).toBe('web   |   42|00042|"web"|true|ff');
    expect(t('{{index .Labels "z"}} {{index .RepoTags 1}}')).toBe("last b:2");
    expect(t('{{join .RepoTags ", "}}')).toBe("a:1, b:2");
    expect(t("{{json .Labels}}")).toBe('{"z":"last","a":"first"}');
    expect(t("{{.Name | upper}} {{upper .Name | lower}} {{title .Name}}")).toBe("WEB web Web");
    expect(t("{{truncate .Id 4}}")).toBe("689c");
    expect(t('{{println "a" 1}}')).toBe("a 1\n");
    expect(t("{{(index .RepoTags 0)}} {{(.State).Pid}}")).toBe("a:1 42");
  });

  test("variables: = sets the one declared outside a block; if/with declare their own; map keys that are missing", () => {
    expect(t("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}")).toBe("2");
    expect(t("{{$n := 0}}{{range .RepoTags}}{{$n = .}}{{end}}{{$n}}")).toBe("b:2");
    expect(t("{{if true}}{{$y := 5}}{{$y}}{{end}}")).toBe("5");
    expect(() => t("{{if true}}{{$y := 5}}{{end}}{{$y}}")).toThrow(/undefined variable: \$y/);
    expect(t("{{with $x := .Name}}{{$x}}{{end}} {{if $p := .State.Pid}}{{$p}}{{end}}")).toBe("web 42");
    // a map lacks a key: <no value> (Go); a struct lacks a field: an error
    expect(t("{{.Labels.nope}}|{{index .Labels \"nope\"}}|{{.Config.ExposedPorts.x}}")).toBe("<no value>||<no value>");
    expect(() => t("{{.State.Nope}}")).toThrow(/can't evaluate field Nope/);
    // Go's field names for JSON's keys
    expect(t("{{range .History}}{{.CreatedBy}}{{end}}", { History: [{ created_by: "ADD x /" }] })).toBe("ADD x /");
  });

  test("quoted strings as Go reads them; print as fmt.Sprint; index and argument checks", () => {
    expect(t('{{"a\\tb"}}|{{"\\x41\\u00e9"}}|{{`raw\\t`}}|{{"q\\"q"}}')).toBe('a\tb|Aé|raw\\t|q"q');
    expect(t('{{print 1 2 "a" "b" 3}}')).toBe("1 2ab3");
    expect(() => t("{{index .RepoTags 5}}")).toThrow(/index out of range/);
    expect(() => t("{{len .Name 3}}")).toThrow(/wrong number of args for len/);
  });

  test("typed functions refuse what Go's refuse: upper 5, truncate with its arguments swapped, join of a string, printf of nothing", () => {
    expect(() => t("{{upper 5}}")).toThrow(/error calling upper: wrong type for value; expected string; got int/);
    expect(() => t("{{truncate 4 .Name}}")).toThrow(/error calling truncate: wrong type for value; expected string; got int/);
    // the piped value comes last, as in Go: truncate 2 .Name, which Podman refuses too
    expect(() => t("{{.Name | truncate 2}}")).toThrow(/error calling truncate: wrong type for value; expected string; got int/);
    expect(() => t('{{join .Name ","}}')).toThrow(/error calling join: wrong type for value; expected \[\]string; got string/);
    expect(() => t("{{printf}}")).toThrow(/wrong number of args for printf: want at least 1 got 0/);
    expect(t('{{join .RepoTags ","}}|{{printf "%s" .Name}}|{{lower "AB"}}')).toBe("a:1,b:2|web|ab");
  });

  test("slice, html, js, urlquery, call, as Go's", () => {
    expect(t("{{slice .Name 1 3}}|{{slice .RepoTags 1}}|{{slice .RepoTags}}")).toBe("eb|[b:2]|[a:1 b:2]");
    expect(() => t("{{slice .Name 2 9}}")).toThrow(/error calling slice: index out of range: 9/);
    expect(() => t("{{slice .Name 1 2 3}}")).toThrow(/too many slice indexes/);
    expect(t("{{html .}}", `<a href="x">&'`)).toBe("&lt;a href=&#34;x&#34;&gt;&amp;&#39;");
    expect(t("{{html 1 2 \"x\"}}")).toBe("1 2x"); // several: as fmt.Sprint prints them
    expect(t("{{js .}}", `it's "q" <b> & = \\ \n`)).toBe(`it\\'s \\"q\\" \\u003Cb\\u003E \\u0026 \\u003D \\\\ \\u000A`);
    expect(t("{{urlquery .}}", "a b&c=d/é!")).toBe("a+b%26c%3Dd%2F%C3%A9%21");
    expect(t("{{.Name | printf \"%s!\" | html}}")).toBe("web!");
    expect(() => t("{{call .Name}}")).toThrow(/call of non-function web/);
    expect(() => t("{{call}}")).toThrow(/wrong number of args for call: want at least 1 got 0/);
  });

  test("range with break and continue; define, template and block", () => {
    expect(t("{{range .}}{{if eq . 3}}{{break}}{{end}}{{if eq . 1}}{{continue}}{{end}}{{.}},{{end}}", [0, 1, 2, 3, 4])).toBe("0,2,");
    // break leaves only the innermost range
    expect(t("{{range .}}{{range .}}{{if eq . 2}}{{break}}{{end}}{{.}}{{end}};{{end}}", [[1, 2, 3], [4, 2]])).toBe("1;4;");
    expect(() => t("{{break}}")).toThrow(/\{\{break\}\} outside \{\{range\}\}/);
    expect(() => t("{{range .RepoTags}}{{define \"x\"}}{{continue}}{{end}}{{end}}")).toThrow(/define/);
    // a named template gets its own dot and $; none given: nothing (<no value>)
    expect(t('{{define "tag"}}<{{.}}|{{$}}>{{end}}{{range .RepoTags}}{{template "tag" .}}{{end}}{{template "tag"}}')).toBe("<a:1|a:1><b:2|b:2><<no value>|<no value>>");
    expect(t('{{block "b" .Name}}default {{.}}{{end}}')).toBe("default web");
    expect(t('{{block "b" .Name}}default {{.}}{{end}}{{define "b"}}mine {{.}}{{end}}')).toBe("mine web"); // a define wins
    expect(() => t('{{template "nope"}}')).toThrow(/no such template "nope"/);
    expect(() => t('{{define "r"}}{{template "r"}}{{end}}{{template "r"}}')).toThrow(/exceeded maximum template depth/);
    expect(() => t("{{template .Name}}")).toThrow(/needs a quoted template name/);
  });

  test("whitespace trimming and comments", () => {
    expect(t("a  {{- .Name -}}  b")).toBe("awebb");
    expect(t("{{/* a comment */}}x")).toBe("x");
    expect(t("{{- /* trimmed */ -}}  y")).toBe("y");
  });

  test("errors: one clear message, nothing half-printed", () => {
    const bad = (tpl: string, re: RegExp) => expect(() => t(tpl)).toThrow(re);
    bad("{{.Name", /unclosed action/);
    bad("{{.Name}", /unclosed action/);
    bad("{{nosuch .Name}}", /function "nosuch" not defined/);
    bad("{{if .Name}}x", /missing \{\{end\}\}/);
    bad("{{end}}", /unexpected \{\{end\}\}/);
    bad("{{.Nope}}", /can't evaluate field Nope/);
    bad("{{.Name extra junk}}", /can't give argument to non-function/);
    bad("{{$x}}", /undefined variable/);
    // a list rendering refuses a bad template even with nothing to render
    expect(() => formatList([], "{{.Name")).toThrow(/unclosed action/);
  });

  test("\\t and \\n written as escapes (as Podman users type them), table headers", () => {
    expect(renderTemplate("{{.Name}}\\t{{.Size}}\\n", data)).toBe("web\t2140160\n");
    expect(formatList([data, { ...data, Name: "db" }], "table {{.Name}}\\t{{.Size}}")).toBe("NAME   SIZE\nweb    2140160\ndb     2140160\n");
  });

  test("sprintf: missing arguments and widths as Go prints them", () => {
    expect(sprintf("%s %s", ["a"])).toBe("a %!s(MISSING)");
    expect(sprintf("%6.2f|%%|%c", [3.14159, 65])).toBe("  3.14|%|A");
    expect(sprintf("%T %T %T %T %T %T %T", ["a", 1, 1.5, true, [1], { a: 1 }, null])).toBe("string int float64 bool []interface {} map[string]interface {} <nil>");
  });
});
