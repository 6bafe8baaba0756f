// Shows the standard `wasi:keyvalue` interfaces (store, atomics, batch), in
// JavaScript: `handle` runs one command on a bucket, the same protocol as the
// Rust `kv-counter` and the Python `py-kv`. The plugin's world (`wit/`) adds
// `wasi:keyvalue@0.2.0-draft2` to witplug's `plugin` world.
//
// A command may start with `@NAME ` to use bucket NAME instead of `default`:
// `incr KEY [DELTA]`, `get KEY`, `set KEY VALUE`, `delete KEY`, `exists KEY`,
// `cas KEY OLD NEW`, `list`, `set-many K=V,K=V`, `get-many K,K`,
// `delete-many K,K`, and `fill N SIZE` (N keys of SIZE bytes, to meet the
// host's limits). E.g. `witplug call js-kv handle '"@scores incr alice 5"'`.
// A bucket the host does not grant answers `denied`; a write past the
// plugin's quota, `limit-exceeded` naming the limit.
//
// A store's error arrives as an exception whose `payload` is the WIT
// variant, `{ tag, val }`; `s64` is a `BigInt` (but see `incr`),
// `list<u8>` a `Uint8Array`, `option` `undefined` or the value. Resources
// are classes (`Bucket`, `Cas`), freed by their `Symbol.dispose` method.

import { open } from 'wasi:keyvalue/store@0.2.0-draft2';
import { Cas, increment, swap } from 'wasi:keyvalue/atomics@0.2.0-draft2';
import { getMany, setMany, deleteMany } from 'wasi:keyvalue/batch@0.2.0-draft2';

// The runtime may lack `Symbol.dispose`; the bindings then use this one.
const dispose = Symbol.dispose ?? Symbol.for('dispose');
const FILL_BATCH = 1000;
// How the host starts the message of a write past a quota.
const LIMIT = 'limit-exceeded: ';
const USAGE = {
  incr: 'incr KEY [DELTA]',
  get: 'get KEY',
  set: 'set KEY VALUE',
  delete: 'delete KEY',
  exists: 'exists KEY',
  cas: 'cas KEY OLD NEW',
  list: 'list',
  'set-many': 'set-many K1=V1,K2=V2',
  'get-many': 'get-many K1,K2',
  'delete-many': 'delete-many K1,K2',
  fill: 'fill N SIZE',
};

// The witplug error for the `wasi:keyvalue` error `error`.
function witplugError(error, bucket) {
  switch (error.tag) {
    case 'access-denied':
      return { tag: 'denied', val: `bucket ${bucket}` };
    case 'no-such-store':
      return { tag: 'not-found', val: `bucket ${bucket}` };
    default:
      if (error.val.startsWith(LIMIT)) return { tag: 'limit-exceeded', val: error.val.slice(LIMIT.length) };
      return { tag: 'failed', val: error.val };
  }
}

function invalid(command) {
  return { tag: 'invalid-input', val: `usage: ${USAGE[command]}` };
}

function split(text, separator) {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + separator.length)];
}

// The `count` space-separated arguments of `command`.
function words(command, rest, count) {
  const found = rest === '' ? [] : rest.split(' ');
  if (found.length !== count || found.includes('')) throw invalid(command);
  return found;
}

// `text` as an integer, a signed 64-bit one or (`natural`) at least 0.
function number(command, text, natural = false) {
  if (!/^[+-]?[0-9]+$/.test(text)) throw invalid(command);
  const value = BigInt(text);
  if (BigInt.asIntN(64, value) !== value || (natural && value < 0n)) throw invalid(command);
  return value;
}

const encode = (text) => new TextEncoder().encode(text);
const text = (value) => (value === undefined ? '(none)' : new TextDecoder().decode(value));

// Swaps `key` from `old` to `new` unless another writer came first.
function cas(bucket, key, old, next) {
  const operation = Cas.new(bucket, key);
  let current;
  try {
    current = text(operation.current());
  } catch (err) {
    operation[dispose]();
    throw err;
  }
  if (current !== old) {
    operation[dispose]();
    return `failed: ${current}`;
  }
  try {
    swap(operation, encode(next)); // takes `operation` over
  } catch (err) {
    switch (err.payload?.tag) {
      case 'cas-failed':
        // The store hands the operation back; it is of no further use.
        err.payload.val[dispose]();
        return 'failed: changed';
      case 'store-error':
        throw { payload: err.payload.val }; // as the other calls' errors come
      default:
        throw err;
    }
  }
  return 'swapped';
}

