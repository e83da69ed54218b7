import { useMemo, type ReactNode } from "react";
import { parseMarkdown, type Block, type Inline } from "./parse-markdown.js";

// Every string below becomes a text node, which React escapes: no HTML of the artifact is ever parsed.

function inlines(nodes: Inline[]): ReactNode[] {
  return nodes.map((node, index) => {
    switch (node.kind) {
      case "text":
        return node.text;
      case "code":
        return <code key={index}>{node.text}</code>;
      case "strong":
        return <strong key={index}>{inlines(node.children)}</strong>;
      case "em":
        return <em key={index}>{inlines(node.children)}</em>;
      case "del":
        return <del key={index}>{inlines(node.children)}</del>;
      case "link":
        return node.href ? (
          <a key={index} href={node.href} target="_blank" rel="noopener noreferrer nofollow">
            {inlines(node.children)}
          </a>
        ) : (
          <span key={index}>{inlines(node.children)}</span>
        );
    }
  });
}

function blocks(nodes: Block[]): ReactNode[] {
  return nodes.map((node, index) => {
    switch (node.kind) {
      case "heading": {
        // h1 and h2 of a report sit under the page's own headings.
        const Heading = `h${Math.min(node.level + 2, 6)}` as "h3" | "h4" | "h5" | "h6";
        return <Heading key={index}>{inlines(node.children)}</Heading>;
      }
      case "paragraph":
        return <p key={index}>{inlines(node.children)}</p>;
      case "code":
        return (
          <pre key={index}>
            <code>{node.text}</code>
          </pre>
        );
      case "quote":
        return <blockquote key={index}>{blocks(node.children)}</blockquote>;
      case "list": {
        const items = node.items.map((item, itemIndex) => <li key={itemIndex}>{blocks(item)}</li>);
        return node.ordered ? (
          <ol key={index} start={node.start}>
            {items}
          </ol>
        ) : (
          <ul key={index}>{items}</ul>
        );
      }
      case "table":
        return (
          <table key={index} className="table compact">
            <thead>
              <tr>
                {node.header.map((cell, cellIndex) => (
                  <th key={cellIndex}>{inlines(cell)}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {node.rows.map((row, rowIndex) => (
                <tr key={rowIndex}>
                  {row.map((cell, cellIndex) => (
                    <td key={cellIndex}>{inlines(cell)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        );
      case "rule":
        return <hr key={index} />;
    }
  });
}

/** Markdown rendered as React elements, without any HTML it holds (see parse-markdown.ts). */
export function Markdown({ source }: { source: string }) {
  const tree = useMemo(() => parseMarkdown(source), [source]);
  return <div className="markdown">{blocks(tree)}</div>;
}
