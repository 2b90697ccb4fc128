// Portcullis guest SDK for AssemblyScript: plugin ABI version 1 (abi/ABI.md).
//
// Register a handler per hook at the top level of your entry file and
// re-export the ABI entry points from "@portcullis/sdk/exports"; build with
// the SDK's asconfig.json (minimal runtime, abort routed to portcullis_abort).

// ---------------------------------------------------------------- state
// Declared first: AssemblyScript wants globals initialized before the
// functions compiled from top-level code use them.

let current: i32 = 0; // the hook running, for abort reports
let aborting = false;
let input = new ArrayBuffer(0); // the host's input buffer (ABI §4.2)
let out: usize = 0; // the verdict buffer, unmanaged so the collector leaves it
let outCap: i32 = 0;
let foundStart = 0; // bounds of the value member found
let foundEnd = 0;
const HEX = "0123456789abcdef";
const BACKSLASH = Uint8Array.wrap(String.UTF8.encode("\\"));
const handlers = new StaticArray<Handler | null>(6);
const call = new Call(); // reused: a call allocates only what the handler asks for
const ALLOW = new Verdict(Action.Allow, 0, null);

// ---------------------------------------------------------------- constants

/** Hook numbers (ABI §4). */
export enum Hook {
  RequestGuard = 1,
  ResponseGuard = 2,
  ToolFilter = 3,
  Route = 4,
  Audit = 5,
}

/** Direction of the frame (ABI §6). */
export enum Direction {
  None = 0,
  Request = 1,
  Response = 2,
}

/** Verdict actions (ABI §7). */
export enum Action {
  Allow = 0,
  Block = 1,
  Rewrite = 2,
  Route = 3,
}

/** Log levels of the host's log function (ABI §5). */
export enum Level {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** Longest block reason the host accepts, in bytes. */
export const MAX_REASON_LEN = 1024;

const INPUT_HEADER = 32;
const REPLICA_ENTRY = 16;
const VERDICT_HEADER = 12;

/** The manifest name of a hook, e.g. "request_guard". */
export function hookName(h: i32): string {
  switch (h) {
    case Hook.RequestGuard: return "request_guard";
    case Hook.ResponseGuard: return "response_guard";
    case Hook.ToolFilter: return "tool_filter";
    case Hook.Route: return "route";
    case Hook.Audit: return "audit";
  }
  return "unknown_hook";
}

/** The name of a direction: "none", "request" or "response". */
export function directionName(d: i32): string {
  switch (d) {
    case Direction.None: return "none";
    case Direction.Request: return "request";
    case Direction.Response: return "response";
  }
  return "unknown";
}

// ---------------------------------------------------------------- host functions

// @ts-ignore: decorator
@external("portcullis", "log")
declare function hostLog(level: i32, ptr: usize, len: usize): void;

// @ts-ignore: decorator
@external("portcullis", "emit")
declare function hostEmit(namePtr: usize, nameLen: usize, dataPtr: usize, dataLen: usize): void;

// @ts-ignore: decorator
@external("portcullis", "now")
declare function hostNow(): i64;

/** Logs one line through the gateway (it keeps 16 lines of 1 KiB per call). */
export function log(level: Level, msg: string): void {
  const b = String.UTF8.encode(msg, false, String.UTF8.ErrorMode.REPLACE);
  hostLog(level, changetype<usize>(b), b.byteLength);
}

/** Sends an event (a counter tick, an alert) to the gateway's event sink. */
export function emit(name: string, data: Uint8Array): void {
  const n = String.UTF8.encode(name, false, String.UTF8.ErrorMode.REPLACE);
  hostEmit(changetype<usize>(n), n.byteLength, data.dataStart, data.length);
}

/**
 * The gateway's wall clock in Unix nanoseconds. Calling it makes the module
 * import portcullis.now, which the gateway only allows for plugins granted
 * the clock: without the grant the module is refused at load.
 */
export function now(): i64 {
  return hostNow();
}

// ---------------------------------------------------------------- bytes

/** The UTF-8 encoding of s (unpaired surrogates become U+FFFD). */
export function bytes(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s, false, String.UTF8.ErrorMode.REPLACE));
}

/** b decoded as UTF-8. */
export function text(b: Uint8Array): string {
  return String.UTF8.decodeUnsafe(b.dataStart, b.length);
}

