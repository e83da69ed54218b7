/**
 * A small markdown reader for artifacts, safe by construction: it makes a tree of plain nodes (text,
 * emphasis, links, lists, tables, code) that markdown.tsx turns into React elements, so nothing in the
 * text is ever inserted as HTML (a `<script>` or `<img onerror>` is shown as the text it is), and a link
 * keeps its address only when it is http, https or mailto. No markdown library is among the dashboard's
 * dependencies; this covers what run reports use: headings, paragraphs, emphasis, code, links, lists,
 * quotes, rules and tables.
 */

export type Inline =
  | { kind: "text"; text: string }
  | { kind: "code"; text: string }
  | { kind: "strong" | "em" | "del"; children: Inline[] }
  /** `href` null: an address that is not http, https or mailto, shown as its text only. */
  | { kind: "link"; href: string | null; children: Inline[] };

export type Block =
  | { kind: "heading"; level: 1 | 2 | 3 | 4 | 5 | 6; children: Inline[] }
  | { kind: "paragraph"; children: Inline[] }
  | { kind: "code"; text: string }
  | { kind: "quote"; children: Block[] }
  | { kind: "list"; ordered: boolean; start: number; items: Block[][] }
  | { kind: "table"; header: Inline[][]; rows: Inline[][][] }
  | { kind: "rule" };

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

