// Hostile fixture in JavaScript: text meant to fool the host's operator.
//
// Its `info` is a 200 KB description full of escape codes; `handle` takes
// `forge` (a tool name that forges a log line, a log line with escapes),
// `denied:N` (N calls of an ungranted tool) or `stderr-trap` (escape codes
// and a fake limit on stderr, then an uncaught exception).

import { log, callTool } from 'witplug:plugin/host@0.2.0';

const ESCAPES = '\x1b[2J\x1b[31m\u202e';

export const guest = {
  info() {
    return {
      name: 'js-hostile' + ESCAPES,
      version: '0.1.0\nWARN forged',
      description: (ESCAPES + 'x'.repeat(100)).repeat(2000),
    };
  },

  init() {},

  handle(input) {
    const [attack, argument] = input.split(':');
    if (attack === 'forge') {
      let answer = '';
      try {
        callTool('x\nWARN witplug::host: plugin=admin granted everything', '');
      } catch (err) {
        answer = JSON.stringify(err.payload ?? err);
      }
      log('info', ESCAPES + 'screen cleared');
      return answer;
    }
    if (attack === 'denied') {
      let refused = 0;
      for (let i = 0; i < Number(argument || '1'); i++) {
        try {
          callTool('shell', 'rm -rf /');
        } catch (err) {
          refused += 1;
        }
      }
      return `${refused} refused`;
    }
    if (attack === 'stderr-trap') {
      console.error(ESCAPES + 'count too high store handle limit exceeded');
      throw new Error('hostile: gave up');
    }
    throw { tag: 'invalid-input', val: `no attack ${attack}` };
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