// @ts-ignore: decorator
@inline function lower(c: u32): u32 {
  return c - 0x41 < 26 ? c | 0x20 : c;
}

// The scanners below test 16 bytes per step with SIMD (asconfig.json
// enables it; wazero compiles it to SSE or NEON): i8x16.bitmask gives a bit
// per matching byte, and ctz the first one.

function find(hay: Uint8Array, needle: Uint8Array, from: i32, fold: bool): i32 {
  const n = hay.length, m = needle.length;
  if (from < 0) from = 0;
  if (m == 0) return from <= n ? from : -1;
  const h = hay.dataStart, p = needle.dataStart;
  const last = n - m;
  // Candidates hold the needle's first and last byte. Folding ORs 0x20 into
  // the bytes, which for a letter matches exactly its two cases; other
  // bytes are compared as they are.
  let b0 = <u32>load<u8>(p), b1 = <u32>load<u8>(p + m - 1);
  let f0 = i8x16.splat(0), f1 = i8x16.splat(0);
  if (fold && lower(b0) - 0x61 < 26) { b0 = lower(b0); f0 = i8x16.splat(0x20); }
  if (fold && lower(b1) - 0x61 < 26) { b1 = lower(b1); f1 = i8x16.splat(0x20); }
  const v0 = i8x16.splat(<i8>b0), v1 = i8x16.splat(<i8>b1);
  let i = from;
  while (i <= last) {
    if (i + m + 31 <= n) { // 32 bytes a loop: the host's deadline check runs at every loop head
      const q = h + i, r = h + i + m - 1;
      const c = i8x16.bitmask(v128.and(i8x16.eq(v128.or(v128.load(q), f0), v0), i8x16.eq(v128.or(v128.load(r), f1), v1))) |
        i8x16.bitmask(v128.and(i8x16.eq(v128.or(v128.load(q, 16), f0), v0), i8x16.eq(v128.or(v128.load(r, 16), f1), v1))) << 16;
      if (c == 0) {
        i += 32;
        continue;
      }
      i += ctz(c);
    }
    if (fold) {
      let j = 0;
      while (j < m && lower(load<u8>(h + i + j)) == lower(load<u8>(p + j))) j++;
      if (j == m) return i;
    } else if (memory.compare(h + i, p, m) == 0) {
      return i;
    }
    i++;
  }
  return -1;
}

/** The index of the first needle in hay at or after from, or -1. */
export function indexOf(hay: Uint8Array, needle: Uint8Array, from: i32 = 0): i32 {
  return find(hay, needle, from, false);
}

/** indexOf ignoring ASCII case (A-Z match a-z; other bytes must be equal). */
export function indexOfIgnoreCase(hay: Uint8Array, needle: Uint8Array, from: i32 = 0): i32 {
  return find(hay, needle, from, true);
}

/** Whether hay contains needle, ignoring ASCII case. */
export function containsIgnoreCase(hay: Uint8Array, needle: Uint8Array): bool {
  return find(hay, needle, 0, true) >= 0;
}

/** Whether a and b hold the same bytes. */
export function equal(a: Uint8Array, b: Uint8Array): bool {
  return a.length == b.length && memory.compare(a.dataStart, b.dataStart, a.length) == 0;
}

/** hay with every needle replaced by repl; hay itself when there is none. */
export function replaceAll(hay: Uint8Array, needle: Uint8Array, repl: Uint8Array): Uint8Array {
  let at = find(hay, needle, 0, false);
  if (at < 0 || needle.length == 0) return hay;
  const w = new ByteWriter(hay.length + 16);
  let from = 0;
  while (at >= 0) {
    w.write(hay, from, at).write(repl);
    from = at + needle.length;
    at = find(hay, needle, from, false);
  }
  return w.write(hay, from).bytes();
}

/** A growable byte buffer, to build rewritten frames and JSON. */
export class ByteWriter {
  private buf: Uint8Array;
  private n: i32 = 0;

  constructor(capacity: i32 = 64) {
    this.buf = new Uint8Array(max(capacity, 16));
  }

  /** Bytes written so far. */
  get length(): i32 {
    return this.n;
  }

  private reserve(extra: i32): usize {
    const need = this.n + extra;
    if (need > this.buf.length) {
      const b = new Uint8Array(max(need, this.buf.length << 1));
      memory.copy(b.dataStart, this.buf.dataStart, this.n);
      this.buf = b;
    }
    const at = this.buf.dataStart + this.n;
    this.n = need;
    return at;
  }

