import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes } from '@walcast/protocol';
import { INGESTER_ERROR_CODES } from './errors';

/** The codes in the first column of the tables under a `## heading` of docs/errors.md. */
function documentedCodes(heading: string): string[] {
  const doc = readFileSync(join(__dirname, '../../../docs/errors.md'), 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith(heading)) ?? '';
  return [...section.matchAll(/^\| `(\w+)` +\|/gm)].map((m) => m[1]!);
}

describe('docs/errors.md', () => {
  it('lists exactly the gateway catalogue, with its close codes', () => {
    expect(documentedCodes('Client-facing')).toEqual(Object.keys(ErrorCodes));
    const doc = readFileSync(join(__dirname, '../../../docs/errors.md'), 'utf8');
    for (const [code, { close }] of Object.entries(ErrorCodes)) {
      expect(doc).toMatch(new RegExp(`^\\| \`${code}\` +\\| ${close ?? '—'} +\\|`, 'm'));
    }
  });

  it('lists exactly the ingester codes', () => {
    expect(documentedCodes('Ingester')).toEqual([...INGESTER_ERROR_CODES]);
  });
});
