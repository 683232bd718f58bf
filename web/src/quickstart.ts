import { api, errorText } from './api.js';
import { $, esc, fillRows } from './dom.js';

/**
 * The quickstart: SDK snippets with this service's address (the OpenAI SDKs take PUBLIC_URL/v1;
 * Anthropic's take the root and call /v1/messages) and the price list from GET /v1/models.
 */

const KEY = 'YOUR_API_KEY';

function snippets(root: string) {
  $('qs-openai-py').textContent = `from openai import OpenAI

client = OpenAI(base_url="${root}/v1", api_key="${KEY}")
reply = client.chat.completions.create(model="gpt-5.2", messages=[{"role": "user", "content": "Hello"}])
print(reply.choices[0].message.content, reply.usage)`;
  $('qs-openai-js').textContent = `import OpenAI from 'openai';

const client = new OpenAI({ baseURL: '${root}/v1', apiKey: '${KEY}' });
const reply = await client.chat.completions.create({ model: 'gpt-5.2', messages: [{ role: 'user', content: 'Hello' }] });
console.log(reply.choices[0].message.content, reply.usage);`;
  $('qs-anthropic-py').textContent = `from anthropic import Anthropic

client = Anthropic(base_url="${root}", api_key="${KEY}")
reply = client.messages.create(model="claude-sonnet-4-5", max_tokens=200, messages=[{"role": "user", "content": "Hello"}])
print(reply.content[0].text)`;
  $('qs-curl').textContent = `curl ${root}/v1/chat/completions \\
  -H "Authorization: Bearer ${KEY}" -H "content-type: application/json" \\
  -d '{"model": "gpt-5.2", "messages": [{"role": "user", "content": "Hello"}]}'`;
}

const price = (v: string | undefined) => (v === undefined ? '' : `$${esc(v)}`);

export async function refreshQuickstart() {
  snippets(location.origin);
  try {
    const models = await api('/v1/models');
    fillRows(
      'prices',
      models.data.map((m: any) => {
        const p = m.pricing ?? {};
        return `<tr><td>${esc(m.id)}</td><td>${esc(m.modality)}</td><td class="num">${price(p.input_usd_per_million_tokens)}</td><td class="num">${price(p.output_usd_per_million_tokens)}</td><td class="num">${price(p.usd_per_generation)}</td></tr>`;
      }),
      5,
      'No models.',
    );
    $('prices-error').textContent = '';
  } catch (e) {
    $('prices-error').textContent = errorText(e);
  }
}