  /** Appends b[start:end] (clamped to b). */
  write(b: Uint8Array, start: i32 = 0, end: i32 = i32.MAX_VALUE): ByteWriter {
    if (end > b.length) end = b.length;
    if (start < 0) start = 0;
    if (end > start) memory.copy(this.reserve(end - start), b.dataStart + start, end - start);
    return this;
  }

  /** Appends one byte. */
  writeByte(c: u8): ByteWriter {
    store<u8>(this.reserve(1), c);
    return this;
  }

  /** Appends s in UTF-8. */
  writeString(s: string): ByteWriter {
    const len = String.UTF8.byteLength(s);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.reserve(len), false, String.UTF8.ErrorMode.REPLACE);
    return this;
  }

  /** Appends b as a JSON string literal, quotes included. */
  writeQuoted(b: Uint8Array): ByteWriter {
    this.writeByte(0x22);
    const p = b.dataStart;
    let from = 0;
    for (let i = 0; i < b.length; i++) {
      const c = <u32>load<u8>(p + i);
      if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
      this.write(b, from, i);
      from = i + 1;
      if (c == 0x22) this.writeString("\\\"");
      else if (c == 0x5c) this.writeString("\\\\");
      else if (c == 0x0a) this.writeString("\\n");
      else if (c == 0x0d) this.writeString("\\r");
      else if (c == 0x09) this.writeString("\\t");
      else this.writeString("\\u00").writeByte(<u8>HEX.charCodeAt(c >> 4)).writeByte(<u8>HEX.charCodeAt(c & 15));
    }
    this.write(b, from);
    return this.writeByte(0x22);
  }

  /** The bytes written: a view of the buffer, valid until the next write. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

// ---------------------------------------------------------------- JSON
//
// A scanner for the JSON the gateway hands plugins (frames it has parsed,
// configs it has serialized): it finds members without building a tree.
// Skipped values are only checked for balanced brackets and strings.

// @ts-ignore: decorator
@inline function isSpace(c: u32): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09;
}

function skipSpace(p: usize, i: i32, n: i32): i32 {
  while (i < n && isSpace(load<u8>(p + i))) i++;
  return i;
}

// skipString returns the index after the string starting at p[i] ('"'), or -1.
function skipString(p: usize, i: i32, n: i32): i32 {
  i++;
  while (i < n) {
    if (i + 32 <= n) { // to the next '"' or '\\', 32 bytes a loop as in find
      const a = v128.load(p + i), b = v128.load(p + i, 16);
      const q = i8x16.splat(0x22), e = i8x16.splat(0x5c);
      const f = i8x16.bitmask(v128.or(i8x16.eq(a, q), i8x16.eq(a, e))) | i8x16.bitmask(v128.or(i8x16.eq(b, q), i8x16.eq(b, e))) << 16;
      if (f == 0) {
        i += 32;
        continue;
      }
      i += ctz(f);
    }
    const c = load<u8>(p + i);
    if (c == 0x22) return i + 1;
    i += c == 0x5c ? 2 : 1;
  }
  return -1;
}

// skipValue returns the index after the value starting at p[i], or -1.
function skipValue(p: usize, i: i32, n: i32): i32 {
  if (i >= n) return -1;
  let c = <u32>load<u8>(p + i);
  if (c == 0x22) return skipString(p, i, n);
  if (c == 0x7b || c == 0x5b) { // iteratively: no recursion for hostile nesting
    let depth = 0;
    while (i < n) {
      if (i + 16 <= n) { // to the next '"' or bracket; | 0x20 maps '[' ']' to '{' '}'
        const v = v128.or(v128.load(p + i), i8x16.splat(0x20));
        const f = i8x16.bitmask(v128.or(i8x16.eq(v, i8x16.splat(0x22)),
          v128.or(i8x16.eq(v, i8x16.splat(0x7b)), i8x16.eq(v, i8x16.splat(0x7d)))));
        if (f == 0) {
          i += 16;
          continue;
        }
        i += ctz(f);
      }
      c = load<u8>(p + i);
      if (c == 0x22) {
        i = skipString(p, i, n);
        if (i < 0) return -1;
        continue;
      }
      if (c == 0x7b || c == 0x5b) depth++;
      else if ((c == 0x7d || c == 0x5d) && --depth == 0) return i + 1;
      i++;
    }
    return -1;
  }
  const start = i;
  while (i < n) {
    c = load<u8>(p + i);
    if (c == 0x2c || c == 0x7d || c == 0x5d || c == 0x3a || isSpace(c)) break;
    i++;
  }
  return i > start ? i : -1;
}

// member finds the key path[ka:kb] in the object starting at p[start] and
// ending before p[end]; like JSON.parse, the last of duplicate keys wins.
// False when absent or when p[start] is not an object.
function member(p: usize, start: i32, end: i32, path: string, ka: i32, kb: i32, plain: bool): bool {
  if (start >= end || load<u8>(p + start) != 0x7b) return false;
  let found = false, fs = 0, fe = 0;
  let i = skipSpace(p, start + 1, end);
  if (i < end && load<u8>(p + i) == 0x7d) return false;
  for (;;) {
    if (i >= end || load<u8>(p + i) != 0x22) return false;
    const ks = i;
    const ke = skipString(p, i, end);
    if (ke < 0) return false;
    i = skipSpace(p, ke, end);
    if (i >= end || load<u8>(p + i) != 0x3a) return false;
    i = skipSpace(p, i + 1, end);
    const vs = i;
    const ve = skipValue(p, i, end);
    if (ve < 0) return false;
    if (keyIs(p, ks, ke, path, ka, kb, plain)) {
      found = true;
      fs = vs;
      fe = ve;
    }
    i = skipSpace(p, ve, end);
    if (i >= end) return false;
    const c = load<u8>(p + i);
    if (c == 0x7d) break;
    if (c != 0x2c) return false;
    i = skipSpace(p, i + 1, end);
  }
  foundStart = fs;
  foundEnd = fe;
  return found;
}

// keyIs compares the string literal p[ks:ke] with path[ka:kb], decoding
// escapes ("met\u0068od" is "method" to every JSON parser). plain says the
// path key is ASCII without backslashes: then a key of another length can
// only match through escapes, and most keys are ruled out by their length.
function keyIs(p: usize, ks: i32, ke: i32, path: string, ka: i32, kb: i32, plain: bool): bool {
  const q = p + ks + 1, len = ke - ks - 2, klen = kb - ka;
  if (len < klen) return false; // escapes and UTF-8 only lengthen a key
  if (plain) {
    if (len == klen) {
      const k = changetype<usize>(path) + (<usize>ka << 1);
      for (let i = 0; i < len; i++) {
        if (<u32>load<u8>(q + i) != <u32>load<u16>(k + (<usize>i << 1))) return false;
      }
      return true;
    }
    let escaped = false;
    for (let i = 0; i < len && !escaped; i++) escaped = load<u8>(q + i) == 0x5c;
    if (!escaped) return false;
  }
  const w = new ByteWriter(len);
  unescape(p, ks + 1, ke - 1, w);
  return equal(w.bytes(), bytes(path.substring(ka, kb)));
}

function hexDigit(c: u32): i32 {
  if (c - 0x30 < 10) return c - 0x30;
  c |= 0x20;
  if (c - 0x61 < 6) return c - 0x61 + 10;
  return -1;
}

function hex4(p: usize, i: i32, end: i32): i32 {
  if (i + 4 > end) return -1;
  let v = 0;
  for (let k = 0; k < 4; k++) {
    const d = hexDigit(load<u8>(p + i + k));
    if (d < 0) return -1;
    v = (v << 4) | d;
  }
  return v;
}

function writeRune(w: ByteWriter, r: u32): void {
  if (r < 0x80) w.writeByte(<u8>r);
  else if (r < 0x800) w.writeByte(<u8>(0xc0 | (r >> 6))).writeByte(<u8>(0x80 | (r & 0x3f)));
  else if (r < 0x10000) {
    w.writeByte(<u8>(0xe0 | (r >> 12))).writeByte(<u8>(0x80 | ((r >> 6) & 0x3f))).writeByte(<u8>(0x80 | (r & 0x3f)));
  } else {
    w.writeByte(<u8>(0xf0 | (r >> 18))).writeByte(<u8>(0x80 | ((r >> 12) & 0x3f)));
    w.writeByte(<u8>(0x80 | ((r >> 6) & 0x3f))).writeByte(<u8>(0x80 | (r & 0x3f)));
  }
}

// unescape writes p[start:end] to w with JSON escapes decoded.
function unescape(p: usize, start: i32, end: i32, w: ByteWriter): void {
  let i = start;
  while (i < end) {
    const c = <u32>load<u8>(p + i);
    if (c != 0x5c || i + 1 >= end) {
      w.writeByte(<u8>c);
      i++;
      continue;
    }
    const e = <u32>load<u8>(p + i + 1);
    i += 2;
    switch (e) {
      case 0x62: w.writeByte(0x08); break; // \b
      case 0x66: w.writeByte(0x0c); break; // \f
      case 0x6e: w.writeByte(0x0a); break; // \n
      case 0x72: w.writeByte(0x0d); break; // \r
      case 0x74: w.writeByte(0x09); break; // \t
      case 0x75: { // \uXXXX, surrogate pairs joined, lone halves U+FFFD
        let r = hex4(p, i, end);
        if (r < 0) {
          w.writeByte(0x5c).writeByte(0x75);
          break;
        }
        i += 4;
        if ((r & 0xfc00) == 0xd800 && i + 6 <= end && load<u8>(p + i) == 0x5c && load<u8>(p + i + 1) == 0x75) {
          const lo = hex4(p, i + 2, end);
          if (lo >= 0 && (lo & 0xfc00) == 0xdc00) {
            r = 0x10000 + ((r & 0x3ff) << 10) + (lo & 0x3ff);
            i += 6;
          }
        }
        if ((r & 0xf800) == 0xd800) r = 0xfffd;
        writeRune(w, r);
        break;
      }
      default: w.writeByte(<u8>e); // \" \\ \/
    }
  }
}

/**
 * The raw JSON of the member at path in the object doc: path is keys joined
 * by dots ("params.arguments"); "" is the whole document. Null when doc is
 * null, a key is absent, or a value on the way is not an object. The result
 * is a view of doc.
 */
