// Shows `fetch` behind grants, in JavaScript: `handle(url)` fetches `url`
// and answers `<status> <body>`. componentize-js implements `fetch` on
// `wasi:http`; the host sends the request only to an origin the manifest
// grants (`http = ["http://127.0.0.1:8080"]`) and refuses any other, which
// `fetch` reports as a `TypeError` that this plugin returns as `failed`.
//
// An export may be `async`: the runtime runs the event loop until the
// promise settles, within the call's deadline.

export const guest = {
  info() {
    return { name: 'js-fetch', version: '0.1.0', description: 'Fetches a URL, in JavaScript' };
  },

  init() {},

  async handle(url) {
    let response;
    try {
      response = await fetch(url);
    } catch (err) {
      throw { tag: 'failed', val: `fetching ${url}: ${err.message}` };
    }
    return `${response.status} ${await response.text()}`;
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
