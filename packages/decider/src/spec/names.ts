/** Kubernetes name rules, as checks returning an error message or `undefined`. */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Lower-case alphanumerics and `-`, starting and ending alphanumeric, at most `max` (63). */
export function dnsLabel(max = 63): (value: string) => string | undefined {
  return (value) => {
    if (!DNS1123_LABEL.test(value)) {
      return `must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit (got ${JSON.stringify(value)})`;
    }
    if (value.length > max) return `must be at most ${max} characters (got ${value.length})`;
    return undefined;
  };
}

export function dnsSubdomain(value: string): string | undefined {
  if (!DNS1123_SUBDOMAIN.test(value)) {
    return `must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.' (got ${JSON.stringify(value)})`;
  }
  if (value.length > 253) return `must be at most 253 characters (got ${value.length})`;
  return undefined;
}

/**
 * A workload or service name Aviary derives others from: `<name>-primary` must still be a valid
 * label value and service name (63 characters), so the name itself has at most 55.
 */
export const workloadName = (value: string): string | undefined => {
  const problem = dnsLabel(63)(value);
  if (problem !== undefined) return problem;
  return value.length > 55
    ? `must be at most 55 characters, so that "<name>-primary" fits in 63 (got ${value.length})`
    : undefined;
};

/** A Kubernetes label key: optional DNS subdomain prefix and `/`, then a name of at most 63. */
export function labelKey(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && dnsSubdomain(prefix) !== undefined) {
    return `label key prefix must be a DNS-1123 subdomain (got ${JSON.stringify(prefix)})`;
  }
  if (name === '' || name.length > 63 || !LABEL_NAME.test(name)) {
    return `must be a label key: at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric (got ${JSON.stringify(key)})`;
  }
  return undefined;
}

export function labelValue(value: string): string | undefined {
  if (value.length > 63 || !LABEL_NAME.test(value)) {
    return `must be a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric (got ${JSON.stringify(value)})`;
  }
  return undefined;
}