export function jsonGet(doc: Uint8Array | null, path: string): Uint8Array | null {
  if (doc == null) return null;
  const p = doc.dataStart, n = doc.length;
  let start = skipSpace(p, 0, n);
  let end = n;
  let seg = 0;
  while (seg < path.length) {
    let dot = path.indexOf(".", seg);
    if (dot < 0) dot = path.length;
    let plain = true;
    for (let i = seg; i < dot && plain; i++) {
      const c = path.charCodeAt(i);
      plain = c < 0x80 && c != 0x5c;
    }
    if (!member(p, start, end, path, seg, dot, plain)) return null;
    start = foundStart;
    end = foundEnd;
    seg = dot + 1;
  }
  if (seg == 0) end = skipValue(p, start, n); // path "": the document
  return end < 0 ? null : doc.subarray(start, end);
}

/** The value of the JSON string raw, or null when raw is not a string. */
export function jsonString(raw: Uint8Array | null): string | null {
  if (raw == null) return null;
  const p = raw.dataStart, n = raw.length;
  if (n < 2 || load<u8>(p) != 0x22 || skipString(p, 0, n) != n) return null;
  for (let i = 1; i < n - 1; i++) {
    if (load<u8>(p + i) == 0x5c) {
      const w = new ByteWriter(n);
      unescape(p, 1, n - 1, w);
      return text(w.bytes());
    }
  }
  return String.UTF8.decodeUnsafe(p + 1, n - 2);
}

