// Checks the SDK's byte and JSON helpers inside a real instance: sdk_test.go
// calls the request guard once; it blocks with the list of failed checks, or
// allows when every check passes.
import {
  Call, Verdict, ByteWriter, allow, block, onRequest, bytes, text, equal, indexOf, indexOfIgnoreCase,
  containsIgnoreCase, replaceAll, jsonGet, jsonString, jsonArray, jsonInt, jsonBool, jsonUnescape,
} from "../index";
export * from "../exports";

let failed: string[] = [];

onRequest(selftest);

function check(ok: bool, what: string): void {
  if (!ok) failed.push(what);
}

function is(raw: Uint8Array | null, want: string): bool {
  return raw != null && text(raw) == want;
}

function selftest(call: Call): Verdict {
  failed = [];
  const hello = bytes("hello world");
  check(indexOf(hello, bytes("world")) == 6, "indexOf");
  check(indexOf(hello, bytes("o"), 5) == 7, "indexOf from");
  check(indexOf(hello, bytes("xyz")) == -1, "indexOf absent");
  check(indexOf(hello, bytes(""), 3) == 3, "indexOf empty needle");
  check(indexOf(hello, bytes("world!")) == -1, "indexOf past the end");
  const long = bytes("a".repeat(100) + "needle" + "b".repeat(30));
  check(indexOf(long, bytes("needle")) == 100, "indexOf in a long haystack");
  check(indexOfIgnoreCase(long, bytes("NEEDLE")) == 100, "indexOfIgnoreCase in a long haystack");
  const pad = "x".repeat(45); // long enough for the 32-byte steps
  check(indexOfIgnoreCase(bytes(pad + "RM -RF" + pad), bytes("rm -rf")) == 45, "indexOfIgnoreCase");
  check(indexOfIgnoreCase(bytes(pad + "@pATH-" + pad), bytes("@path-")) == 45, "indexOfIgnoreCase, symbols at both ends");
  check(!containsIgnoreCase(bytes(pad + "`path-" + pad), bytes("@PATH-")), "containsIgnoreCase folds letters only");
  check(indexOf(bytes(pad + "r rm -r rm -rf"), bytes("rm -rf")) == 53, "indexOf after near misses");
  check(indexOfIgnoreCase(bytes(pad + pad + "Rm -rF"), bytes("rm -rf")) == 90, "indexOfIgnoreCase at the very end");
  for (let k = 0; k < 40; k++) { // every alignment against the steps
    if (indexOf(bytes("y".repeat(k) + "needle" + pad), bytes("needle")) != k) check(false, "indexOf at " + k.toString());
  }
  check(equal(bytes("abc"), bytes("abc")) && !equal(bytes("abc"), bytes("abd")), "equal");
  check(text(replaceAll(bytes("a-b--c"), bytes("-"), bytes("+"))) == "a+b++c", "replaceAll");
  const same = bytes("abc");
  check(replaceAll(same, bytes("x"), bytes("y")) === same, "replaceAll without a match");
  check(text(bytes("héllo 😀")) == "héllo 😀", "bytes and text round trip");

  const longString = bytes('{"a": "' + "z".repeat(70) + '\\"' + "z".repeat(40) + '", "b": [' + "[1],".repeat(20) + '{"c": "}"}], "d": 4}');
  check(is(jsonGet(longString, "d"), "4"), "jsonGet past long strings and arrays");
  const doc = bytes(' { "a" : {"b": [1, 2]}, "s": "x\\"}", "a": {"b": "last"}, "n": -12 } ');
  check(is(jsonGet(doc, "a.b"), '"last"'), "jsonGet: the last duplicate wins");
  check(is(jsonGet(doc, "n"), "-12"), "jsonGet: spaces");
  check(is(jsonGet(doc, ""), '{ "a" : {"b": [1, 2]}, "s": "x\\"}", "a": {"b": "last"}, "n": -12 }'), "jsonGet: the document");
  check(jsonGet(doc, "a.c") == null && jsonGet(doc, "n.x") == null, "jsonGet: absent");
  check(jsonGet(bytes('{"a": 1'), "a") == null, "jsonGet: cut document");
  check(jsonGet(bytes("[1]"), "a") == null, "jsonGet: not an object");
  check(is(jsonGet(bytes('{"\\u006bey": true}'), "key"), "true"), "jsonGet: escaped key");
  check(is(jsonGet(bytes('{"clé": 1}'), "clé"), "1"), "jsonGet: UTF-8 key");

  const s = jsonString(bytes('"a\\nb\\u00e9\\ud83d\\ude00\\"\\\\\\/"'));
  check(s != null && s == 'a\nbé😀"\\/', "jsonString escapes");
  const lone = jsonString(bytes('"\\ud800x"'));
  check(lone != null && lone == "\ufffdx", "jsonString: lone surrogate");
  check(jsonString(bytes("12")) == null && jsonString(null) == null && jsonString(bytes('"open')) == null, "jsonString: not a string");

  const arr = jsonArray(bytes('[1, "x" ,{"a":[2]} ]'));
  check(arr != null && arr.length == 3 && is(arr[0], "1") && is(arr[1], '"x"') && is(arr[2], '{"a":[2]}'), "jsonArray");
  const empty = jsonArray(bytes("[ ]"));
  check(empty != null && empty.length == 0, "jsonArray: empty");
  check(jsonArray(bytes("[1,]")) == null && jsonArray(bytes("{}")) == null, "jsonArray: malformed");

  check(jsonInt(bytes("-32050")) == -32050 && jsonInt(bytes("1.5"), 7) == 7 && jsonInt(null, 3) == 3, "jsonInt");
  check(jsonBool(bytes("true")) && !jsonBool(bytes("false")) && !jsonBool(null), "jsonBool");
  check(text(jsonUnescape(bytes('{"cmd":"rm \\u002drf \\"x\\""}'))) == '{"cmd":"rm -rf "x""}', "jsonUnescape");

  const w = new ByteWriter(1);
  w.writeQuoted(bytes('a"b\\c\n\x01é')).writeString("+").write(bytes("0123456789"), 2, 4).writeByte(0x21);
  check(text(w.bytes()) == '"a\\"b\\\\c\\n\\u0001é"+23!' && w.length == 23, "ByteWriter: " + text(w.bytes()));

  return failed.length == 0 ? allow() : block(failed.join("; "));
}
