import { describe, expect, it } from "vitest";
import { parseInline, parseMarkdown, safeHref, type Block, type Inline } from "./parse-markdown.js";

const text = (value: string): Inline => ({ kind: "text", text: value });
const paragraph = (...children: Inline[]): Block => ({ kind: "paragraph", children });

describe("parseMarkdown", () => {
  it("keeps HTML as the text it is", () => {
    expect(parseMarkdown('<script>alert("x")</script>\n\n<img src=x onerror="alert(1)">')).toEqual([
      paragraph(text('<script>alert("x")</script>')),
      paragraph(text('<img src=x onerror="alert(1)">')),
    ]);
    expect(parseInline("a <b>bold</b> claim")).toEqual([text("a <b>bold</b> claim")]);
  });

  it("links only http, https and mailto addresses", () => {
    expect(parseInline("[report](https://example.com/r?a=1)")).toEqual([
      { kind: "link", href: "https://example.com/r?a=1", children: [text("report")] },
    ]);
    for (const address of [
      "javascript:alert(1)",
      "JaVaScRiPt:alert(1)",
      "data:text/html,x",
      "/relative",
      "vbscript:x",
    ]) {
      expect(parseInline(`[click](${address})`)).toEqual([
        { kind: "link", href: null, children: [text("click")] },
      ]);
    }
    expect(safeHref("mailto:ops@example.com")).toBe("mailto:ops@example.com");
    // An image is its alt text, never loaded.
    expect(parseInline("![chart](https://example.com/c.png)")).toEqual([
      { kind: "link", href: "https://example.com/c.png", children: [text("chart")] },
    ]);
  });

  it("reads emphasis, code spans and escapes, and leaves snake_case alone", () => {
    expect(parseInline("**42** rows in _eu_, `select *` and my_table_name \\*not em\\*")).toEqual([
      { kind: "strong", children: [text("42")] },
      text(" rows in "),
      { kind: "em", children: [text("eu")] },
      text(", "),
      { kind: "code", text: "select *" },
      text(" and my_table_name *not em*"),
    ]);
    expect(parseInline("~~gone~~ and 2 * 3 * 4")).toEqual([
      { kind: "del", children: [text("gone")] },
      text(" and 2 * 3 * 4"),
    ]);
  });

  it("reads headings, lists (nested too), quotes, code, rules and tables", () => {
    const source = [
      "# Nightly report",
      "Rows were",
      "loaded.",
      "",
      "- eu",
      "  - eu-west-1",
      "- us",
      "",
      "3. third",
      "4. fourth",
      "",
      "> quoted",
      "",
      "```sql",
      "select 1; <b>",
      "```",
      "---",
      "| region | rows |",
      "| --- | ---: |",
      "| eu | **3** |",
      "| a \\| b | 4 |",
    ].join("\n");
    expect(parseMarkdown(source)).toEqual([
      { kind: "heading", level: 1, children: [text("Nightly report")] },
      paragraph(text("Rows were loaded.")),
      {
        kind: "list",
        ordered: false,
        start: 1,
        items: [
          [
            paragraph(text("eu")),
            { kind: "list", ordered: false, start: 1, items: [[paragraph(text("eu-west-1"))]] },
          ],
          [paragraph(text("us"))],
        ],
      },
      {
        kind: "list",
        ordered: true,
        start: 3,
        items: [[paragraph(text("third"))], [paragraph(text("fourth"))]],
      },
      { kind: "quote", children: [paragraph(text("quoted"))] },
      { kind: "code", text: "select 1; <b>" },
      { kind: "rule" },
      {
        kind: "table",
        header: [[text("region")], [text("rows")]],
        rows: [
          [[text("eu")], [{ kind: "strong", children: [text("3")] }]],
          [[text("a | b")], [text("4")]],
        ],
      },
    ]);
  });
});
