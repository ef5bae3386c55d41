/**
 * A streaming JSON validator (RFC 8259) that reads bytes and builds nothing.
 *
 * State bodies can be hundreds of MB of any shape, so a parser that materialises values (or even
 * strings) lets a client choose how much memory and CPU the server spends. This scanner is a
 * byte-at-a-time state machine: time is linear in the input, memory is a fixed bitset of open
 * containers plus one small capture buffer, and chunks may be split anywhere (inside a token, an
 * escape, a UTF-8 sequence or a number).
 *
 * The only values it reports are those a caller needs to pick a few fields out of the root object:
 * see RootMemberListener.
 */

/** What a JSON value is, as `typeof` after JSON.parse would see it (plus array and null). */
export type JsonKind = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null';

/** Raw bytes kept from the input, exactly as written: a string keeps its quotes and escapes. */
export interface RawBytes {
  /** A shared buffer: only `bytes[0..length)` is meaningful, and only during the callback. */
  readonly bytes: Uint8Array;
  readonly length: number;
  /** The text was longer than the limit asked for: `bytes` holds only its beginning. */
  readonly tooLong: boolean;
}

/** One member of the root object. The same record is reused for every member. */
export interface RootMember {
  readonly kind: JsonKind;
  /** Byte offsets of the value in the whole input, end exclusive. */
  readonly start: number;
  readonly end: number;
  /** Direct children of an array or object value (elements or members); 0 for a scalar. */
  readonly children: number;
  /** The value as written, if onKey asked for it and it is a string or a number; else empty. */
  readonly raw: RawBytes;
}

/** Hooks into the members of the root object (nothing is reported when the root is not an object). */
export interface RootMemberListener {
  /** A key was read. Returns how many raw bytes of its value to keep (0 for none). */
  onKey(key: RawBytes): number;
  /** That key's value is complete. */
  onValue(member: RootMember): void;
}

export interface JsonScannerOptions {
  /** Deepest nesting accepted; the root object or array is depth 1. Default 1000. */
  readonly maxDepth?: number;
  /** Bytes kept at most of a root key or of a value onKey asks for. Default 512. */
  readonly maxCaptureBytes?: number;
  readonly listener?: RootMemberListener;
}

// Scanner states: small integers, dispatched by the one switch in write().
const VALUE = 0; // a value must come: at the start, after ':' or after ',' in an array
const VALUE_OR_CLOSE = 1; // just after '['
const KEY_OR_CLOSE = 2; // just after '{'
const KEY = 3; // after ',' in an object
const COLON = 4;
const AFTER_VALUE = 5; // ',' or the closer of the open container
const DONE = 6; // the root value is complete: only whitespace may follow
const STRING = 7;
const ESCAPE = 8; // after '\'
const UNICODE_ESCAPE = 9; // inside \uXXXX
const UTF8_TAIL = 10; // inside a multi-byte UTF-8 sequence
const NUM_MINUS = 11; // after '-': a digit must follow
const NUM_ZERO = 12; // after a leading 0: no more integer digits
const NUM_INT = 13;
const NUM_DOT = 14; // after '.': a digit must follow
const NUM_FRAC = 15;
const NUM_EXP = 16; // after 'e': a sign or a digit
const NUM_EXP_SIGN = 17; // after the exponent's sign: a digit must follow
const NUM_EXP_DIGITS = 18;
const LITERAL = 19; // inside true, false or null
const FAILED = 20;

const KIND_NAMES: readonly JsonKind[] = ['object', 'array', 'string', 'number', 'boolean', 'null'];
const OBJECT = 0;
const ARRAY = 1;
const STRING_KIND = 2;
const NUMBER_KIND = 3;
const BOOLEAN_KIND = 4;
const NULL_KIND = 5;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

const byteTable = (member: (byte: number) => boolean): Uint8Array => Uint8Array.from({ length: 256 }, (_, byte) => (member(byte) ? 1 : 0));

