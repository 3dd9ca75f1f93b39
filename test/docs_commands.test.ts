/**
 * Every `trustgc …` command written in the README and in docs/ is one the CLI has, with options the
 * command takes — so the documentation cannot drift from the program. Also: the README stays a
 * front door (at most 150 lines) and every docs file it links to exists.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildCli } from '../src/cli/main.js';
import { projectRoot } from '../src/util/paths.js';

const root = projectRoot();
const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];

/** Command lines in a Markdown text: code-block lines and inline code spans that mention trustgc. */
function commandLines(text: string): string[] {
  const out: string[] = [];
  let inBlock = false;
  for (const line of text.split('\n')) {
    if (line.trimStart().startsWith('```')) {
      inBlock = !inBlock;
      continue;
    }
    if (inBlock) out.push(line);
    else for (const m of line.matchAll(/`([^`]*)`/g)) out.push(m[1]);
  }
  // a line may hold several commands (`a && b`); each starts at "trustgc "
  return out.flatMap((l) => [...l.matchAll(/(?:^|[\s(])trustgc\s+([^|&;#`]*)/g)].map((m) => m[1].trim()));
}

/** The words of a command, quotes and the ellipsis of a placeholder removed. */
function words(line: string): string[] {
  return (line.match(/"[^"]*"|'[^']*'|\S+/g) ?? []).map((w) => w.replace(/^["']|["']$/g, ''));
}

function optionNames(cmd: Command): Set<string> {
  const names = new Set<string>(['--help', '-h']);
  for (const o of cmd.options) {
    if (o.long) names.add(o.long);
    if (o.short) names.add(o.short);
  }
  return names;
}

describe('documentation', () => {
  const program = buildCli({ throwOnError: true });
  const globals = optionNames(program);

  it('names only commands and options the CLI has', () => {
    const problems: string[] = [];
    let checked = 0;
    for (const file of files) {
      for (const line of commandLines(readFileSync(join(root, file), 'utf8'))) {
        const w = words(line);
        // global options come before the command name
        while (w.length && w[0].startsWith('--') && globals.has(w[0])) w.splice(0, w[1] && !w[1].startsWith('-') ? 2 : 1);
        if (w.length === 0 || !/^[a-z]/.test(w[0])) continue; // "trustgc" in prose, e.g. `trustgc --help`
        let cmd = program.commands.find((c) => c.name() === w[0]);
        if (!cmd) {
          problems.push(`${file}: unknown command "trustgc ${w[0]}" in \`${line}\``);
          continue;
        }
        let at = 1;
        if (cmd.commands.length) {
          const sub = cmd.commands.find((c) => c.name() === w[1]);
          if (!sub) {
            if (w[1] !== undefined && !/^[-<…]/.test(w[1])) problems.push(`${file}: unknown command "trustgc ${w[0]} ${w[1]}" in \`${line}\``);
            continue;
          }
          cmd = sub;
          at = 2;
        }
        const known = new Set([...optionNames(cmd), ...globals]);
        for (const token of w.slice(at)) {
          if (!/^--?[a-z]/.test(token)) continue;
          const flag = token.split('=')[0];
          if (!known.has(flag)) problems.push(`${file}: "trustgc ${cmd.parent?.parent ? `${cmd.parent.name()} ` : ''}${cmd.name()}" has no option ${flag} (in \`${line}\`)`);
        }
        checked++;
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(50); // the scan found the documented commands
  });

  it('the README is a front door: at most 150 lines, linking to docs files that exist', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme.split('\n').length).toBeLessThanOrEqual(150);
    const links = [...readme.matchAll(/\]\((docs\/[^)#]+)(?:#[^)]*)?\)/g)].map((m) => m[1]);
    expect(links.length).toBeGreaterThan(5);
    for (const link of links) expect(existsSync(join(root, link)), link).toBe(true);
  });
});
