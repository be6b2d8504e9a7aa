import { ValidationError } from '@aviary/core';
import { describe, expect, it } from 'vitest';
import {
  escapePromqlString,
  parseMetricTemplateSpec,
  renderQuery,
  type TemplateModel,
} from './templates.ts';

const model: TemplateModel = { namespace: 'shop', target: 'cart', interval: '1m' };
const INJECTION = 'foo"} or vector(1) #';

function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('renderQuery', () => {
  it('substitutes Flagger actions, with or without spaces', () => {
    const query =
      'sum(rate(x{namespace="{{namespace}}",app="{{ target }}",n="{{  name }}"}[{{ interval }}]))';
    expect(renderQuery(query, model)).toBe(
      'sum(rate(x{namespace="shop",app="cart",n="cart"}[1m]))',
    );
  });

  it('defaults service, ingress, route and name to the target', () => {
    const query = 'x{a="{{ service }}",b="{{ ingress }}",c="{{ route }}",d="{{ name }}"}';
    expect(renderQuery(query, { ...model, ingress: 'web' })).toBe(
      'x{a="cart",b="web",c="cart",d="cart"}',
    );
  });

  it('escapes variables for PromQL string literals', () => {
    const query = 'x{path="{{ variables.path }}",q=\'{{ variables.path }}\'}';
    const rendered = renderQuery(query, { ...model, variables: { path: 'a"b\\c\nd\'e' } });
    expect(rendered).toBe('x{path="a\\"b\\\\c\\nd\\\'e",q=\'a\\"b\\\\c\\nd\\\'e\'}');
  });

  it('neutralises an injection through a variable inside a string literal', () => {
    const rendered = renderQuery('sum(x{app="{{ variables.app }}"})', {
      ...model,
      variables: { app: INJECTION },
    });
    expect(rendered).toBe('sum(x{app="foo\\"} or vector(1) #"})');
  });

  it('rejects a workload name that tries to inject query syntax', () => {
    const error = validationError(() =>
      renderQuery('sum(x{app="{{ target }}"})', { ...model, target: INJECTION }),
    );
    expect(error.issues.map((i) => i.path)).toEqual(['target']);
    expect(() => renderQuery('x', { ...model, namespace: 'Shop' })).toThrow(ValidationError);
    expect(() => renderQuery('x', { ...model, namespace: 'a.b' })).toThrow(/namespace/);
  });

  it('rejects values outside string literals unless they are durations, numbers or identifiers', () => {
    expect(() =>
      renderQuery('rate(x[{{ interval }}])', { ...model, interval: '1m]) or vector(1' }),
    ).toThrow(/interval/);
    const query =
      'sum by ({{ variables.label }}) (rate(x[{{ variables.window }}])) > {{ variables.n }}';
    expect(
      renderQuery(query, { ...model, variables: { label: 'pod', window: '1m30s', n: '0.5' } }),
    ).toBe('sum by (pod) (rate(x[1m30s])) > 0.5');
    const error = validationError(() =>
      renderQuery(query, {
        ...model,
        variables: { label: 'pod) or vector(1', window: '1m', n: '1' },
      }),
    );
    expect(error.message).toMatch(/outside a string literal/);
    expect(() => renderQuery('x - {{ target }}', model)).not.toThrow();
    expect(() => renderQuery('x - {{ target }}', { ...model, target: 'my-app' })).toThrow(
      /outside a string literal/,
    );
  });

  it('accepts PromQL durations as the interval and nothing else', () => {
    for (const interval of ['30s', '1m', '1m30s', '500ms', '2h']) {
      expect(renderQuery('[{{ interval }}]', { ...model, interval })).toBe(`[${interval}]`);
    }
    for (const interval of ['', '1', '1.5m', '1 m', '$__rate_interval', '1m"']) {
      expect(() => renderQuery('[{{ interval }}]', { ...model, interval })).toThrow(
        ValidationError,
      );
    }
  });

  it('treats unknown actions and missing variables as errors, never as empty strings', () => {
    expect(() => renderQuery('x{a="{{ foo }}"}', model)).toThrow(/unknown template action/);
    expect(() => renderQuery('x{a="{{ .Name }}"}', model)).toThrow(/unknown template action/);
    expect(() => renderQuery('x{a="{{ if true }}"}', model)).toThrow(/unknown template action/);
    expect(() => renderQuery('x{a="{{ variables.missing }}"}', model)).toThrow(/is not set/);
    expect(() => renderQuery('x{a="{{ target "}', model)).toThrow(/unclosed/);
  });

  it('escapes dots of Kubernetes names inside regex matchers only', () => {
    const m = { ...model, target: 'cart.v2' };
    expect(renderQuery('x{a=~"{{ target }}",b="{{ target }}",c!~ "{{ target }}-.*"}', m)).toBe(
      'x{a=~"cart\\\\.v2",b="cart.v2",c!~ "cart\\\\.v2-.*"}',
    );
    // Variables inside regex matchers stay patterns (Flagger users pass e.g. `5.*`).
    expect(
      renderQuery('x{code=~"{{ variables.codes }}"}', { ...model, variables: { codes: '5.*' } }),
    ).toBe('x{code=~"5.*"}');
  });

  it('knows escaped quotes inside literals and raw strings', () => {
    expect(renderQuery('x{a="\\"{{ target }}"}', model)).toBe('x{a="\\"cart"}');
    expect(renderQuery('x{a=`{{ variables.v }}`}', { ...model, variables: { v: 'a"b' } })).toBe(
      'x{a=`a"b`}',
    );
    expect(() =>
      renderQuery('x{a=`{{ variables.v }}`}', { ...model, variables: { v: 'a`b' } }),
    ).toThrow(/backtick/);
  });
});

describe('escapePromqlString', () => {
  it('escapes control characters', () => {
    expect(escapePromqlString('a\tb\rc\u0000')).toBe('a\\tb\\rc\\x00');
  });
});

describe('parseMetricTemplateSpec', () => {
  it('accepts a Flagger Prometheus template', () => {
    const spec = parseMetricTemplateSpec({
      provider: { type: 'prometheus', address: 'http://prometheus.istio-system:9090' },
      query: 'sum(rate(x{ns="{{ namespace }}"}[{{ interval }}]))',
    });
    expect(spec.provider.type).toBe('prometheus');
  });

  it('rejects other providers and unknown actions with their paths', () => {
    expect(() =>
      parseMetricTemplateSpec({ provider: { type: 'datadog' }, query: 'avg:x{*}' }),
    ).toThrow(/provider\.type/);
    const error = validationError(() =>
      parseMetricTemplateSpec({ provider: { type: 'prometheus' }, query: 'x{a="{{ nope }}"}' }),
    );
    expect(error.issues[0]?.path).toBe('query@5');
  });
});