/** Bytes a string holds as they are: printable ASCII but the quote and the backslash. The hot loop runs over these. */
const PLAIN_STRING_BYTE = byteTable((b) => b >= 0x20 && b < 0x80 && b !== QUOTE && b !== BACKSLASH);
const WHITESPACE = byteTable((b) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d);
const DIGIT = byteTable((b) => b >= 0x30 && b <= 0x39);
const HEX_DIGIT = byteTable((b) => DIGIT[b] === 1 || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66));
/** The characters a backslash may escape, apart from u (which has its own state). */
const SIMPLE_ESCAPE = byteTable((b) => '"\\/bfnrt'.includes(String.fromCharCode(b)));

/**
 * UTF-8 as the WHATWG decoder checks it: for each lead byte, how many continuation bytes follow
 * and the range the first of them must fall in (the rest are 80..BF). The narrowed ranges refuse
 * overlong forms (E0, F0), UTF-16 surrogates (ED) and code points above U+10FFFF (F4).
 */
const UTF8_TAIL_LENGTH = new Uint8Array(256);
const UTF8_FIRST_LOW = new Uint8Array(256).fill(0x80);
const UTF8_FIRST_HIGH = new Uint8Array(256).fill(0xbf);
for (let b = 0xc2; b <= 0xdf; b++) UTF8_TAIL_LENGTH[b] = 1;
for (let b = 0xe0; b <= 0xef; b++) UTF8_TAIL_LENGTH[b] = 2;
for (let b = 0xf0; b <= 0xf4; b++) UTF8_TAIL_LENGTH[b] = 3;
UTF8_FIRST_LOW[0xe0] = 0xa0;
UTF8_FIRST_HIGH[0xed] = 0x9f;
UTF8_FIRST_LOW[0xf0] = 0x90;
UTF8_FIRST_HIGH[0xf4] = 0x8f;

/**
 * Whether a 4-byte word may hold a byte that is not a plain string byte (below 0x20, above 0x7F,
 * '"' or '\\'): SWAR tests, exact for 'below 0x20 or above 0x7F' and with no false negative for
 * the two others (v - 0x01010101 & ~v flags a zero byte, after XOR with the byte sought).
 */
const mayHoldSpecialByte = (v: number): boolean => {
  const quotes = v ^ 0x22222222;
  const backslashes = v ^ 0x5c5c5c5c;
  return (((v - 0x20202020) | v | ((quotes - 0x01010101) & ~quotes) | ((backslashes - 0x01010101) & ~backslashes)) & 0x80808080) !== 0;
};

/** Plain bytes in a row after which a string counts as long, worth reading a word at a time. */
const LONG_RUN = 32;

const LITERALS = { t: Buffer.from('true'), f: Buffer.from('false'), n: Buffer.from('null') };
const NO_BYTES = new Uint8Array(0);
const NO_WORDS = new Int32Array(0);
const BYTE_ORDER_MARK_LEAD = 0xef;

/** The bytes kept of one key or value, in a buffer allocated once. */
class Capture implements RawBytes {
  readonly bytes: Uint8Array;
  length = 0;
  tooLong = false;
  private limit = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }

  reset(limit: number): void {
    this.length = 0;
    this.tooLong = false;
    this.limit = limit > 0 ? Math.min(limit, this.bytes.length) : 0;
  }

  /** Copies by hand: at most `limit` bytes, and no subarray view to allocate. */
  append(chunk: Uint8Array, from: number, to: number): void {
    const room = this.limit - this.length;
    if (to - from > room) {
      this.tooLong = true;
      to = from + room;
    }
    for (let i = from; i < to; i++) this.bytes[this.length++] = chunk[i]!;
  }
}

class MemberRecord implements RootMember {
  kind: JsonKind = 'null';
  start = 0;
  end = 0;
  children = 0;
  constructor(readonly raw: Capture) {}
}

/**
 * Validates one JSON document fed in chunks: write() each chunk, then end() for the verdict.
 * The first error stops the scan; `error` has it as soon as it is found.
 */
export class JsonScanner {
  private readonly maxDepth: number;
  private readonly listener: RootMemberListener | undefined;
  /** One bit per open container, set for an object: the whole parse stack, maxDepth / 8 bytes. */
  private readonly containers: Uint8Array;
  private depth = 0;
  /** Whether the innermost open container is an object (cached from `containers`). */
  private inObject = false;
  private state = VALUE;
  /** Bytes in the chunks before the current one. */
  private offset = 0;
  private failure: string | undefined;
  private root = -1;

