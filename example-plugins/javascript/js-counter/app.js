// A counter in JavaScript: each `handle` call counts, and the answer is the
// input with the count so far. State lives in the module, one per instance.
//
// Build it with `cargo xtask build-plugins` (or `witplug build` on this
// folder), then `witplug call js-counter handle '"x"'`.

import { log, getConfig } from 'witplug:plugin/host@0.2.0';

let count = 0;

export const guest = {
  info() {
    return { name: 'js-counter', version: '0.1.0', description: 'Counts its calls, in JavaScript' };
  },

  init() {
    const start = getConfig('start');
    if (start !== undefined) {
      if (!/^\d+$/.test(start)) throw { tag: 'invalid-input', val: `start must be a number, not ${start}` };
      count = Number(start);
    }
    log('info', `counter starts at ${count}`);
  },

  handle(input) {
    count += 1;
    return `${input} ${count}`;
  },

  onMessage(topic, payload) {},

  describeTools() {
    return [];
  },
  runTool(name, input) {
    throw { tag: 'not-found', val: name };
  },

  shutdown() {},
};