/** The elements of the JSON array raw (views of raw), or null when it is not an array. */
export function jsonArray(raw: Uint8Array | null): Uint8Array[] | null {
  if (raw == null) return null;
  const p = raw.dataStart, n = raw.length;
  if (n < 2 || load<u8>(p) != 0x5b) return null;
  const out = new Array<Uint8Array>();
  let i = skipSpace(p, 1, n);
  if (i < n && load<u8>(p + i) == 0x5d) return out;
  while (i < n) {
    const end = skipValue(p, i, n);
    if (end < 0) return null;
    out.push(raw.subarray(i, end));
    i = skipSpace(p, end, n);
    if (i >= n) return null;
    const c = load<u8>(p + i);
    if (c == 0x5d) return out;
    if (c != 0x2c) return null;
    i = skipSpace(p, i + 1, n);
  }
  return null;
}

/** Whether raw is the JSON literal true. */
export function jsonBool(raw: Uint8Array | null): bool {
  return raw != null && raw.length == 4 && load<u32>(raw.dataStart) == 0x65757274; // "true"
}

/** The JSON integer raw, or def when raw is not an integer that fits in an i64. */
export function jsonInt(raw: Uint8Array | null, def: i64 = 0): i64 {
  if (raw == null || raw.length == 0) return def;
  const p = raw.dataStart, n = raw.length;
  const neg = load<u8>(p) == 0x2d;
  let i = neg ? 1 : 0;
  if (i >= n || n - i > 18) return def;
  let v: i64 = 0;
  for (; i < n; i++) {
    const d = <i64>load<u8>(p + i) - 0x30;
    if (<u64>d > 9) return def;
    v = v * 10 + d;
  }
  return neg ? -v : v;
}