  private stringIsKey = false;
  private hexLeft = 0;
  private utf8Left = 0;
  private utf8Low = 0x80;
  private utf8High = 0xbf;
  private literal: Uint8Array = LITERALS.t;
  private literalAt = 0;

  private readonly capture: Capture;
  private readonly member: MemberRecord;
  /** Bytes are being kept from `captureFrom` in the current chunk (a root key, or a value asked for). */
  private capturing = false;
  private captureFrom = 0;
  private valueCaptureLimit = 0;
  /** The chunk being scanned, for the rare helpers that copy from it, and a word view of its memory (made on demand). */
  private chunk: Uint8Array = NO_BYTES;
  private words: Int32Array<ArrayBufferLike> = NO_WORDS;

  constructor(options: JsonScannerOptions = {}) {
    this.maxDepth = options.maxDepth ?? 1000;
    this.listener = options.listener;
    this.containers = new Uint8Array((this.maxDepth >> 3) + 1);
    this.capture = new Capture(options.maxCaptureBytes ?? 512);
    this.member = new MemberRecord(this.capture);
  }

  /** The first error, as a sentence; once set the rest of the input is ignored. */
  get error(): string | undefined {
    return this.failure;
  }

  /** The kind of the root value, once its first byte has been read. */
  get rootKind(): JsonKind | undefined {
    return KIND_NAMES[this.root];
  }

