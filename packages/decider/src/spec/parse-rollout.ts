import { ValidationError, type ValidationIssue } from '@aviary/core';
import { parseAllDocuments } from 'yaml';
import type { Rollout } from './types.ts';
import { validateRollout } from './validate-rollout.ts';

/** Largest spec text accepted (bytes of UTF-16 code units): specs are small; this bounds parsing. */
export const MAX_DOCUMENT_CHARS = 256 * 1024;
/** YAML aliases resolved per document: bounds "billion laughs" expansion. */
export const MAX_YAML_ALIASES = 100;

export type DocumentFormat = 'yaml' | 'json';

/**
 * Parses a Rollout from YAML (the default; JSON is valid YAML too) or strict JSON, then validates
 * it (`validateRollout`). Syntax errors are `ValidationError`s with an empty path and the line.
 */
export function parseRollout(text: string, format: DocumentFormat = 'yaml'): Rollout {
  const docs = parseDocuments(text, format, 'Rollout');
  if (docs.length !== 1) {
    throw new ValidationError('invalid Rollout', [
      { path: '', message: `must be exactly one document (got ${docs.length})` },
    ]);
  }
  return validateRollout(docs[0]);
}

/**
 * Parses one or more documents (YAML `---` separated, or one JSON value) with the size and alias
 * bounds, YAML 1.2 core schema (`yes` stays a string, no timestamps) and unique keys.
 */
export function parseDocuments(text: string, format: DocumentFormat, what: string): unknown[] {
  if (text.length > MAX_DOCUMENT_CHARS) {
    throw new ValidationError(`invalid ${what}`, [
      {
        path: '',
        message: `document is too large (${text.length} characters, at most ${MAX_DOCUMENT_CHARS})`,
      },
    ]);
  }
  if (format === 'json') {
    try {
      return [JSON.parse(text) as unknown];
    } catch (error) {
      throw new ValidationError(
        `invalid ${what}`,
        [{ path: '', message: `not valid JSON: ${(error as Error).message}` }],
        { cause: error },
      );
    }
  }
  const docs = parseAllDocuments(text, { schema: 'core', uniqueKeys: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [];
  const issues: ValidationIssue[] = [];
  const values: unknown[] = [];
  for (const doc of list) {
    for (const error of doc.errors) {
      issues.push({ path: '', message: `not valid YAML: ${error.message.split('\n')[0] ?? ''}` });
    }
    if (doc.errors.length > 0) continue;
    try {
      const value: unknown = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
      if (value !== null && value !== undefined) values.push(value);
    } catch (error) {
      issues.push({ path: '', message: `not valid YAML: ${(error as Error).message}` });
    }
  }
  if (issues.length > 0) throw new ValidationError(`invalid ${what}`, issues);
  return values;
}