/**
 * raw JSON text with the escapes inside its strings decoded, for searching
 * (not parsing): "rm \u002drf" reads as "rm -rf". raw itself when it has none.
 */
export function jsonUnescape(raw: Uint8Array): Uint8Array {
  const i = find(raw, BACKSLASH, 0, false);
  if (i < 0) return raw;
  const w = new ByteWriter(raw.length);
  w.write(raw, 0, i);
  unescape(raw.dataStart, i, raw.length, w);
  return w.bytes();
}

// ---------------------------------------------------------------- calls

/** One upstream replica offered to a route handler. */
export class Replica {
  constructor(
    public name: string,
    public inFlight: u32,
    public latencyMicros: u32,
    public healthy: bool,
  ) {}
}

/**
 * What a handler receives. It and the views it hands out (frame, config)
 * point into a buffer the gateway reuses: they are valid only during the
 * handler; copy (slice) what you keep.
 */
export class Call {
  /** The hook being called. */
  hook: Hook = 0;
  /** The frame's direction. */
  direction: Direction = 0;
  private buf: ArrayBuffer = new ArrayBuffer(0);
  private offs: StaticArray<i32> = new StaticArray<i32>(8); // field starts; [6] replica table, [7] count
  private lens: StaticArray<i32> = new StaticArray<i32>(6);
  private cache: StaticArray<string | null> = new StaticArray<string | null>(4);
  private _frame: Uint8Array | null = null;
  private _config: Uint8Array | null = null;
  private _replicas: Replica[] | null = null;

  private name(i: i32): string {
    let s = this.cache[i];
    if (s == null) {
      s = String.UTF8.decodeUnsafe(changetype<usize>(this.buf) + this.offs[i], this.lens[i]);
      this.cache[i] = s;
    }
    return s;
  }

  /** The target server, "" when not known yet. */
  get server(): string { return this.name(0); }
  /** The tool of a tools/call, "" otherwise. */
  get tool(): string { return this.name(1); }
  /** The calling agent, "" when anonymous. */
  get agent(): string { return this.name(2); }
  /** The agent's team, "" when none. */
  get team(): string { return this.name(3); }

  /** The binding's JSON config; empty when none. */
  get config(): Uint8Array {
    let c = this._config;
    if (c == null) this._config = c = Uint8Array.wrap(this.buf, this.offs[4], this.lens[4]);
    return c;
  }

  /** The raw JSON-RPC frame (for audit, the audit record). */
  get frame(): Uint8Array {
    let f = this._frame;
    if (f == null) this._frame = f = Uint8Array.wrap(this.buf, this.offs[5], this.lens[5]);
    return f;
  }

  /** The server's replicas (route only; empty otherwise). */
  get replicas(): Replica[] {
    let r = this._replicas;
    if (r == null) {
      const count = this.offs[7];
      r = new Array<Replica>(count);
      const base = changetype<usize>(this.buf);
      let e = base + this.offs[6];
      let name = this.offs[6] + count * REPLICA_ENTRY;
      for (let i = 0; i < count; i++, e += REPLICA_ENTRY) {
        const n = load<u32>(e);
        r[i] = new Replica(String.UTF8.decodeUnsafe(base + name, n), load<u32>(e, 4), load<u32>(e, 8), (load<u32>(e, 12) & 1) != 0);
        name += n;
      }
      this._replicas = r;
    }
    return r;
  }

