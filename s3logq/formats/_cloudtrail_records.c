/* CloudTrail files ({"Records":[{...},...]}) -> Arrow column buffers, in one pass, without the GIL.
 *
 * Why native: orjson plus building Arrow columns from Python objects held the GIL for ~2 CPU-seconds per
 * 100 MB, and Arrow's own JSON reader (after rewriting the file as one record per line) still took ~1.2.
 * This reads each byte once and writes the columns the table keeps, laid out as Python describes them
 * (cloudtrail.py's _NATIVE_LAYOUT): text, flags, structs, lists of structs, and values kept as JSON text.
 *
 * It is exact or it leaves a record to Python. JSON text must be byte for byte what orjson.dumps writes for the value, so
 * a value kept as text is accepted only in that form: no whitespace, strings escaped only where JSON
 * requires it (\" \\ \b \f \n \r \t, lower-case \u00xx for other control characters), integers of at most
 * 18 digits, decimals of at most 15 digits without exponent or trailing zeros, no key twice in an object.
 * Other escapes in JSON text (\/, \u00e9, a surrogate pair: what json.dumps writes) are written as orjson
 * writes their characters. A record holding a value of a type its column does not take, a key given twice, an
 * escaped key name, a lone surrogate escape, deep nesting, or that is not an object, is taken back out of the
 * columns and named, with its place in the file, for the Python parser to read (one such record costs only
 * itself). A file with invalid UTF-8, a record that is not well-formed JSON, or a document of another shape: the
 * function returns None, and the Python parser reads the file (or says why it cannot).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_text.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64          /* deeper values are left to the Python parser */
#define MAX_KEYS 64           /* so is an object kept as text with more keys (checked for duplicates) */
#define MAX_INT_DIGITS 18     /* always within orjson's 64-bit integers */
#define MAX_DECIMAL_DIGITS 15 /* always read back as the same shortest decimal */
#define MAX_SKIP_DEPTH 512    /* a record left to Python nested deeper declines the file */

/* JSON: the value's compact JSON text; MAP: an object of text values, as keys and values (its two fields) */
typedef enum { TEXT, JSON, FLAG, STRUCT, LIST, MAP } Kind;
static const char *const KIND_NAMES[] = {"text", "json", "flag", "struct", "list", "map"};

typedef struct {
    char *data;
    Py_ssize_t size, capacity;
} Buffer;

typedef struct Column {
    Kind kind;
    const char *key; /* CloudTrail's name (UTF-8 owned by the layout) */
    Py_ssize_t key_length;
    struct Column *fields; /* STRUCT: its fields; LIST: its item (a STRUCT); MAP: keys and values; JSON: keys
                              of the object copied as text */
    int n_fields;
    int next_field;    /* where the next key is looked for first: records list their keys in the same order */
    Py_ssize_t length; /* entries so far */
    Buffer validity, offsets, data; /* offsets: TEXT, JSON, LIST, MAP; data: UTF-8 of TEXT and JSON, FLAG's bits */
    Py_ssize_t saved_length, saved_validity, saved_offsets, saved_data; /* before the record being read */
} Column;

typedef struct {
    const char *p, *end; /* the input is a bytes object: *end is its NUL, which no rule below accepts */
    const char *begin;
} Scan;

typedef struct {
    const char *start;
    Py_ssize_t length;
} Span;

/* --- buffers -------------------------------------------------------------------------------------- */

static int grow(Buffer *b, Py_ssize_t n) {
    Py_ssize_t capacity = b->capacity ? b->capacity : 4096;
    while (capacity < b->size + n) capacity *= 2;
    char *grown = realloc(b->data, (size_t)capacity);
    if (!grown) return -1;
    b->data = grown;
    b->capacity = capacity;
    return 0;
}

static inline int put(Buffer *b, const void *bytes, Py_ssize_t n) {
    if (b->size + n > b->capacity && grow(b, n) < 0) return -1;
    memcpy(b->data + b->size, bytes, (size_t)n);
    b->size += n;
    return 0;
}

static inline int put_byte(Buffer *b, char c) {
    if (b->size == b->capacity && grow(b, 1) < 0) return -1;
    b->data[b->size++] = c;
    return 0;
}