/** The address of a link, when it is one a page may follow safely. */
export function safeHref(address: string): string | null {
  try {
    const url = new URL(address);
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

// Sticky (`y`) patterns, tried at one position of the text at a time. Spans are bounded, so that text
// full of unclosed markers costs a bounded look-ahead at each, not a scan to its end.
const ESCAPED = /\\([\\`*_{}[\]()#+\-.!|<>~])/y;
const CODE_SPAN = /(`+)([^`]|[^`][\s\S]{0,5000}?[^`])\1(?!`)/y;
// An address may hold balanced parentheses, one level deep (`https://en.wikipedia.org/wiki/A_(b)`).
const LINK = /!?\[((?:\\.|[^\]\\])*)\]\(\s*<?((?:[^()\s<>]|\([^()\s]*\))*)>?(?:\s+"[^"]*")?\s*\)/y;
const STRONG = /(\*\*|__)(?=\S)([\s\S]{0,1000}?\S)\1/y;
const EM = /(\*|_)(?=[^\s*_])([\s\S]{0,1000}?[^\s\\])\1(?![\w*])/y;
const DEL = /~~(?=\S)([\s\S]{0,1000}?\S)~~/y;

function at(pattern: RegExp, text: string, index: number): RegExpExecArray | null {
  pattern.lastIndex = index;
  return pattern.exec(text);
}

/** Text with emphasis, code spans and links; anything else is text. */
export function parseInline(text: string): Inline[] {
  const out: Inline[] = [];
  let plain = "";
  const push = (node: Inline) => {
    if (plain) out.push({ kind: "text", text: plain });
    plain = "";
    out.push(node);
  };
  let i = 0;
  while (i < text.length) {
    const char = text[i]!;
    let match: RegExpExecArray | null = null;
    if (char === "\\" && (match = at(ESCAPED, text, i))) {
      plain += match[1];
    } else if (char === "`" && (match = at(CODE_SPAN, text, i))) {
      push({ kind: "code", text: match[2]!.replace(/^ (.+) $/, "$1") });
    } else if ((char === "[" || char === "!") && (match = at(LINK, text, i))) {
      push({ kind: "link", href: safeHref(match[2]!), children: parseInline(match[1]!) });
    } else if ((char === "*" || char === "_") && (match = at(STRONG, text, i))) {
      push({ kind: "strong", children: parseInline(match[2]!) });
    } else if (
      (char === "*" || (char === "_" && !/\w/.test(text[i - 1] ?? ""))) &&
      (match = at(EM, text, i))
    ) {
      push({ kind: "em", children: parseInline(match[2]!) });
    } else if (char === "~" && (match = at(DEL, text, i))) {
      push({ kind: "del", children: parseInline(match[1]!) });
    }
    if (match) {
      i += match[0].length;
    } else {
      plain += char;
      i += 1;
    }
  }
  if (plain) out.push({ kind: "text", text: plain });
  return out;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?/;
const LIST_ITEM = /^( {0,3})([-*+]|(\d{1,9})[.)])(\s+|$)/;
const TABLE_DIVIDER = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const INDENTED_CODE = /^( {4}|\t)/;
const BLANK = /^\s*$/;

/** The cells of a table row: `| a | b |` or `a | b`, with `\|` kept in a cell. */
function cells(row: string): string[] {
  const inner = row
    .trim()
    .replace(/^\|/, "")
    .replace(/(?<!\\)\|$/, "");
  return inner.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

const isTableStart = (lines: string[], i: number) =>
  lines[i]!.includes("|") &&
  i + 1 < lines.length &&
  TABLE_DIVIDER.test(lines[i + 1]!) &&
  lines[i + 1]!.includes("-");

/** Whether a line begins a block of its own, which ends a paragraph. */
const startsBlock = (lines: string[], i: number) => {
  const line = lines[i]!;
  return (
    FENCE.test(line) ||
    HEADING.test(line) ||
    RULE.test(line) ||
    QUOTE.test(line) ||
    LIST_ITEM.test(line) ||
    isTableStart(lines, i)
  );
};

function parseBlocks(lines: string[]): Block[] {
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (BLANK.test(line)) {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const body: string[] = [];
      i++;
      while (i < lines.length && !lines[i]!.trimStart().startsWith(fence[1]!)) body.push(lines[i++]!);
      i++;
      blocks.push({ kind: "code", text: body.join("\n") });
      continue;
    }
    if (INDENTED_CODE.test(line)) {
      const body: string[] = [];
      while (i < lines.length && (INDENTED_CODE.test(lines[i]!) || BLANK.test(lines[i]!))) {
        body.push(lines[i++]!.replace(INDENTED_CODE, ""));
      }
      blocks.push({ kind: "code", text: body.join("\n").trimEnd() });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      const level = heading[1]!.length as 1 | 2 | 3 | 4 | 5 | 6;
      blocks.push({ kind: "heading", level, children: parseInline(heading[2] ?? "") });
      i++;
      continue;
    }
    if (RULE.test(line)) {
      blocks.push({ kind: "rule" });
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      const body: string[] = [];
      while (i < lines.length && QUOTE.test(lines[i]!)) body.push(lines[i++]!.replace(QUOTE, ""));
      blocks.push({ kind: "quote", children: parseBlocks(body) });
      continue;
    }
    const item = LIST_ITEM.exec(line);
    if (item) {
      const ordered = item[3] !== undefined;
      const items: string[][] = [];
      // Lines indented two more than the list's own go on its items (a nested list among them).
      const deeper = (text: string) => /^\s*/.exec(text)![0].length >= item[1]!.length + 2;
      while (i < lines.length) {
        const current = LIST_ITEM.exec(lines[i]!);
        if (current && !deeper(lines[i]!) && (current[3] !== undefined) === ordered) {
          items.push([lines[i]!.slice(current[0].length)]);
          i++;
        } else if (BLANK.test(lines[i]!)) {
          // A blank line ends the list unless what follows belongs to it.
          const next = lines[i + 1];
          if (next === undefined || BLANK.test(next) || !(deeper(next) || LIST_ITEM.test(next))) break;
          items.at(-1)!.push("");
          i++;
        } else if (deeper(lines[i]!) || !startsBlock(lines, i)) {
          // Indented: the item goes on (a nested list too); otherwise a paragraph's next line.
          items.at(-1)!.push(lines[i]!.replace(/^\s{1,4}/, ""));
          i++;
        } else {
          break;
        }
      }
      blocks.push({
        kind: "list",
        ordered,
        start: ordered ? Number(item[3]) : 1,
        items: items.map((body) => parseBlocks(body)),
      });
      continue;
    }
    if (isTableStart(lines, i)) {
      const header = cells(line).map(parseInline);
      const rows: Inline[][][] = [];
      i += 2;
      while (i < lines.length && !BLANK.test(lines[i]!) && lines[i]!.includes("|")) {
        rows.push(cells(lines[i++]!).map(parseInline));
      }
      blocks.push({ kind: "table", header, rows });
      continue;
    }
    const paragraph: string[] = [line.trim()];
    i++;
    while (i < lines.length && !BLANK.test(lines[i]!) && !startsBlock(lines, i))
      paragraph.push(lines[i++]!.trim());
    blocks.push({ kind: "paragraph", children: parseInline(paragraph.join(" ")) });
  }
  return blocks;
}

/** Markdown text as blocks; nothing in it is HTML. */
export const parseMarkdown = (source: string): Block[] =>
  parseBlocks(source.replace(/\r\n?/g, "\n").split("\n"));
