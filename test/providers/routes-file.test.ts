import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { parseProvidersFile, ProvidersFileError } from '../../src/providers/routes-file.js';

const chatModels = new Set(['gpt-5.2', 'claude-opus-4.5']);
const parse = (file: unknown, env: NodeJS.ProcessEnv = {}) => parseProvidersFile('/etc/cheapa/providers.json', JSON.stringify(file), env, chatModels);
const valid = {
  providers: [
    { name: 'openai', api: 'openai', base_url: 'https://api.openai.com/v1/', api_key_env: 'OPENAI_API_KEY', responses: true },
    { name: 'anthropic', api: 'anthropic', base_url: 'https://api.anthropic.com', api_key: 'sk-ant-inline' },
  ],
  models: {
    'gpt-5.2': [{ provider: 'openai', model: 'gpt-5.2' }],
    'claude-opus-4.5': [{ provider: 'anthropic', model: 'claude-opus-4-5' }],
  },
};

describe('PROVIDERS_FILE', () => {
  it('reads providers (keys from the environment or inline) and routes in order', () => {
    const file = parse(valid, { OPENAI_API_KEY: 'sk-env' });
    expect(file.providers).toEqual([
      { name: 'openai', api: 'openai', baseUrl: 'https://api.openai.com/v1', apiKey: 'sk-env', timeoutMs: undefined, responses: true },
      { name: 'anthropic', api: 'anthropic', baseUrl: 'https://api.anthropic.com', apiKey: 'sk-ant-inline', timeoutMs: undefined },
    ]);
    expect(file.models['claude-opus-4.5']).toEqual([{ provider: 'anthropic', model: 'claude-opus-4-5' }]);
  });

  it.each([
    ['an unset api_key_env', valid, {}, 'providers[0].api_key_env: the environment variable OPENAI_API_KEY is not set'],
    ['an unknown api', { ...valid, providers: [{ ...valid.providers[1], api: 'cohere' }] }, {}, 'providers[0].api'],
    ['a route to an unknown provider', { ...valid, models: { 'gpt-5.2': [{ provider: 'azure', model: 'x' }] } }, { OPENAI_API_KEY: 'k' }, 'models."gpt-5.2"[0].provider: no provider is named "azure"'],
    ['a model not in the catalog', { ...valid, models: { 'gpt-9': [{ provider: 'openai', model: 'x' }] } }, { OPENAI_API_KEY: 'k' }, 'models."gpt-9": is not a chat model'],
    ['an empty route list', { ...valid, models: { 'gpt-5.2': [] } }, { OPENAI_API_KEY: 'k' }, 'models."gpt-5.2": must list at least one route'],
    ['a duplicate provider name', { ...valid, providers: [valid.providers[1], valid.providers[1]] }, {}, 'providers[1].name'],
    ['a base_url that is not a URL', { ...valid, providers: [{ ...valid.providers[1], base_url: 'api.anthropic.com' }] }, {}, 'providers[0].base_url: must be an http(s) URL'],
  ])('refuses %s, naming the file and the entry', (_what, file, env, expected) => {
    const error = (() => {
      try {
        parse(file, env);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ProvidersFileError);
    expect((error as Error).message).toContain(`/etc/cheapa/providers.json: ${expected}`);
  });

  it('stops start-up on a file that cannot be read, naming it', () => {
    expect(() => loadConfig({ PROVIDERS_FILE: '/nonexistent/providers.json' })).toThrow(/PROVIDERS_FILE: \/nonexistent\/providers.json: \(file\): cannot be read \(ENOENT\)/);
  });

  it('refuses text that is not JSON', () => {
    expect(() => parseProvidersFile('p.json', '{', {}, chatModels)).toThrow(/p.json: \(file\): is not valid JSON/);
  });

  it('reads a .yaml file as the same routes, and names the file, entry and problem in YAML too', () => {
    const yaml = [
      'providers:',
      '  - { name: openai, api: openai, base_url: "https://api.openai.com/v1", api_key_env: OPENAI_API_KEY, responses: true }',
      '  - name: anthropic',
      '    api: anthropic',
      '    base_url: https://api.anthropic.com',
      '    api_key: sk-ant-inline',
      'models:',
      '  gpt-5.2: [ { provider: openai, model: gpt-5.2 } ]',
      '  claude-opus-4.5:',
      '    - provider: anthropic',
      '      model: claude-opus-4-5',
    ].join('\n');
    const fromYaml = parseProvidersFile('/etc/cheapa/providers.yaml', yaml, { OPENAI_API_KEY: 'sk-env' }, chatModels);
    const fromJson = parse(valid, { OPENAI_API_KEY: 'sk-env' });
    expect({ ...fromYaml, file: '' }).toEqual({ ...fromJson, file: '' });

    const wrong = yaml.replace('provider: anthropic', 'provider: azure');
    expect(() => parseProvidersFile('/etc/cheapa/providers.yml', wrong, { OPENAI_API_KEY: 'k' }, chatModels)).toThrow(
      '/etc/cheapa/providers.yml: models."claude-opus-4.5"[0].provider: no provider is named "azure"',
    );
    expect(() => parseProvidersFile('p.yaml', 'providers: [', {}, chatModels)).toThrow(/p.yaml: \(file\): is not valid YAML/);
    // A file whose name does not say YAML is read as JSON.
    expect(() => parseProvidersFile('p.json', yaml, {}, chatModels)).toThrow(/p.json: \(file\): is not valid JSON/);
  });
});
