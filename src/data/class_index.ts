/**
 * Class-index files: which data-set class id (e.g. an ImageNet WordNet id) is class number i.
 * Accepted forms:
 *   - JSON object {"0": ["n01440764", "tench"], …} (the widespread imagenet_class_index.json)
 *   - JSON array ["n01440764", …] or [["n01440764", "tench"], …]
 *   - text, one class per line: "<id>[ <name…>]" (also "<id>,<name>" or tab-separated)
 */
import { readFileSync } from 'node:fs';
import { InputError } from '../util/errors.js';

export interface ClassIndex {
  ids: string[];
  names: string[];
}

function fromPairs(pairs: unknown[], file: string): ClassIndex {
  const ids: string[] = [];
  const names: string[] = [];
  pairs.forEach((entry, i) => {
    if (typeof entry === 'string') {
      ids.push(entry);
      names.push(entry);
    } else if (Array.isArray(entry) && typeof entry[0] === 'string') {
      ids.push(entry[0]);
      names.push(typeof entry[1] === 'string' ? entry[1] : entry[0]);
    } else {
      throw new InputError(`class index ${file}: entry ${i} is neither "id" nor ["id", "name"]`);
    }
  });
  return { ids, names };
}

export function parseClassIndex(text: string, file = 'class index'): ClassIndex {
  const trimmed = text.trim();
  let index: ClassIndex;
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (e) {
      throw new InputError(`class index ${file} is not valid JSON: ${(e as Error).message}`);
    }
    if (Array.isArray(json)) index = fromPairs(json, file);
    else {
      const obj = json as Record<string, unknown>;
      const keys = Object.keys(obj);
      const n = keys.length;
      const ordered = Array.from({ length: n }, (_, i) => {
        if (!(String(i) in obj)) throw new InputError(`class index ${file}: keys must be 0…${n - 1}, "${i}" is missing`);
        return obj[String(i)];
      });
      index = fromPairs(ordered, file);
    }
  } else {
    const lines = trimmed.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    index = fromPairs(
      lines.map((l) => {
        const m = /^([^\s,\t]+)[\s,\t]*(.*)$/.exec(l) as RegExpExecArray;
        return [m[1], m[2] || m[1]];
      }),
      file,
    );
  }
  if (index.ids.length === 0) throw new InputError(`class index ${file} lists no classes`);
  const seen = new Set<string>();
  for (const id of index.ids) {
    if (seen.has(id)) throw new InputError(`class index ${file} lists class "${id}" twice`);
    seen.add(id);
  }
  return index;
}

export function readClassIndex(file: string): ClassIndex {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read class index ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseClassIndex(text, file);
}