  write(chunk: Uint8Array): void {
    if (this.failure !== undefined) return;
    this.chunk = chunk;
    const n = chunk.length;
    let state = this.state;
    let i = 0;
    scan: while (i < n) {
      switch (state) {
        case STRING: {
          // Plain bytes by the table, LONG_RUN at most: a string still going after that is long
          // (a base64 payload, say) and goes on four bytes at a time.
          let stop = Math.min(n, i + LONG_RUN);
          while (PLAIN_STRING_BYTE[chunk[i]!] === 1) {
            if (++i < stop) continue;
            if (i === n || (i = this.skipPlainWords(chunk, i)) === n) break scan;
            stop = Math.min(n, i + LONG_RUN);
          }
          const b = chunk[i]!;
          if (b === QUOTE) {
            state = this.stringEnded(++i);
          } else if (b === BACKSLASH) {
            i++;
            state = ESCAPE;
          } else if (b < 0x20) {
            return this.fail(i, 'a string may not contain a raw control character');
          } else {
            i = this.multiByteCharacter(chunk, i);
            if (i < 0) return;
            if (this.utf8Left > 0) state = UTF8_TAIL;
          }
          continue scan;
        }
        case VALUE:
        case VALUE_OR_CLOSE: {
          while (WHITESPACE[chunk[i]!] === 1) if (++i === n) break scan;
          const b = chunk[i]!;
          switch (b) {
            case QUOTE:
              this.valueBegins(STRING_KIND, i);
              this.stringIsKey = false;
              state = STRING;
              i++;
              continue scan;
            case 0x7b: // {
              if (!this.open(OBJECT, i)) return;
              state = KEY_OR_CLOSE;
              i++;
              continue scan;
            case 0x5b: // [
              if (!this.open(ARRAY, i)) return;
              state = VALUE_OR_CLOSE;
              i++;
              continue scan;
            case 0x5d: // ]
              if (state !== VALUE_OR_CLOSE) return this.fail(i, 'expected a value');
              state = this.close(++i);
              continue scan;
            case 0x2d: // -
              this.valueBegins(NUMBER_KIND, i);
              state = NUM_MINUS;
              i++;
              continue scan;
            case 0x30:
              this.valueBegins(NUMBER_KIND, i);
              state = NUM_ZERO;
              i++;
              continue scan;
            case 0x74: // t
            case 0x66: // f
            case 0x6e: // n
              this.valueBegins(b === 0x6e ? NULL_KIND : BOOLEAN_KIND, i);
              this.literal = b === 0x74 ? LITERALS.t : b === 0x66 ? LITERALS.f : LITERALS.n;
              this.literalAt = 1;
              state = LITERAL;
              i++;
              continue scan;
            default:
              if (DIGIT[b] === 1) {
                this.valueBegins(NUMBER_KIND, i);
                state = NUM_INT;
                i++;
                continue scan;
              }
              return this.unexpected(i, b, 'expected a value');
          }
        }
        case AFTER_VALUE: {
          while (WHITESPACE[chunk[i]!] === 1) if (++i === n) break scan;
          const b = chunk[i]!;
          if (b === 0x2c) {
            state = this.inObject ? KEY : VALUE;
            i++;
          } else if (b === (this.inObject ? 0x7d : 0x5d)) {
            state = this.close(++i);
          } else {
            return this.unexpected(i, b, this.inObject ? "expected ',' or '}'" : "expected ',' or ']'");
          }
          continue scan;
        }
        case KEY_OR_CLOSE:
        case KEY: {
          while (WHITESPACE[chunk[i]!] === 1) if (++i === n) break scan;
          const b = chunk[i]!;
          if (b === QUOTE) {
            this.keyBegins(i);
            state = STRING;
            i++;
          } else if (b === 0x7d && state === KEY_OR_CLOSE) {
            state = this.close(++i);
          } else {
            return this.unexpected(i, b, state === KEY ? 'expected a string key' : "expected a string key or '}'");
          }
          continue scan;
        }
        case COLON: {
          while (WHITESPACE[chunk[i]!] === 1) if (++i === n) break scan;
          if (chunk[i] !== 0x3a) return this.unexpected(i, chunk[i]!, "expected ':' after a key");
          state = VALUE;
          i++;
          continue scan;
        }
        case DONE: {
          while (WHITESPACE[chunk[i]!] === 1) if (++i === n) break scan;
          return this.fail(i, 'unexpected data after the end of the document');
        }
        case ESCAPE: {
          const b = chunk[i]!;
          if (b === 0x75) {
            this.hexLeft = 4;
            state = UNICODE_ESCAPE;
          } else if (SIMPLE_ESCAPE[b] === 1) {
            state = STRING;
          } else {
            return this.fail(i, 'invalid escape sequence in a string');
          }
          i++;
          continue scan;
        }
        case UNICODE_ESCAPE: {
          if (HEX_DIGIT[chunk[i]!] !== 1) return this.fail(i, '\\u must be followed by four hex digits');
          i++;
          if (--this.hexLeft === 0) state = STRING;
          continue scan;
        }
        case UTF8_TAIL: {
          const tail = chunk[i]!;
          if (tail < this.utf8Low || tail > this.utf8High) return this.fail(i, 'invalid UTF-8');
          this.utf8Low = 0x80;
          this.utf8High = 0xbf;
          i++;
          if (--this.utf8Left === 0) state = STRING;
          continue scan;
        }
        case NUM_MINUS: {
          const b = chunk[i]!;
          if (DIGIT[b] !== 1) return this.fail(i, "expected a digit after '-'");
          state = b === 0x30 ? NUM_ZERO : NUM_INT;
          i++;
          continue scan;
        }
        case NUM_INT:
          while (DIGIT[chunk[i]!] === 1) if (++i === n) break scan;
        // After the integer digits, as after a leading 0: '.', an exponent or the end of the number.
        case NUM_ZERO: {
          const b = chunk[i]!;
          if (b === 0x2e) {
            state = NUM_DOT;
            i++;
          } else if (b === 0x65 || b === 0x45) {
            state = NUM_EXP;
            i++;
          } else if (DIGIT[b] === 1) {
            return this.fail(i, 'a number may not start with 0 followed by more digits');
          } else {
            state = this.valueEnded(i);
          }
          continue scan;
        }
        case NUM_DOT:
          if (DIGIT[chunk[i]!] !== 1) return this.fail(i, "expected a digit after '.'");
          state = NUM_FRAC;
          i++;
          continue scan;
        case NUM_FRAC: {
          while (DIGIT[chunk[i]!] === 1) if (++i === n) break scan;
          const b = chunk[i]!;
          if (b === 0x65 || b === 0x45) {
            state = NUM_EXP;
            i++;
          } else {
            state = this.valueEnded(i);
          }
          continue scan;
        }
        case NUM_EXP: {
          const b = chunk[i]!;
          if (b === 0x2b || b === 0x2d) state = NUM_EXP_SIGN;
          else if (DIGIT[b] === 1) state = NUM_EXP_DIGITS;
          else return this.fail(i, 'expected a digit in the exponent');
          i++;
          continue scan;
        }
        case NUM_EXP_SIGN:
          if (DIGIT[chunk[i]!] !== 1) return this.fail(i, 'expected a digit in the exponent');
          state = NUM_EXP_DIGITS;
          i++;
          continue scan;
        case NUM_EXP_DIGITS:
          while (DIGIT[chunk[i]!] === 1) if (++i === n) break scan;
          state = this.valueEnded(i);
          continue scan;
        case LITERAL: {
          const literal = this.literal;
          while (this.literalAt < literal.length) {
            if (chunk[i] !== literal[this.literalAt]) return this.fail(i, `expected the literal ${String.fromCharCode(...literal)}`);
            this.literalAt++;
            if (++i === n) break;
          }
          if (this.literalAt === literal.length) state = this.valueEnded(i);
          continue scan;
        }
        default: // FAILED: write() returns as soon as it fails, so never reached
          return;
      }
    }
    if (this.capturing) {
      this.capture.append(chunk, this.captureFrom, n);
      this.captureFrom = 0;
    }
    this.state = state;
    this.offset += n;
    this.forgetChunk();
  }

