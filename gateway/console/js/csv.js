// Reading upload files in the browser, by exactly the rules of the CLI uploader
// (tools/src/upload/source.rs):
//
// JSON lines: one JSON object per line; blank lines are skipped (and still counted); a
// byte-order mark on line 1 is dropped; each item is sent as the line's own text.
//
// CSV: a header row with the JSON field names, nested fields flattened with dots
// (`payment_habits.on_time`, `negatives.pefin.count`, `attributes.segment`); an empty cell is an
// absent field; a cell that is a JSON number becomes a number, `true`/`false` (any case) a
// boolean, and anything else a string — except ids, documents, dates, states, outcomes and
// money, which always stay the exact text of the cell. Comma or semicolon separated (semicolon
// when the header has more semicolons than commas), UTF-8 with or without a byte-order mark.
// RFC 4180 quoting; a record's line is the line it starts on (the header is line 1); a row of
// only blank cells is skipped; a row with a different number of cells than the header is an
// error. At most 10 unreadable lines are listed before reading stops.
//
// Every item is kept as JSON text with the 1-based file line it starts on, so that an error the
// gateway reports for `items[3]` of batch 17 maps back to the file's line.

export const BATCH_SIZE = 500;
const MAX_LOCAL_ERRORS = 10;

const TEXT_FIELDS = new Set([
  'id', 'customer_id', 'document', 'state', 'founded_on', 'valid_from', 'queried_at',
  'issued_at', 'outcome', 'limit', 'amount',
]);

// serde_json's number grammar: no leading zeros, no leading '+', no bare '.5' or '5.'.
const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

export class LocalErrors extends Error {
  constructor(errors) {
    super(errors.map((e) => `${e.line}: ${e.reason}`).join('; '));
    this.errors = errors; // [{ line, reason }]
  }
}

/** { items: [jsonText], lines: [number] } from a file's text; throws LocalErrors. */
export function readItems(fileName, text) {
  return looksLikeCsv(fileName, text) ? readCsv(text) : readJsonl(text);
}

function looksLikeCsv(fileName, text) {
  const name = fileName.toLowerCase();
  if (name.endsWith('.csv') || name.endsWith('.txt')) return true;
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson') || name.endsWith('.json')) return false;
  return !text.replace(/^\uFEFF/, '').trimStart().startsWith('{');
}

export function readJsonl(text) {
  const items = [];
  const lines = [];
  const errors = [];
  const rows = text.split('\n');
  if (rows.length && rows[rows.length - 1] === '') rows.pop();
  for (let i = 0; i < rows.length; i += 1) {
    const line = i + 1;
    let row = rows[i];
    if (i === 0) row = row.replace(/^\uFEFF/, '');
    row = row.trim();
    if (!row) continue;
    if (!row.startsWith('{')) errors.push({ line, reason: 'not a JSON object' });
    else {
      try {
        JSON.parse(row);
        items.push(row);
        lines.push(line);
      } catch (e) {
        errors.push({ line, reason: `not valid JSON: ${e.message}` });
      }
    }
    if (errors.length >= MAX_LOCAL_ERRORS) break;
  }
  if (errors.length) throw new LocalErrors(errors);
  return { items, lines };
}

/** Comma unless the header line has more semicolons than commas. */
function delimiter(text) {
  const end = text.indexOf('\n');
  const header = end < 0 ? text : text.slice(0, end);
  const count = (c) => header.split(c).length - 1;
  return count(';') > count(',') ? ';' : ',';
}

/**
 * RFC 4180 records, as the Rust `csv` crate reads them by default: quotes only around a whole
 * field (a quote inside an unquoted field is literal), `""` for a quote inside one, `\n`,
 * `\r\n` or `\r` ending a record, empty lines skipped. Yields { cells, line }.
 */
