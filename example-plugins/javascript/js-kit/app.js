// The conformance kit's plugin in JavaScript: the same commands as the Rust
// `kit` plugin (see its `src/lib.rs`), answered the same way, so one set of
// tests runs against every guest language.
//
// An export's error is thrown as the WIT `error` variant, `{ tag, val }`;
// a host import's error arrives as an exception whose `payload` is one.

import { log, getConfig, sendMessage, callTool } from 'witplug:plugin/host@0.2.0';

let count = 0;
const received = [];

// An error the host returned, as `tag:value`.
function tagged(err) {
  if (err.payload === undefined) throw err;
  return `${err.payload.tag}:${err.payload.val}`;
}

function split(text) {
  const space = text.indexOf(' ');
  return space < 0 ? [text, ''] : [text.slice(0, space), text.slice(space + 1)];
}

// The tools the config key `tools` names (comma-separated).
function toolNames() {
  return (getConfig('tools') ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '');
}

export const guest = {
  info() {
    return {
      name: 'js-kit',
      version: '0.1.0',
      description: "The conformance kit's JavaScript plugin: one command per host behaviour",
    };
  },

  init() {
    const reason = getConfig('fail-init');
    if (reason !== undefined) throw { tag: 'failed', val: reason };
  },

  handle(input) {
    const [command, rest] = split(input);
    switch (command) {
      case 'count':
        count += 1;
        return String(count);
      case 'log':
        log('info', rest);
        return 'logged';
      case 'config': {
        const value = getConfig(rest);
        return value === undefined ? '<none>' : value;
      }
      case 'send': {
        const [topic, payload] = split(rest);
        try {
          sendMessage(topic, new TextEncoder().encode(payload));
          return 'sent';
        } catch (err) {
          return tagged(err);
        }
      }
      case 'tool': {
        const [name, argument] = split(rest);
        try {
          return 'ok:' + callTool(name, argument);
        } catch (err) {
          return tagged(err);
        }
      }
      case 'received':
        return received.join(';');
      case 'fail':
        throw { tag: 'failed', val: rest };
      case 'throw':
        throw new Error(rest);
      case 'spin':
        for (;;) count += 1;
      case 'grow': {
        const blocks = [];
        for (;;) blocks.push(new Uint8Array(1 << 20).fill(1));
      }
      case 'big':
        return 'x'.repeat(Number(rest));
      default:
        throw { tag: 'invalid-input', val: `unknown command \`${command}\`` };
    }
  },

  onMessage(topic, payload) {
    received.push(`${topic}=${new TextDecoder().decode(payload)}`);
  },

  describeTools() {
    return toolNames().map((name) => ({
        name,
        description: 'Answers its input after its own name',
        inputSchema: JSON.stringify({ type: 'string' }),
        outputSchema: undefined,
        hints: { readOnly: true, destructive: false, idempotent: true, openWorld: undefined },
      }));
  },
  runTool(name, input) {
    if (toolNames().includes(name)) return `${name}:${input}`;
    throw { tag: 'not-found', val: name };
  },

  shutdown() {},
};