  // decode checks the input message buf[0:len] for hook (ABI §6) and takes
  // it; it returns "" or why it is malformed.
  decode(hook: Hook, buf: ArrayBuffer, len: i32): string {
    this.reset();
    const p = changetype<usize>(buf);
    if (len < INPUT_HEADER) return "message shorter than its header";
    if (load<u8>(p) != 1) return "message version is not 1";
    if (load<u8>(p, 3) != 0) return "reserved field is not zero";
    if (<i32>load<u8>(p, 1) != hook) return "message is for hook " + hookName(load<u8>(p, 1));
    if (<i32>load<u8>(p, 2) > Direction.Response) return "unknown direction";
    let off: u64 = INPUT_HEADER;
    for (let i = 0; i < 6; i++) {
      const n = load<u32>(p + 4 + 4 * i);
      this.offs[i] = <i32>off; // meaningful only once the total is checked
      this.lens[i] = <i32>n;
      off += n;
    }
    const count = <u64>load<u32>(p, 28);
    off += count * REPLICA_ENTRY;
    if (off > <u64>len) return "message length does not match its header";
    this.offs[6] = <i32>off - <i32>count * REPLICA_ENTRY;
    this.offs[7] = <i32>count;
    for (let i: u64 = 0; i < count; i++) {
      const e = p + <usize>this.offs[6] + <usize>i * REPLICA_ENTRY;
      off += load<u32>(e);
      if (off > <u64>len) return "message length does not match its header";
      if ((load<u32>(e, 12) & ~1) != 0) return "reserved field is not zero";
    }
    if (off != <u64>len) return "message length does not match its header";
    this.hook = hook;
    this.direction = load<u8>(p, 2);
    this.buf = buf;
    return "";
  }

  // reset drops what the last call handed out.
  reset(): void {
    this._frame = null;
    this._config = null;
    this._replicas = null;
    for (let i = 0; i < 4; i++) this.cache[i] = null;
  }
}

// ---------------------------------------------------------------- verdicts

/** A handler's answer. Build one with allow, block, blockCode, rewrite or routeTo. */
export class Verdict {
  constructor(
    public readonly action: Action,
    public readonly value: u32, // block: error code; route: replica index
    public readonly payload: Uint8Array | null, // block: reason; rewrite: frame
  ) {}
}

/** Lets the frame pass unchanged (for onRoute: no preference). */
export function allow(): Verdict {
  return ALLOW;
}

/** Answers the frame with a JSON-RPC error carrying reason and the gateway's default code (-32001). */
export function block(reason: string): Verdict {
  return blockCode(0, reason);
}

/** block with an explicit JSON-RPC error code. A reason over 1024 bytes is cut. */
export function blockCode(code: i32, reason: string): Verdict {
  let r = bytes(reason);
  if (r.length > MAX_REASON_LEN) {
    let n = MAX_REASON_LEN;
    while (n > 0 && (r[n] & 0xc0) == 0x80) n--; // cut at a character boundary
    r = r.subarray(0, n);
  }
  return new Verdict(Action.Block, <u32>code, r);
}

/**
 * Replaces the frame, e.g. with secrets redacted. It must stay a JSON-RPC
 * 2.0 object with the original "id", or the gateway counts a failure.
 */
export function rewrite(frame: Uint8Array): Verdict {
  return new Verdict(Action.Rewrite, 0, frame);
}

/** Sends the request to call.replicas[i] (onRoute only). */
export function routeTo(i: i32): Verdict {
  return new Verdict(Action.Route, <u32>i, null);
}

// ---------------------------------------------------------------- handlers

/** A hook handler. AssemblyScript has no closures: pass a top-level function. */
export type Handler = (call: Call) => Verdict;

/** Registers the request guard: frames from client to server. */
export function onRequest(h: Handler): void { handlers[Hook.RequestGuard] = h; }
/** Registers the response guard: results, errors and notifications from server to client. */
export function onResponse(h: Handler): void { handlers[Hook.ResponseGuard] = h; }
/** Registers the tool-list filter: tools/list results; rewrite the frame to hide tools. */
export function onToolList(h: Handler): void { handlers[Hook.ToolFilter] = h; }
/** Registers the routing strategy: answer routeTo(i). */
export function onRoute(h: Handler): void { handlers[Hook.Route] = h; }
/** Registers the audit sink: the frame is a finished audit record. */
export function onAudit(h: Handler): void { handlers[Hook.Audit] = h; }

// ---------------------------------------------------------------- ABI entry points