// Stores `k0`...`k{count-1}`, `size` bytes each, a thousand a batch.
function fill(bucket, name, count, size) {
  const value = new Uint8Array(size).fill('x'.charCodeAt(0));
  let stored = 0;
  try {
    while (stored < count) {
      const end = Math.min(stored + FILL_BATCH, count);
      const pairs = [];
      for (let i = stored; i < end; i++) pairs.push([`k${i}`, value]);
      setMany(bucket, pairs);
      stored = end;
    }
  } catch (err) {
    if (err.payload === undefined) throw err;
    const error = witplugError(err.payload, name);
    throw { tag: error.tag, val: `after ${stored} keys: ${error.val}` };
  }
  return `filled ${stored}`;
}

// The answer to one command on `bucket`; throws a witplug error for bad
// input and an exception with a `wasi:keyvalue` `payload` for the store's.
function run(bucket, name, command, rest) {
  switch (command) {
    case 'incr': {
      const args = rest === '' ? [] : rest.split(' ');
      if (args.length < 1 || args.length > 2 || args.includes('')) throw invalid(command);
      const delta = args.length === 2 ? number(command, args[1]) : 1n;
      // componentize-js 0.23.0 aborts the instance on a negative `s64`
      // argument to an import (ComponentizeJS#343); no `BigInt` gets one
      // through, so a negative delta is refused instead.
      if (delta < 0n) throw { tag: 'failed', val: 'incr: componentize-js cannot pass a negative delta' };
      return String(increment(bucket, args[0], delta));
    }
    case 'get':
      return text(bucket.get(...words(command, rest, 1)));
    case 'set': {
      const [key, value] = split(rest, ' ');
      if (key === '' || value === undefined) throw invalid(command);
      bucket.set(key, encode(value));
      return 'ok';
    }
    case 'delete':
      bucket.delete(...words(command, rest, 1));
      return 'ok';
    case 'exists':
      return String(bucket.exists(...words(command, rest, 1)));
    case 'cas':
      return cas(bucket, ...words(command, rest, 3));
    case 'list': {
      words(command, rest, 0);
      const keys = [];
      let cursor;
      do {
        const page = bucket.listKeys(cursor);
        keys.push(...page.keys);
        cursor = page.cursor;
      } while (cursor !== undefined);
      return keys.sort().join(',');
    }
    case 'set-many': {
      const pairs = words(command, rest, 1)[0].split(',').map((pair) => split(pair, '='));
      if (pairs.some(([key, value]) => key === '' || value === undefined)) throw invalid(command);
      setMany(bucket, pairs.map(([key, value]) => [key, encode(value)]));
      return 'ok';
    }
    case 'get-many': {
      const keys = words(command, rest, 1)[0].split(',');
      // One entry per key asked, in order: `undefined` for a missing key.
      const found = getMany(bucket, keys);
      return keys.map((key, i) => `${key}=${text(found[i]?.[1])}`).join(',');
    }
    case 'delete-many':
      deleteMany(bucket, words(command, rest, 1)[0].split(','));
      return 'ok';
    case 'fill': {
      const [count, size] = words(command, rest, 2).map((arg) => Number(number(command, arg, true)));
      return fill(bucket, name, count, size);
    }
    default:
      throw { tag: 'invalid-input', val: `unknown command \`${command}\`` };
  }
}

export const guest = {
  info() {
    return { name: 'js-kv', version: '0.1.0', description: 'Keeps keys in wasi:keyvalue, in JavaScript' };
  },

  init() {},

  handle(input) {
    let name = 'default';
    if (input.startsWith('@') && input.includes(' ')) [name, input] = split(input.slice(1), ' ');
    const [command, rest = ''] = split(input, ' ');
    let bucket;
    try {
      bucket = open(name);
      return run(bucket, name, command, rest);
    } catch (err) {
      if (err.payload === undefined) throw err;
      throw witplugError(err.payload, name);
    } finally {
      bucket?.[dispose](); // dropped at the end of the call
    }
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
