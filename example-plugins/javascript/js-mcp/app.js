// A plugin that serves agents, in JavaScript: contract 0.3's `mcp-server`
// world (its own `wit/` includes it). Its tool `js-chart` draws a tiny
// bar chart as an SVG image, reporting progress as it goes; it serves the
// chart's data as a resource, and a prompt that asks for a chart.
//
// Build it with `cargo xtask build-plugins` (or `witplug build` on this
// folder), then serve it with `witplug mcp --plugins DIR`.

import { log } from 'witplug:plugin/host@0.3.0';
import { reportProgress, resourceUpdated } from 'witplug:plugin/client@0.3.0';

let values = [3, 1, 4, 1, 5];
const DATA_URI = 'chart://data';

const CHART_SCHEMA = JSON.stringify({
  type: 'object',
  properties: { values: { type: 'array', items: { type: 'number', minimum: 0 }, maxItems: 64 } },
});

function svg(data) {
  const top = Math.max(1, ...data);
  const bars = data
    .map((v, i) => `<rect x="${i * 12}" y="${100 - (v / top) * 100}" width="10" height="${(v / top) * 100}"/>`)
    .join('');
  return new TextEncoder().encode(`<svg xmlns="http://www.w3.org/2000/svg" width="${data.length * 12}" height="100">${bars}</svg>`);
}

function chart(input) {
  const asked = JSON.parse(input);
  if (Array.isArray(asked.values)) {
    values = asked.values;
    resourceUpdated(DATA_URI);
  }
  reportProgress(0, 2, 'drawing');
  const image = svg(values);
  reportProgress(1, 2, 'described');
  log('info', `drew ${values.length} bars`);
  reportProgress(2, 2, undefined);
  return {
    content: [
      { tag: 'image', val: { data: image, mimeType: 'image/svg+xml' } },
      { tag: 'text', val: `A bar chart of ${values.length} values` },
    ],
    structured: undefined,
  };
}

export const guest = {
  info() {
    return { name: 'js-mcp', version: '0.1.0', description: 'Draws charts for agents, in JavaScript' };
  },
  init() {},
  handle(input) {
    return 'Serves agents over MCP: see its tools, resources and prompts.';
  },
  onMessage(topic, payload) {},
  describeTools() {
    const hints = { readOnly: undefined, destructive: undefined, idempotent: undefined, openWorld: undefined };
    return [{ name: 'js-chart', description: 'Draws a bar chart as an SVG image', inputSchema: CHART_SCHEMA, outputSchema: undefined, hints }];
  },
  runTool(name, input) {
    if (name !== 'js-chart') throw { tag: 'not-found', val: name };
    return chart(input).content.filter((c) => c.tag === 'text').map((c) => c.val).join('\n');
  },
  shutdown() {},
};

export const server = {
  runTool(name, input) {
    if (name !== 'js-chart') throw { tag: 'not-found', val: name };
    return chart(input);
  },
  listResources() {
    return [{ uri: DATA_URI, name: 'chart-data', title: undefined, description: 'The values charted last', mimeType: 'application/json', size: undefined }];
  },
  listResourceTemplates() {
    return [];
  },
  readResource(uri) {
    if (uri !== DATA_URI) throw { tag: 'not-found', val: uri };
    return [{ uri, mimeType: 'application/json', body: { tag: 'text', val: JSON.stringify(values) } }];
  },
  listPrompts() {
    return [{ name: 'js-chart-prompt', title: undefined, description: 'Asks for a chart of some values', arguments: [{ name: 'values', description: 'Comma-separated numbers', required: true }] }];
  },
  getPrompt(name, args) {
    if (name !== 'js-chart-prompt') throw { tag: 'not-found', val: name };
    const given = args.find(([key]) => key === 'values');
    const text = `Draw a bar chart of ${given ? given[1] : 'the last values'} with the js-chart tool.`;
    return { description: undefined, messages: [{ role: 'user', content: { tag: 'text', val: text } }] };
  },
  complete(reference, argument, value) {
    return { values: [], total: 0, hasMore: false };
  },
};
