/**
 * Removes credentials from connection strings before they reach a log line or an error message:
 * `postgres://aviary:hunter2@db:5432/aviary` becomes `postgres://aviary:***@db:5432/aviary`.
 * Query parameters that carry secrets (`password`, `token`, `apiKey`, …) are masked too.
 */

const MASK = '***';
const SECRET_QUERY_PARAM = /^(pass(word)?|sslpassword|token|secret|api[-_]?key|app[-_]?key|auth)$/i;

/**
 * `scheme://user:password@` anywhere in a text, as long as the password holds no whitespace,
 * quote, slash or `@` (a URL's userinfo percent-encodes those).
 */
const USERINFO_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:"']*:)[^\s/?#@"']+@/gi;

/** Masks the password (and secret query parameters) of one URL; a non-URL is scrubbed as text. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redactUrlsInText(url);
  }
  let changed = false;
  if (parsed.password !== '') {
    parsed.password = MASK;
    changed = true;
  }
  for (const key of [...parsed.searchParams.keys()]) {
    if (SECRET_QUERY_PARAM.test(key)) {
      parsed.searchParams.set(key, MASK);
      changed = true;
    }
  }
  // Leave an untouched URL byte for byte as given (URL would normalise it, e.g. add a slash).
  return changed ? parsed.toString().replaceAll('%2A%2A%2A', MASK) : url;
}

/** Masks the password of every `scheme://user:password@host` found in a free text. */
export function redactUrlsInText(text: string): string {
  return text.replace(USERINFO_PASSWORD, `$1${MASK}@`);
}