/* Appends one entry; its text or items are already in place. */
static int finish(Column *c, int valid) {
    Py_ssize_t i = c->length;
    if (i % 8 == 0 && (put_byte(&c->validity, 0) < 0 || (c->kind == FLAG && put_byte(&c->data, 0) < 0))) return -1;
    if (valid) c->validity.data[i / 8] |= (char)(1 << (i % 8));
    if (c->kind != FLAG && c->kind != STRUCT) {
        Py_ssize_t end = c->kind == LIST || c->kind == MAP ? c->fields[0].length : c->data.size;
        int32_t offset = (int32_t)end;
        if (end > INT32_MAX || put(&c->offsets, &offset, 4) < 0) return -1;
    }
    c->length++;
    return 0;
}

static int append_null(Column *c) {
    if (c->kind == STRUCT || c->kind == JSON) /* a null list or map has no items; a null struct null fields */
        for (int i = 0; i < c->n_fields; i++)
            if (append_null(&c->fields[i]) < 0) return -1;
    return finish(c, 0);
}

/* Fields not given in the entry being read become null. */
static int null_missing_fields(Column *c, Py_ssize_t entry) {
    for (int i = 0; i < c->n_fields; i++)
        if (c->fields[i].length == entry && append_null(&c->fields[i]) < 0) return -1;
    return 0;
}

/* Remembers where a column and its fields stand before a record, so that a record left to Python can be
 * taken back out. */
static void save(Column *c) {
    c->saved_length = c->length;
    c->saved_validity = c->validity.size;
    c->saved_offsets = c->offsets.size;
    c->saved_data = c->data.size;
    for (int i = 0; i < c->n_fields; i++) save(&c->fields[i]);
}

/* Bits from entry `length` on in the last byte of a bitmap cut back to that entry: finish() only sets bits. */
static void clear_bits_from(Buffer *bits, Py_ssize_t length) {
    if (length % 8) bits->data[length / 8] &= (char)((1 << (length % 8)) - 1);
}

static void restore(Column *c) {
    c->length = c->saved_length;
    c->validity.size = c->saved_validity;
    c->offsets.size = c->saved_offsets;
    c->data.size = c->saved_data;
    clear_bits_from(&c->validity, c->length);
    if (c->kind == FLAG) clear_bits_from(&c->data, c->length);
    for (int i = 0; i < c->n_fields; i++) restore(&c->fields[i]);
}

/* --- JSON tokens ---------------------------------------------------------------------------------- */