  /** Ends the input. Returns the first error as a sentence, or undefined for one valid JSON value. */
  end(): string | undefined {
    if (this.failure !== undefined) return this.failure;
    const state = this.state;
    // A number is the one token only the end of input can close, and at depth 0 there is no member to report.
    if (state === NUM_ZERO || state === NUM_INT || state === NUM_FRAC || state === NUM_EXP_DIGITS) this.state = this.valueEnded(0);
    if (this.state !== DONE) this.fail(0, this.root < 0 ? 'the document holds no value' : 'the document ends too early');
    return this.failure;
  }

  /**
   * Checks the UTF-8 sequence whose lead byte is at chunk index `i`, as far as the chunk goes.
   * Returns the index after it (what is left of a cut sequence is in utf8Left), or -1 once failed.
   */
  private multiByteCharacter(chunk: Uint8Array, i: number): number {
    const lead = chunk[i]!;
    let left = UTF8_TAIL_LENGTH[lead]!;
    if (left === 0) {
      this.fail(i, 'invalid UTF-8');
      return -1;
    }
    let low = UTF8_FIRST_LOW[lead]!;
    let high = UTF8_FIRST_HIGH[lead]!;
    for (i++; left > 0 && i < chunk.length; left--, i++) {
      const tail = chunk[i]!;
      if (tail < low || tail > high) {
        this.fail(i, 'invalid UTF-8');
        return -1;
      }
      low = 0x80;
      high = 0xbf;
    }
    this.utf8Left = left;
    this.utf8Low = low;
    this.utf8High = high;
    return i;
  }

  /**
   * Skips plain string bytes from chunk index `i`: byte by byte up to a 4-aligned address, then
   * whole words. A word test may flag a plain word (never the reverse), so the byte loop, which is
   * the judge, takes over at the first flagged word or at the chunk's last whole word.
   */
  private skipPlainWords(chunk: Uint8Array, i: number): number {
    const n = chunk.length;
    for (; ((chunk.byteOffset + i) & 3) !== 0; i++) if (i === n || PLAIN_STRING_BYTE[chunk[i]!] !== 1) return i;
    const words = this.wordsOf(chunk);
    const end = (chunk.byteOffset + n) >>> 2;
    let word = (chunk.byteOffset + i) >>> 2;
    while (word < end && !mayHoldSpecialByte(words[word]!)) word++;
    return word * 4 - chunk.byteOffset;
  }

  /** An Int32Array over the chunk's whole ArrayBuffer (so any 4-aligned address is a word), made once per chunk. */
  private wordsOf(chunk: Uint8Array): Int32Array<ArrayBufferLike> {
    if (this.words === NO_WORDS) this.words = new Int32Array(chunk.buffer, 0, chunk.buffer.byteLength >>> 2);
    return this.words;
  }