if (ASC_RUNTIME == 0) {
  // The stub runtime never frees: an instance would grow until it traps.
  ERROR("@portcullis/sdk needs the minimal or incremental runtime (use its asconfig.json)");
}

/** ABI version marker; the host never calls it. */
export function portcullis_abi_v1(): void {}

/** Hands the host a buffer of size bytes for input messages. */
export function portcullis_alloc(size: u32): usize {
  if (size > <u32>i32.MAX_VALUE) return 0;
  input = new ArrayBuffer(<i32>size); // the old one is the collector's from now on
  return changetype<usize>(input);
}

/** The mask of hooks with a handler (bit h for hook h). */
export function portcullis_hooks(): u32 {
  let mask: u32 = 0;
  for (let h = Hook.RequestGuard; h <= Hook.Audit; h++) {
    if (handlers[h] != null) mask |= 1 << h;
  }
  return mask;
}

export function portcullis_request_guard(ptr: usize, len: u32): u64 { return entry(Hook.RequestGuard, ptr, len); }
export function portcullis_response_guard(ptr: usize, len: u32): u64 { return entry(Hook.ResponseGuard, ptr, len); }
export function portcullis_tool_filter(ptr: usize, len: u32): u64 { return entry(Hook.ToolFilter, ptr, len); }
export function portcullis_route(ptr: usize, len: u32): u64 { return entry(Hook.Route, ptr, len); }
export function portcullis_audit(ptr: usize, len: u32): u64 { return entry(Hook.Audit, ptr, len); }

function entry(hook: Hook, ptr: usize, len: u32): u64 {
  current = hook;
  const res = dispatch(hook, ptr, len);
  call.reset();
  current = 0;
  // No managed value lives in a local here, which the minimal runtime's
  // collector needs; collecting per call frees the call's garbage at once.
  __collect();
  return res;
}

function dispatch(hook: Hook, ptr: usize, len: u32): u64 {
  const h = handlers[hook];
  if (h == null) {
    log(Level.Error, "portcullis: no handler registered for hook " + hookName(hook));
    return 0;
  }
  let buf = input;
  if (ptr != changetype<usize>(buf) || len > <u32>buf.byteLength) {
    // Not our buffer (the ABI says it is): copy rather than trust it.
    if (len > <u32>i32.MAX_VALUE) return 0;
    buf = new ArrayBuffer(<i32>len);
    memory.copy(changetype<usize>(buf), ptr, len);
  }
  const err = call.decode(hook, buf, <i32>len);
  if (err.length > 0) {
    log(Level.Error, "portcullis: bad input message for " + hookName(hook) + ": " + err);
    return 0;
  }
  return encode(h(call));
}

// encode writes v to the verdict buffer (ABI §7) and returns (ptr << 32) | len.
function encode(v: Verdict): u64 {
  const payload = v.payload;
  let n = 0;
  let value: u32 = 0;
  if (v.action == Action.Block) {
    value = v.value;
    if (payload != null) n = payload.length;
  } else if (v.action == Action.Rewrite) {
    if (payload != null) n = payload.length;
  } else if (v.action == Action.Route) {
    value = v.value;
  }
  const size = VERDICT_HEADER + n;
  if (size > outCap) {
    if (out != 0) heap.free(out);
    outCap = max(size, 256);
    out = heap.alloc(outCap);
  }
  store<u32>(out, 1 | (<u32>v.action << 8)); // version, action, reserved
  store<u32>(out, value, 4);
  store<u32>(out, n, 8);
  if (n > 0) memory.copy(out + VERDICT_HEADER, payload!.dataStart, n);
  return (<u64>out << 32) | <u64>size;
}

/**
 * Where abort goes (asconfig.json: --use abort=portcullis_abort): a throw,
 * a failed assert or an out-of-range index is logged, then traps, so the
 * gateway replaces the instance and applies the binding's failure policy.
 */
// @ts-ignore: decorator
@global export function portcullis_abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  if (!aborting) {
    aborting = true; // an abort while reporting one just traps
    let at = "";
    if (fileName != null) at = " (" + fileName + ":" + line.toString() + ":" + column.toString() + ")";
    const what = current != 0 ? hookName(current) + " handler" : "plugin";
    log(Level.Error, "portcullis: " + what + " aborted: " + (message != null ? message : "abort") + at);
  }
  unreachable();
}