static void skip_space(Scan *s) {
    while (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t') s->p++;
}

/* The four hex digits after the `u` at e, or -1. */
static int hex4(const char *e) {
    int code = 0;
    for (int k = 1; k <= 4; k++) {
        int digit = hex_value(e[k]); /* stops at the NUL after the input */
        if (digit < 0) return -1;
        code = code * 16 + digit;
    }
    return code;
}

/* The code point of the \u escape whose `u` is at e, a surrogate pair read as one (then `*length` is 11, else
 * 5), or -1 for a lone surrogate (orjson refuses those). */
static int escaped_code_length(const char *e, int *length) {
    int code = hex4(e);
    *length = 5;
    if (code < 0xD800 || code > 0xDFFF) return code;
    if (code > 0xDBFF || e[5] != '\\' || e[6] != 'u') return -1;
    int low = hex4(e + 6);
    if (low < 0xDC00 || low > 0xDFFF) return -1;
    *length = 11;
    return 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
}

/* A code point as UTF-8 into utf8[4]; returns its length. */
static int utf8_of(int code, char *utf8) {
    if (code < 0x80) {
        utf8[0] = (char)code;
        return 1;
    }
    if (code < 0x800) {
        utf8[0] = (char)(0xC0 | code >> 6);
        utf8[1] = (char)(0x80 | (code & 0x3F));
        return 2;
    }
    if (code < 0x10000) {
        utf8[0] = (char)(0xE0 | code >> 12);
        utf8[1] = (char)(0x80 | ((code >> 6) & 0x3F));
        utf8[2] = (char)(0x80 | (code & 0x3F));
        return 3;
    }
    utf8[0] = (char)(0xF0 | code >> 18);
    utf8[1] = (char)(0x80 | ((code >> 12) & 0x3F));
    utf8[2] = (char)(0x80 | ((code >> 6) & 0x3F));
    utf8[3] = (char)(0x80 | (code & 0x3F));
    return 4;
}

/* After a backslash: the escape's length, or 0 if invalid. `*canonical` is cleared unless orjson writes the
 * character the same way: a short form where JSON has one, lower-case \u00xx for other control characters. */
static int escape_length(const char *e, int *canonical) {
    switch (*e) {
    case '"': case '\\': case 'b': case 'f': case 'n': case 'r': case 't': return 1;
    case '/': *canonical = 0; return 1;
    case 'u': break;
    default: return 0;
    }
    int length;
    int code = escaped_code_length(e, &length);
    if (code < 0) return 0;
    if (length == 11) {
        *canonical = 0;
        return 11;
    }
    int upper = (e[3] >= 'A' && e[3] <= 'F') || (e[4] >= 'A' && e[4] <= 'F');
    if (upper || code >= 0x20 || code == '\b' || code == '\f' || code == '\n' || code == '\r' || code == '\t')
        *canonical = 0;
    return 5;
}

/* The first quote, backslash or control character from p on: the bytes that end a plain run of a string.
 * Eight bytes at a time (the lowest flagged byte is exact); the NUL after the input ends the search. */
static const char *next_special(const char *p, const char *end) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    for (; end - p >= 8; p += 8) {
        uint64_t w, quote, backslash, special;
        memcpy(&w, p, 8);
        quote = w ^ (ones * '"');
        backslash = w ^ (ones * '\\');
        special = ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | ((w - ones * 0x20) & ~w);
        special &= highs;
        if (special) return p + (__builtin_ctzll(special) >> 3); /* little-endian: the lowest byte comes first */
    }
    while (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
    return p;
}

/* A string at s->p: `*span` is its raw text with the quotes; `*plain`: it has no escape at all. */
static int scan_string(Scan *s, Span *span, int *canonical, int *plain) {
    const char *start = s->p++;
    *canonical = *plain = 1;
    for (;;) {
        s->p = next_special(s->p, s->end);
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') break;
        if (c < 0x20) return -1; /* a raw control character, or the end of the input */
        int length = escape_length(s->p + 1, canonical);
        if (!length) return -1;
        *plain = 0;
        s->p += length + 1;
    }
    s->p++;
    span->start = start;
    span->length = s->p - start;
    return 0;
}

/* The text of a string's raw span, escapes decoded, appended to `out`. */
static int decode_string(Span span, int plain, Buffer *out) {
    const char *p = span.start + 1, *stop = span.start + span.length - 1;
    if (plain) return put(out, p, stop - p);
    while (p < stop) {
        const char *run = p;
        while (p < stop && *p != '\\') p++;
        if (put(out, run, p - run) < 0) return -1;
        if (p == stop) break;
        char c = p[1], utf8[4];
        int n = 1;
        p += 2;
        switch (c) {
        case 'b': utf8[0] = '\b'; break;
        case 'f': utf8[0] = '\f'; break;
        case 'n': utf8[0] = '\n'; break;
        case 'r': utf8[0] = '\r'; break;
        case 't': utf8[0] = '\t'; break;
        case 'u': {
            int length;
            int code = escaped_code_length(p - 1, &length);
            p += length - 1;
            n = utf8_of(code, utf8);
            break;
        }
        default: utf8[0] = c; /* " \ / */
        }
        if (put(out, utf8, n) < 0) return -1;
    }
    return 0;
}

/* A string's raw span as orjson.dumps writes the same text: only `"`, `\\` and control characters escaped,
 * the short forms where JSON has them, lower-case \u00xx for the other control characters. */
static int put_canonical_string(Span span, Buffer *out) {
    const char *p = span.start + 1, *stop = span.start + span.length - 1;
    static const char HEX[] = "0123456789abcdef";
    if (put_byte(out, '"') < 0) return -1;
    while (p < stop) {
        const char *run = p;
        while (p < stop && *p != '\\') p++;
        if (put(out, run, p - run) < 0) return -1;
        if (p == stop) break;
        char c = p[1];
        if (c != 'u' && c != '/') { /* \" \\ \b \f \n \r \t: orjson's own forms */
            if (put(out, p, 2) < 0) return -1;
            p += 2;
            continue;
        }
        int code = '/', length = 1;
        if (c == 'u') code = escaped_code_length(p + 1, &length);
        p += 1 + length;
        char text[6];
        int n;
        switch (code) {
        case '"': case '\\': text[0] = '\\'; text[1] = (char)code; n = 2; break;
        case '\b': memcpy(text, "\\b", 2); n = 2; break;
        case '\f': memcpy(text, "\\f", 2); n = 2; break;
        case '\n': memcpy(text, "\\n", 2); n = 2; break;
        case '\r': memcpy(text, "\\r", 2); n = 2; break;
        case '\t': memcpy(text, "\\t", 2); n = 2; break;
        default:
            if (code < 0x20) {
                memcpy(text, "\\u00", 4);
                text[4] = HEX[code >> 4];
                text[5] = HEX[code & 0xF];
                n = 6;
            } else {
                n = utf8_of(code, text);
            }
        }
        if (put(out, text, n) < 0) return -1;
    }
    return put_byte(out, '"');
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* A number in the form orjson writes it back (others: exponents, long ones, -0, are left to Python). */
static int scan_number(Scan *s, Buffer *out) {
    const char *start = s->p;
    if (*s->p == '-') s->p++;
    const char *integer = s->p;
    while (is_digit(*s->p)) s->p++;
    Py_ssize_t integer_digits = s->p - integer;
    if (integer_digits == 0 || (integer_digits > 1 && *integer == '0')) return -1;
    int zero = *integer == '0';
    if (*s->p == '.') {
        const char *fraction = ++s->p;
        while (is_digit(*s->p)) s->p++;
        Py_ssize_t fraction_digits = s->p - fraction, leading_zeros = 0;
        if (fraction_digits == 0) return -1;
        int only_zero = fraction_digits == 1 && *fraction == '0';
        if (!only_zero && s->p[-1] == '0') return -1; /* 1.50 is written back 1.5 */
        while (zero && leading_zeros < fraction_digits && fraction[leading_zeros] == '0') leading_zeros++;
        if (zero && !only_zero && leading_zeros > 3) return -1; /* 0.00001 and smaller get an exponent */
        Py_ssize_t digits = (zero ? 0 : integer_digits) + (only_zero ? 0 : fraction_digits - leading_zeros);
        if (digits > MAX_DECIMAL_DIGITS) return -1;
    } else if (integer_digits > MAX_INT_DIGITS || (zero && start != integer)) {
        return -1; /* -0 is written back 0 */
    }
    if (*s->p == 'e' || *s->p == 'E') return -1;
    return out ? put(out, start, s->p - start) : 0;
}

/* true, false or null; `*truth` says which of the first two. */
static int scan_literal(Scan *s, Buffer *out, int *truth) {
    static const char *const LITERALS[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        Py_ssize_t n = (Py_ssize_t)strlen(LITERALS[i]);
        if (s->end - s->p >= n && memcmp(s->p, LITERALS[i], (size_t)n) == 0) {
            s->p += n;
            *truth = i == 0;
            return out ? put(out, LITERALS[i], n) : 0;
        }
    }
    return -1;
}

/* --- JSON values: checked, and copied as compact text to `out` unless it is NULL ------------------ */

static int scan_value(Scan *s, Buffer *out, int depth);
static int read_string(Span span, int plain, Column *c);

static int key_is(Span key, const char *name, Py_ssize_t length) {
    if (key.length != length + 2) return 0;
    for (Py_ssize_t i = 0; i < length; i++) /* short keys: cheaper than a call to memcmp */
        if (key.start[i + 1] != name[i]) return 0;
    return 1;
}

static Column *find_field(Column *c, Span key) {
    for (int k = 0; k < c->n_fields; k++) {
        int i = (c->next_field + k) % c->n_fields;
        if (key_is(key, c->fields[i].key, c->fields[i].key_length)) {
            c->next_field = (i + 1) % c->n_fields;
            return &c->fields[i];
        }
    }
    return NULL;
}

/* A key and its colon, at s->p; `plain_only` refuses escaped keys (they may spell a key that is read). */
static int scan_key(Scan *s, Span *key, int *canonical, int plain_only) {
    int plain;
    if (*s->p != '"' || scan_string(s, key, canonical, &plain) < 0 || (plain_only && !plain)) return -1;
    skip_space(s);
    if (*s->p++ != ':') return -1;
    skip_space(s);
    return 0;
}

/* The object at s->p. When `picked` is given (a JSON column), its keys that name one of picked's fields
 * are also read into that field: a string as text, null as null (other values are left to Python). */
static int scan_object(Scan *s, Buffer *out, int depth, Column *picked) {
    Span keys[MAX_KEYS];
    int n_keys = 0;
    s->p++;
    skip_space(s);
    if (out && put_byte(out, '{') < 0) return -1;
    for (int first = 1; *s->p != '}'; first = 0) {
        Span key, value;
        int canonical;
        if (!first && (*s->p++ != ',' || (out && put_byte(out, ',') < 0))) return -1;
        skip_space(s);
        if (scan_key(s, &key, &canonical, 0) < 0) return -1;
        if (out) { /* orjson keeps one value per key, and writes its escapes its own way */
            if (!canonical || n_keys == MAX_KEYS) return -1;
            for (int i = 0; i < n_keys; i++)
                if (keys[i].length == key.length && !memcmp(keys[i].start, key.start, (size_t)key.length)) return -1;
            keys[n_keys++] = key;
            if (put(out, key.start, key.length) < 0 || put_byte(out, ':') < 0) return -1;
        }
        Column *field = picked ? find_field(picked, key) : NULL;
        if (field && *s->p != '"' && *s->p != 'n') return -1;
        value.start = s->p;
        if (scan_value(s, out, depth + 1) < 0) return -1;
        value.length = s->p - value.start;
        if (field && *value.start == '"' && read_string(value, !memchr(value.start, '\\', (size_t)value.length), field))
            return -1;
        skip_space(s);
    }
    s->p++;
    return out ? put_byte(out, '}') : 0;
}

static int scan_array(Scan *s, Buffer *out, int depth) {
    s->p++;
    skip_space(s);
    if (out && put_byte(out, '[') < 0) return -1;
    for (int first = 1; *s->p != ']'; first = 0) {
        if (!first && (*s->p++ != ',' || (out && put_byte(out, ',') < 0))) return -1;
        if (scan_value(s, out, depth + 1) < 0) return -1;
        skip_space(s);
    }
    s->p++;
    return out ? put_byte(out, ']') : 0;
}

static int scan_value(Scan *s, Buffer *out, int depth) {
    int truth;
    if (depth > MAX_DEPTH) return -1;
    skip_space(s);
    switch (*s->p) {
    case '{': return scan_object(s, out, depth, NULL);
    case '[': return scan_array(s, out, depth);
    case '"': {
        Span text;
        int canonical, plain;
        if (scan_string(s, &text, &canonical, &plain) < 0) return -1;
        if (!out) return 0;
        return canonical ? put(out, text.start, text.length) : put_canonical_string(text, out);
    }
    case 't': case 'f': case 'n': return scan_literal(s, out, &truth);
    default: return scan_number(s, out);
    }
}

/* --- any well-formed JSON value, only stepped over (a record left to Python) ------------------------- */

static int skip_value(Scan *s, int depth);

static int skip_string(Scan *s) {
    s->p++;
    for (;;) {
        s->p = next_special(s->p, s->end);
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') break;
        if (c < 0x20) return -1; /* a raw control character, or the end of the input */
        char e = s->p[1];
        if (e == 'u' && hex4(s->p + 1) >= 0) s->p += 6; /* a lone surrogate too: it is the record's reject */
        else if (e && strchr("\"\\/bfnrt", e)) s->p += 2;
        else return -1;
    }
    s->p++;
    return 0;
}

static int skip_digits(Scan *s) {
    if (!is_digit(*s->p)) return -1;
    while (is_digit(*s->p)) s->p++;
    return 0;
}

/* JSON's number grammar, whatever orjson makes of the value. */
static int skip_number(Scan *s) {
    if (*s->p == '-') s->p++;
    if (*s->p == '0') s->p++;
    else if (skip_digits(s) < 0) return -1;
    if (*s->p == '.' && (s->p++, skip_digits(s) < 0)) return -1;
    if (*s->p == 'e' || *s->p == 'E') {
        s->p++;
        if (*s->p == '+' || *s->p == '-') s->p++;
        if (skip_digits(s) < 0) return -1;
    }
    return 0;
}

static int skip_members(Scan *s, int depth, char close) {
    s->p++;
    skip_space(s);
    for (int first = 1; *s->p != close; first = 0) {
        if (!first && *s->p++ != ',') return -1;
        skip_space(s);
        if (close == '}') {
            if (*s->p != '"' || skip_string(s) < 0) return -1;
            skip_space(s);
            if (*s->p++ != ':') return -1;
        }
        if (skip_value(s, depth + 1) < 0) return -1;
        skip_space(s);
    }
    s->p++;
    return 0;
}

static int skip_value(Scan *s, int depth) {
    int truth;
    if (depth > MAX_SKIP_DEPTH) return -1;
    skip_space(s);
    switch (*s->p) {
    case '{': return skip_members(s, depth, '}');
    case '[': return skip_members(s, depth, ']');
    case '"': return skip_string(s);
    case 't': case 'f': case 'n': return scan_literal(s, NULL, &truth);
    default: return skip_number(s);
    }
}

/* --- values into columns -------------------------------------------------------------------------- */

static int read_value(Scan *s, Column *c, int depth);
static int read_list(Scan *s, Column *c, int depth, Buffer *patch);

static int read_string(Span span, int plain, Column *c) {
    return decode_string(span, plain, &c->data) < 0 ? -1 : finish(c, 1);
}

static int is_key_among(Span key, const Span *keys, int n) {
    for (int i = 0; i < n; i++)
        if (keys[i].length == key.length && !memcmp(keys[i].start, key.start, (size_t)key.length)) return 1;
    return 0;
}

/* `"key":` in a patch, after a comma unless it is the object's first member. */
static int put_member_key(Buffer *patch, Span key, int members) {
    return (members && put_byte(patch, ',') < 0) || put(patch, key.start, key.length) < 0 || put_byte(patch, ':') < 0
               ? -1 : 0;
}

/* An object into a STRUCT column (and the record itself into the root column). What the columns do not hold
 * (a key the layout does not name, a key given as null) is written to `patch` as members of a JSON object,
 * in the record's order, as the Python parser writes `unmapped`; a struct field's own leftovers as a nested
 * object. Returns the number of members written, or -1. Without a patch (a list's items), such keys decline. */
static int read_struct(Scan *s, Column *c, int depth, Buffer *patch) {
    Py_ssize_t entry = c->length;
    Span unknown[MAX_KEYS];
    int n_unknown = 0, members = 0, truth;
    s->p++;
    skip_space(s);
    for (int first = 1; *s->p != '}'; first = 0) {
        Span key;
        int canonical;
        if (!first && *s->p++ != ',') return -1;
        skip_space(s);
        if (scan_key(s, &key, &canonical, 1) < 0) return -1;
        Column *field = find_field(c, key);
        if (field && field->length > entry) return -1; /* a key given twice: Python keeps the last */
        if (!field || *s->p == 'n') {
            if (!patch) return -1;
            if (!field) { /* kept as its compact JSON text; Python would keep only the last of a key given twice */
                if (n_unknown == MAX_KEYS || is_key_among(key, unknown, n_unknown)) return -1;
                unknown[n_unknown++] = key;
            }
            if (put_member_key(patch, key, members++) < 0) return -1;
            if ((field ? scan_literal(s, patch, &truth) < 0 || append_null(field) < 0
                       : scan_value(s, patch, depth + 1) < 0))
                return -1;
        } else if (field->kind == STRUCT && patch) {
            Py_ssize_t mark = patch->size;
            int inner;
            if (*s->p != '{' || put_member_key(patch, key, members) < 0 || put_byte(patch, '{') < 0) return -1;
            if ((inner = read_struct(s, field, depth + 1, patch)) < 0) return -1;
            if (!inner) {
                patch->size = mark; /* nothing left over in it */
            } else {
                if (put_byte(patch, '}') < 0) return -1;
                members++;
            }
        } else if (field->kind == LIST && patch && *s->p == '[') {
            /* items with leftovers: the list stays typed, and the whole list is also kept as it came */
            Py_ssize_t mark = patch->size;
            Scan list = *s;
            int leftovers = read_list(s, field, depth + 1, patch);
            if (leftovers < 0) return -1;
            patch->size = mark;
            if (leftovers && (put_member_key(patch, key, members++) < 0 || scan_value(&list, patch, depth + 1) < 0))
                return -1;
        } else if (read_value(s, field, depth + 1) < 0) {
            return -1;
        }
        skip_space(s);
    }
    s->p++;
    return null_missing_fields(c, entry) < 0 || finish(c, 1) < 0 ? -1 : members;
}

/* A list of objects into a LIST column; returns how many members its items left over (written to `patch`
 * for the caller to drop), or -1. */
static int read_list(Scan *s, Column *c, int depth, Buffer *patch) {
    int leftovers = 0, members;
    s->p++;
    skip_space(s);
    for (int first = 1; *s->p != ']'; first = 0) {
        if (!first && *s->p++ != ',') return -1;
        skip_space(s);
        if (*s->p != '{' || (members = read_struct(s, &c->fields[0], depth + 1, patch)) < 0) return -1;
        leftovers += members;
        skip_space(s);
    }
    s->p++;
    return finish(c, 1) < 0 ? -1 : leftovers;
}

/* An object of text (or null) values into a MAP column. */
static int read_map(Scan *s, Column *c, int depth) {
    Span keys[MAX_KEYS];
    int n_keys = 0, canonical;
    s->p++;
    skip_space(s);
    for (int first = 1; *s->p != '}'; first = 0) {
        Span key;
        if (!first && *s->p++ != ',') return -1;
        skip_space(s);
        if (scan_key(s, &key, &canonical, 1) < 0 || n_keys == MAX_KEYS || is_key_among(key, keys, n_keys)) return -1;
        keys[n_keys++] = key;
        if (read_string(key, 1, &c->fields[0]) < 0 || read_value(s, &c->fields[1], depth + 1) < 0) return -1;
        skip_space(s);
    }
    s->p++;
    return finish(c, 1);
}

/* A value kept as its compact JSON text, with the keys picked from it when it is an object. */
static int read_json_text(Scan *s, Column *c, int depth) {
    Py_ssize_t entry = c->length;
    int copied = *s->p == '{' ? scan_object(s, &c->data, depth, c) : scan_value(s, &c->data, depth);
    if (copied < 0 || null_missing_fields(c, entry) < 0) return -1;
    return finish(c, 1);
}

static int read_value(Scan *s, Column *c, int depth) {
    Span text;
    int canonical, plain, truth;
    if (depth > MAX_DEPTH) return -1;
    if (*s->p == 'n') return scan_literal(s, NULL, &truth) < 0 ? -1 : append_null(c);
    switch (c->kind) {
    case TEXT:
        if (*s->p != '"' || scan_string(s, &text, &canonical, &plain) < 0) return -1;
        return read_string(text, plain, c);
    case FLAG:
        if ((*s->p != 't' && *s->p != 'f') || scan_literal(s, NULL, &truth) < 0 || finish(c, 1) < 0) return -1;
        if (truth) c->data.data[(c->length - 1) / 8] |= (char)(1 << ((c->length - 1) % 8));
        return 0;
    case STRUCT: return *s->p == '{' && read_struct(s, c, depth, NULL) >= 0 ? 0 : -1;
    case LIST: return *s->p == '[' && read_list(s, c, depth, NULL) >= 0 ? 0 : -1;
    case MAP: return *s->p == '{' ? read_map(s, c, depth) : -1;
    case JSON: return read_json_text(s, c, depth);
    }
    return -1;
}

/* One record: its columns, and what they do not hold as a JSON object in `unmapped` (null when nothing). */
static int read_record(Scan *s, Column *record, Column *unmapped) {
    Py_ssize_t mark = unmapped->data.size;
    int members;
    if (*s->p != '{' || put_byte(&unmapped->data, '{') < 0) return -1;
    if ((members = read_struct(s, record, 1, &unmapped->data)) < 0) return -1;
    if (!members) unmapped->data.size = mark;
    return (members && put_byte(&unmapped->data, '}') < 0) ? -1 : finish(unmapped, members > 0);
}

/* The records found: where each one's text starts and ends in the input (int64 pairs), and the numbers
 * (int32, from 1) of those left to Python. */
typedef struct {
    Buffer spans, left;
} Records;

/* The Records array: each object it reads is a row. A record it cannot read exactly (or a value that is not an
 * object: the Python parser keeps it aside as a reject) is taken back out of the columns and left to Python; a
 * record that is not well-formed JSON declines the file. */
static int read_records(Scan *s, Column *record, Column *unmapped, Records *found) {
    if (*s->p != '[') return -1;
    s->p++;
    skip_space(s);
    for (int32_t number = 1; *s->p != ']'; number++) {
        if (number > 1 && *s->p++ != ',') return -1;
        skip_space(s);
        const char *start = s->p;
        save(record);
        save(unmapped);
        if (read_record(s, record, unmapped) < 0) {
            restore(record);
            restore(unmapped);
            s->p = start;
            if (skip_value(s, 1) < 0 || put(&found->left, &number, 4) < 0) return -1;
        }
        int64_t span[2] = {start - s->begin, s->p - s->begin};
        if (put(&found->spans, span, sizeof span) < 0) return -1;
        skip_space(s);
    }
    s->p++;
    return 0;
}

/* The whole document: an object with one Records key, and nothing after it. */
static int read_document(Scan *s, Column *record, Column *unmapped, Records *found) {
    int seen = 0;
    skip_space(s);
    if (*s->p != '{') return -1;
    s->p++;
    skip_space(s);
    for (int first = 1; *s->p != '}'; first = 0) {
        Span key;
        int canonical;
        if (!first && *s->p++ != ',') return -1;
        skip_space(s);
        if (scan_key(s, &key, &canonical, 1) < 0) return -1;
        int records = key_is(key, "Records", 7);
        if (records && seen++) return -1;
        if ((records ? read_records(s, record, unmapped, found) : scan_value(s, NULL, 1)) < 0) return -1;
        skip_space(s);
    }
    s->p++;
    skip_space(s);
    return seen && s->p == s->end ? 0 : -1;
}

/* --- the layout, from Python, and the columns, to Python ----------------------------------------- */

static void free_columns(Column *fields, int n) {
    for (int i = 0; fields && i < n; i++) {
        free_columns(fields[i].fields, fields[i].n_fields);
        free(fields[i].validity.data);
        free(fields[i].offsets.data);
        free(fields[i].data.data);
    }
    free(fields);
}

static int from_layout(PyObject *layout, Column **fields, int *n);

/* One column from a (name, key, kind, fields) tuple. */
static int column_from(PyObject *node, Column *c) {
    PyObject *name, *key, *kind, *fields;
    int32_t zero = 0;
    if (!PyArg_ParseTuple(node, "UUUO!", &name, &key, &kind, &PyTuple_Type, &fields)) return -1;
    c->key = PyUnicode_AsUTF8AndSize(key, &c->key_length);
    const char *kind_name = PyUnicode_AsUTF8(kind);
    if (!c->key || !kind_name) return -1;
    for (c->kind = TEXT; c->kind <= MAP && strcmp(kind_name, KIND_NAMES[c->kind]) != 0; c->kind++) {}
    if (c->kind > MAP) {
        PyErr_Format(PyExc_ValueError, "unknown column kind %s", kind_name);
        return -1;
    }
    if (c->kind != FLAG && c->kind != STRUCT && put(&c->offsets, &zero, 4) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return from_layout(fields, &c->fields, &c->n_fields);
}

static int from_layout(PyObject *layout, Column **fields, int *n) {
    *n = (int)PyTuple_GET_SIZE(layout);
    *fields = calloc((size_t)*n + 1, sizeof(Column));
    if (!*fields) {
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < *n; i++)
        if (column_from(PyTuple_GET_ITEM(layout, i), &(*fields)[i]) < 0) return -1;
    return 0;
}

static PyObject *bytes_of(const Buffer *b) { return PyBytes_FromStringAndSize(b->size ? b->data : "", b->size); }

/* (length, validity, offsets or None, data or None) of each column, fields after their column. */
static int export_columns(const Column *fields, int n, PyObject *into) {
    for (int i = 0; i < n; i++) {
        const Column *c = &fields[i];
        int offsets = c->kind != FLAG && c->kind != STRUCT;
        int data = c->kind == TEXT || c->kind == JSON || c->kind == FLAG;
        PyObject *entry = Py_BuildValue("(nNNN)", c->length, bytes_of(&c->validity),
                                        offsets ? bytes_of(&c->offsets) : Py_NewRef(Py_None),
                                        data ? bytes_of(&c->data) : Py_NewRef(Py_None));
        if (!entry || PyList_Append(into, entry) < 0) {
            Py_XDECREF(entry);
            return -1;
        }
        Py_DECREF(entry);
        if (export_columns(c->fields, c->n_fields, into) < 0) return -1;
    }
    return 0;
}

static PyObject *read_cloudtrail(PyObject *self, PyObject *args) {
    PyObject *data, *layout, *result = NULL;
    if (!PyArg_ParseTuple(args, "O!O!", &PyBytes_Type, &data, &PyTuple_Type, &layout)) return NULL;
    int32_t zero = 0;
    Column record = {.kind = STRUCT}, unmapped = {.kind = JSON};
    Records found = {0};
    if (from_layout(layout, &record.fields, &record.n_fields) < 0) goto done;
    if (put(&unmapped.offsets, &zero, 4) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(data);
    Scan s = {.p = PyBytes_AS_STRING(data), .end = PyBytes_AS_STRING(data) + size, .begin = PyBytes_AS_STRING(data)};
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = valid_utf8((const unsigned char *)s.p, size) ? read_document(&s, &record, &unmapped, &found) : -1;
    Py_END_ALLOW_THREADS
    if (status < 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    PyObject *columns = PyList_New(0);
    if (columns && export_columns(record.fields, record.n_fields, columns) == 0 &&
        export_columns(&unmapped, 1, columns) == 0)
        result = Py_BuildValue("(nNNN)", record.length, columns, bytes_of(&found.spans), bytes_of(&found.left));
    else
        Py_XDECREF(columns);
done:
    free_columns(record.fields, record.n_fields);
    free(record.validity.data);
    free(unmapped.validity.data);
    free(unmapped.offsets.data);
    free(unmapped.data.data);
    free(found.spans.data);
    free(found.left.data);
    return result;
}

static PyMethodDef METHODS[] = {
    {"read_cloudtrail", read_cloudtrail, METH_VARARGS,
     "A CloudTrail file's records as (rows, column buffers, record spans, records left to Python), or None to "
     "leave the file to Python."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, .m_name = "_cloudtrail_records", .m_size = -1,
                                    .m_methods = METHODS};

PyMODINIT_FUNC PyInit__cloudtrail_records(void) { return PyModule_Create(&MODULE); }