  private valueBegins(kind: number, i: number): void {
    if (this.depth <= 2) this.shallowValueBegins(kind, i);
  }

  /** Values at depth 0 to 2 feed the root kind, the root members and their children counts. */
  private shallowValueBegins(kind: number, i: number): void {
    if (this.depth === 2) {
      this.member.children++;
    } else if (this.depth === 0) {
      this.root = kind;
    } else if (this.inObject && this.listener !== undefined) {
      const member = this.member;
      member.kind = KIND_NAMES[kind]!;
      member.start = this.offset + i;
      member.children = 0;
      this.capture.reset(0);
      if ((kind === STRING_KIND || kind === NUMBER_KIND) && this.valueCaptureLimit > 0) this.startCapture(i, this.valueCaptureLimit);
    }
  }

  /** Returns the state after a value that ends just before chunk index `i`. */
  private valueEnded(i: number): number {
    if (this.depth > 1) return AFTER_VALUE;
    if (this.depth === 0) return DONE;
    if (this.inObject && this.listener !== undefined) {
      this.stopCapture(i);
      this.member.end = this.offset + i;
      this.listener.onValue(this.member);
    }
    return AFTER_VALUE;
  }

  private keyBegins(i: number): void {
    this.stringIsKey = true;
    // A root key is kept whole if the capture buffer holds it: the listener decides what it names.
    if (this.depth === 1 && this.listener !== undefined) this.startCapture(i, Number.POSITIVE_INFINITY);
  }

  /** Returns the state after a string whose closing quote is just before chunk index `i`. */
  private stringEnded(i: number): number {
    if (!this.stringIsKey) return this.valueEnded(i);
    if (this.depth === 1 && this.listener !== undefined) {
      this.stopCapture(i);
      this.valueCaptureLimit = this.listener.onKey(this.capture);
    }
    return COLON;
  }

  private startCapture(i: number, limit: number): void {
    this.capture.reset(limit);
    this.capturing = true;
    this.captureFrom = i;
  }

  private stopCapture(i: number): void {
    if (!this.capturing) return;
    this.capture.append(this.chunk, this.captureFrom, i);
    this.capturing = false;
  }

  /** Opens an object or array at chunk index `i`; false (and failed) when that is one level too deep. */
  private open(kind: number, i: number): boolean {
    const depth = this.depth;
    // The depth checks come first and inline: this runs for every bracket of a deeply nested body.
    if (depth <= 2) this.shallowValueBegins(kind, i);
    if (depth === this.maxDepth) {
      this.stop(`the document is nested more than ${this.maxDepth} levels deep at byte ${this.offset + i}`);
      return false;
    }
    const inner = depth + 1;
    const isObject = kind === OBJECT;
    if (isObject) this.containers[inner >> 3]! |= 1 << (inner & 7);
    else this.containers[inner >> 3]! &= ~(1 << (inner & 7));
    this.depth = inner;
    this.inObject = isObject;
    return true;
  }

  /** Closes the innermost container, whose closer is just before chunk index `i`. */
  private close(i: number): number {
    const depth = --this.depth;
    this.inObject = (this.containers[depth >> 3]! & (1 << (depth & 7))) !== 0;
    return depth > 1 ? AFTER_VALUE : this.valueEnded(i);
  }

  /** A byte that cannot come here; a non-ASCII one outside a string gets a clearer reason. */
  private unexpected(i: number, byte: number, expectation: string): void {
    if (byte < 0x80) return this.fail(i, expectation);
    if (byte === BYTE_ORDER_MARK_LEAD && this.offset + i === 0) return this.fail(i, 'a byte order mark may not start the document');
    this.fail(i, `${expectation}, not a non-ASCII byte`);
  }

  private fail(i: number, reason: string): void {
    this.stop(`not valid JSON at byte ${this.offset + i}: ${reason}`);
  }

  private stop(failure: string): void {
    this.failure ??= failure;
    this.state = FAILED;
    this.forgetChunk();
  }

  /** Drops the references to the caller's buffer, so a scanner never keeps a chunk alive. */
  private forgetChunk(): void {
    this.chunk = NO_BYTES;
    this.words = NO_WORDS;
  }
}
