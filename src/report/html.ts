/**
 * The Markdown our reports write, as one self-contained HTML page: headings, paragraphs, lists,
 * pipe tables, inline code/bold, and images (`![title](file.png)` next to the Markdown) embedded
 * as data URLs so the page can be mailed or archived alone. Only the subset the report writers
 * emit is handled — a general Markdown library would be more than these pages need.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function inline(text: string, dir: string): string {
  let s = esc(text);
  s = s.replace(/!\[([^\]]*)\]\(([^)]+)\)/g, (_m, alt: string, file: string) => {
    const path = join(dir, file.replace(/&amp;/g, '&'));
    if (!existsSync(path)) return `<em>[missing figure ${alt}]</em>`;
    const type = file.endsWith('.svg') ? 'image/svg+xml' : 'image/png';
    return `<img alt="${alt}" title="${alt}" src="data:${type};base64,${readFileSync(path).toString('base64')}">`;
  });
  s = s.replace(/\[([^\]]+)\]\(([^)]+)\)/g, '<a href="$2">$1</a>');
  s = s.replace(/`([^`]+)`/g, '<code>$1</code>');
  s = s.replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
  return s;
}

export function markdownToHtml(md: string, title: string, dir: string): string {
  const out: string[] = [];
  const lines = md.split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const h = /^(#{1,4})\s+(.*)$/.exec(line);
    if (h) {
      out.push(`<h${h[1].length}>${inline(h[2], dir)}</h${h[1].length}>`);
      i++;
    } else if (line.startsWith('|')) {
      const rows: string[][] = [];
      while (i < lines.length && lines[i].startsWith('|')) {
        const cells = lines[i].slice(1, lines[i].trimEnd().endsWith('|') ? -1 : undefined).split('|').map((c) => c.trim());
        if (!cells.every((c) => /^:?-+:?$/.test(c))) rows.push(cells);
        i++;
      }
      out.push('<table>', ...rows.map((r, k) => `<tr>${r.map((c) => (k === 0 ? `<th>${inline(c, dir)}</th>` : `<td>${inline(c, dir)}</td>`)).join('')}</tr>`), '</table>');
    } else if (line.startsWith('> ')) {
      const quote: string[] = [];
      while (i < lines.length && lines[i].startsWith('> ')) quote.push(lines[i++].slice(2));
      out.push(`<blockquote>${inline(quote.join(' '), dir)}</blockquote>`);
    } else if (/^\s*- /.test(line)) {
      out.push('<ul>');
      while (i < lines.length && /^\s*- /.test(lines[i])) out.push(`<li>${inline(lines[i].replace(/^\s*- /, ''), dir)}</li>`), i++;
      out.push('</ul>');
    } else if (line.trim() === '') {
      i++;
    } else {
      const para: string[] = [];
      while (i < lines.length && lines[i].trim() !== '' && !lines[i].startsWith('|') && !lines[i].startsWith('> ') && !/^#{1,4}\s/.test(lines[i]) && !/^\s*- /.test(lines[i])) para.push(lines[i++]);
      out.push(`<p>${inline(para.join(' '), dir)}</p>`);
    }
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body { font-family: system-ui, 'DejaVu Sans', sans-serif; max-width: 1100px; margin: 24px auto; padding: 0 16px; color: #222; }
table { border-collapse: collapse; margin: 10px 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f0f0f0; }
img { max-width: 100%; margin: 6px 0; border: 1px solid #eee; }
code { background: #f4f4f4; padding: 0 3px; }
blockquote { border-left: 4px solid #3b6fb6; margin: 8px 0; padding: 4px 12px; background: #f3f6fb; font-size: 16px; }
img { vertical-align: top; }
</style></head><body>
${out.join('\n')}
</body></html>
`;
}