export function* csvRecords(text, delim) {
  let i = 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    // An empty line is no record.
    if (text[i] === '\n') { i += 1; line += 1; continue; }
    if (text[i] === '\r') { i += text[i + 1] === '\n' ? 2 : 1; line += 1; continue; }
    const start = line;
    const cells = [];
    let cell = '';
    let quoted = false;
    let atStart = true;
    for (;;) {
      if (i >= n) { cells.push(cell); break; }
      const c = text[i];
      if (quoted) {
        if (c === '"') {
          if (text[i + 1] === '"') { cell += '"'; i += 2; continue; }
          quoted = false; i += 1; continue;
        }
        if (c === '\n') line += 1;
        else if (c === '\r' && text[i + 1] !== '\n') line += 1;
        cell += c; i += 1; continue;
      }
      if (c === '"' && atStart) { quoted = true; atStart = false; i += 1; continue; }
      if (c === delim) { cells.push(cell); cell = ''; atStart = true; i += 1; continue; }
      if (c === '\n' || c === '\r') {
        cells.push(cell);
        i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
        line += 1;
        break;
      }
      cell += c; atStart = false; i += 1;
    }
    yield { cells, line: start };
  }
}

/** The dotted header names as paths, refusing empty names, duplicates and a field that is also a group. */
export function headerPaths(headers) {
  const paths = headers.map((h) => h.trim().split('.'));
  for (let i = 0; i < paths.length; i += 1) {
    const path = paths[i];
    const name = path.join('.');
    if (path.some((p) => p === '')) throw new LocalErrors([{ line: 1, reason: `column ${i + 1} has an invalid name ${JSON.stringify(name)}` }]);
    for (const other of paths.slice(0, i)) {
      if (other.length === path.length && other.every((p, k) => p === path[k])) {
        throw new LocalErrors([{ line: 1, reason: `column ${JSON.stringify(name)} appears twice` }]);
      }
      const [short, long] = other.length < path.length ? [other, path] : [path, other];
      if (short.every((p, k) => p === long[k])) {
        throw new LocalErrors([{ line: 1, reason: `columns ${JSON.stringify(short.join('.'))} and ${JSON.stringify(long.join('.'))} conflict: one is a group of the other` }]);
      }
    }
  }
  return paths;
}

function isText(path) {
  return (path.length === 1 && TEXT_FIELDS.has(path[0]))
    || (path.length === 3 && path[0] === 'negatives' && path[2] === 'total');
}

/** A number kept as its exact text, so that serialising does not go through a float. */
class RawNumber {
  constructor(text) { this.text = text; }
}

function cellValue(text, text_only) {
  if (!text_only) {
    if (JSON_NUMBER.test(text)) return new RawNumber(text);
    const lower = text.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
  }
  return text;
}

function insert(object, path, value) {
  let target = object;
  for (const key of path.slice(0, -1)) {
    if (!(target[key] instanceof Object) || target[key] instanceof RawNumber) target[key] = {};
    target = target[key];
  }
  target[path[path.length - 1]] = value;
}

function toJson(value) {
  if (value instanceof RawNumber) return value.text;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function readCsv(input) {
  const text = input.replace(/^\uFEFF/, '');
  const delim = delimiter(text);
  const records = csvRecords(text, delim);
  const first = records.next();
  if (first.done) throw new LocalErrors([{ line: 1, reason: 'no header row' }]);
  const paths = headerPaths(first.value.cells);
  const textOnly = paths.map(isText);
  const items = [];
  const lines = [];
  const errors = [];
  for (const { cells, line } of records) {
    if (cells.length !== paths.length) {
      errors.push({ line, reason: `${cells.length} cells where the header has ${paths.length}` });
      if (errors.length >= MAX_LOCAL_ERRORS) break;
      continue;
    }
    if (cells.every((c) => c.trim() === '')) continue;
    const object = {};
    cells.forEach((raw, k) => {
      const cell = raw.trim();
      if (cell !== '') insert(object, paths[k], cellValue(cell, textOnly[k]));
    });
    items.push(toJson(object));
    lines.push(line);
  }
  if (errors.length) throw new LocalErrors(errors);
  return { items, lines };
}

/** Maps a gateway error field `items[3].amount` of batch `batch` to { line, field }. */
export function locate(source, batch, fieldPath) {
  const match = /^items\[(\d+)\](?:\.(.*))?$/.exec(fieldPath || '');
  if (!match) return { line: null, field: fieldPath || '' };
  const index = Number(match[1]);
  const line = index < BATCH_SIZE ? source.lines[batch * BATCH_SIZE + index] : undefined;
  return { line: line ?? null, field: match[2] || '' };
}
