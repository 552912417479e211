/* S3 server access log lines -> typed columns, in one pass, without the GIL.
 *
 * Why native: the format is not CSV (a bracketed time holding a space, quoted fields with backslash
 * escapes, fields appended over the years), and checking every row a generic tokenizer split cost more
 * than the split itself. This reads each line once, checks it, and writes Arrow-layout buffers
 * (offsets, data, validity bitmaps) that Python wraps without copying.
 *
 * A line is emitted only when it is certainly read right: every quote pairs up, the time is
 * `[dd/Mon/yyyy:HH:MM:SS +0000]`, status and sizes are digits or `-`, there are at least 19 tokens
 * (18 fields), the text is valid UTF-8 and the decoded key is too, the year is in [1970, 2199], and the line
 * holds no second record (a lost line end). Any other non-blank line is handed back, by number and byte range,
 * for the careful Python parser, which reads it or rejects it with a reason.
 *
 * LF, CRLF and a lone CR all end a line, and a UTF-8 byte order mark at the start of a line is not data.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_text.h"
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 28  /* 27 fields, the time counting as two tokens */
#define MIN_TOKENS 19  /* the oldest documented lines end after the version ID (field 18) */
#define MIN_YEAR 1970  /* request times outside [MIN_YEAR, MAX_YEAR] are rejected (as in access_log.py) */
#define MAX_YEAR 2199
#define TIME_LENGTH 28 /* `[06/Feb/2019:00:00:38 +0000]` */

/* Tokens kept as text, in output order; http_method (derived) is the last text column. */
static const int TEXT_TOKENS[] = {0, 1, 4, 5, 6, 7, 8, 9, 11, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27};
#define N_TEXT_TOKENS 21
#define N_TEXT (N_TEXT_TOKENS + 1)
#define KEY_TOKEN 8
#define URI_COLUMN 7 /* the request-URI's place in TEXT_TOKENS */
#define STATUS_TOKEN 10
static const int NUMBER_TOKENS[] = {12, 13, 14, 15}; /* bytessent, objectsize, totaltime, turnaroundtime */
#define N_NUMBERS 4
static const int QUOTED_TOKENS[] = {9, 16, 17}; /* request-URI, referer, user agent */

typedef struct {
    const char *start;
    Py_ssize_t length;
    int quoted;  /* value is inside quotes: backslash escapes apply */
    int escaped; /* holds a backslash escape (needs unescaping) */
} Token;

typedef struct {
    char *data;
    Py_ssize_t size, capacity;
} Bytes;

typedef struct {
    Bytes data;
    int32_t *offsets;
    uint8_t *validity;
} TextColumn;

typedef struct {
    Py_ssize_t rows, capacity, bad_count;
    int32_t *file_numbers, *line_numbers; /* where each row came from: file (0-based) and line (1-based) */
    int32_t *bad_files, *bad_lines;       /* the lines left to the careful parser */
    int64_t *bad_starts, *bad_ends;       /* and where they are in their buffer (BOM excluded) */
    int64_t *times;
    int16_t *status;
    uint8_t *status_valid;
    int64_t *numbers[N_NUMBERS];
    uint8_t *numbers_valid[N_NUMBERS];
    TextColumn text[N_TEXT];
    char *scratch; /* one decoded key */
    int failed;    /* out of memory */
} Output;

static int bytes_reserve(Bytes *b, Py_ssize_t extra) {
    if (b->size + extra <= b->capacity) return 0;
    Py_ssize_t capacity = b->capacity ? b->capacity : 1 << 18; /* past malloc's mmap threshold: grows by mremap */
    while (capacity < b->size + extra) capacity *= 2;
    char *grown = realloc(b->data, (size_t)capacity);
    if (!grown) return -1;
    b->data = grown;
    b->capacity = capacity;
    return 0;
}

static inline void set_bit(uint8_t *bitmap, Py_ssize_t i) { bitmap[i >> 3] |= (uint8_t)(1u << (i & 7)); }

/* --- checks --------------------------------------------------------------------------------------- */

static int all_digits(const Token *t, int max_digits) {
    if (t->quoted || t->length < 1 || t->length > max_digits) return 0;
    for (Py_ssize_t i = 0; i < t->length; i++)
        if (t->start[i] < '0' || t->start[i] > '9') return 0;
    return 1;
}

static int is_dash(const char *s, Py_ssize_t n) { return n == 1 && s[0] == '-'; }

static int64_t parse_digits(const char *s, Py_ssize_t n) {
    int64_t value = 0;
    for (Py_ssize_t i = 0; i < n; i++) value = value * 10 + (s[i] - '0');
    return value;
}

static int two_digits(const char *s, int *value) {
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9') return 0;
    *value = (s[0] - '0') * 10 + (s[1] - '0');
    return 1;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static const char MONTHS[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

/* `[06/Feb/2019:00:00:38` followed by `+0000]` -> microseconds since the epoch (UTC), or -1. */
static int64_t parse_time(const Token *time, const Token *zone) {
    if (time->quoted || zone->quoted || time->length != 21 || zone->length != 6) return -1;
    if (memcmp(zone->start, "+0000]", 6) != 0) return -1; /* other zones: the careful parser converts */
    const char *s = time->start;
    if (s[0] != '[' || s[3] != '/' || s[7] != '/' || s[12] != ':' || s[15] != ':' || s[18] != ':') return -1;
    int day, month = 0, year_hi, year_lo, hour, minute, second;
    for (int m = 0; m < 12; m++)
        if (memcmp(s + 4, MONTHS + 3 * m, 3) == 0) month = m + 1;
    if (!month || !two_digits(s + 1, &day) || !two_digits(s + 8, &year_hi) || !two_digits(s + 10, &year_lo) ||
        !two_digits(s + 13, &hour) || !two_digits(s + 16, &minute) || !two_digits(s + 19, &second))
        return -1;
    int year = year_hi * 100 + year_lo;
    static const int DAYS[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int month_days = DAYS[month - 1] + (month == 2 && leap);
    /* Outside these years a time is a damaged line, and could not be stored or split into days everywhere
       downstream (nanosecond timestamps end in 2262); the careful parser rejects it with the reason. */
    if (year < MIN_YEAR || year > MAX_YEAR || day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59) return -1;
    int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    return seconds * 1000000;
}

/* --- tokenizing one line --------------------------------------------------------------------------- */

/* The first `"` or `\\` in [p, end), or end (two vectorized scans beat one byte loop on long values). */
static inline const char *find_quote_or_backslash(const char *p, const char *end) {
    const char *quote = memchr(p, '"', (size_t)(end - p));
    if (!quote) quote = end;
    const char *backslash = memchr(p, '\\', (size_t)(quote - p));
    return backslash ? backslash : quote;
}

/* Splits [p, end) into tokens; returns the token count, or -1 when a quote does not pair up. */
static int tokenize_line(const char *p, const char *end, Token *tokens) {
    int count = 0;
    while (p < end && count < MAX_TOKENS) {
        Token *t = &tokens[count++];
        t->escaped = 0;
        if (*p == '"') {
            const char *q = p + 1;
            for (;;) {
                q = find_quote_or_backslash(q, end);
                if (q >= end) return -1; /* cut inside a quoted field */
                if (*q == '\\' && q + 1 < end) { t->escaped = 1; q += 2; continue; }
                if (*q == '"') {
                    if (q + 1 == end || q[1] == ' ') break;
                    return -1; /* a raw quote inside the value */
                }
                q++;
            }
            t->start = p + 1;
            t->length = q - p - 1;
            t->quoted = 1;
            p = q + 1;
        } else {
            const char *q = memchr(p, ' ', (size_t)(end - p));
            if (!q) q = end;
            if (memchr(p, '"', (size_t)(q - p))) return -1;
            if (q == p) return -1; /* two spaces in a row: not a field */
            t->start = p;
            t->length = q - p;
            t->quoted = 0;
            p = q;
        }
        if (p < end) p++; /* the space after the token */
    }
    /* Unknown trailing fields are ignored, but only where the careful parser reads them the same way: a quote
       there may close a value that ended too early, and two spaces in a row are an empty field to it. */
    if (p < end) {
        if (*p == ' ' || memchr(p, '"', (size_t)(end - p))) return -1;
        for (const char *s = p; s + 1 < end; s++)
            if (s[0] == ' ' && s[1] == ' ') return -1;
    }
    return count;
}

/* A record's time, `[dd/Mon/yyyy:HH:MM:SS +hhmm]` in any zone, starts at s (as _RECORD_TIME in access_log.py). */
static int is_record_time(const char *s, const char *end) {
    static const char SHAPE[] = "[00/Aaa/0000:00:00:00 +0000]"; /* 0: a digit, A/a: a letter, +: a sign */
    if (end - s < TIME_LENGTH) return 0;
    for (int i = 0; i < TIME_LENGTH; i++) {
        char c = s[i], k = SHAPE[i];
        int ok = k == '0'               ? c >= '0' && c <= '9'
                 : k == 'A' || k == 'a' ? (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                 : k == '+'             ? c == '+' || c == '-'
                                        : c == k;
        if (!ok) return 0;
    }
    return 1;
}

/* A second record's time in [p, end): two records on one line, where a line end was lost (`cat` of a file
 * without its final newline). Reading them as one row would put the second inside the first's fields. */
static int holds_second_record(const char *p, const char *end) {
    while ((p = memchr(p, '[', (size_t)(end - p))) != NULL) {
        if (is_record_time(p, end)) return 1;
        p++;
    }
    return 0;
}

/* --- writing a row --------------------------------------------------------------------------------- */

static int append_text(Output *out, int column, const char *s, Py_ssize_t n, int null) {
    TextColumn *c = &out->text[column];
    if (!null) {
        if (bytes_reserve(&c->data, n) < 0) return -1;
        memcpy(c->data.data + c->data.size, s, (size_t)n);
        c->data.size += n;
        set_bit(c->validity, out->rows);
    }
    c->offsets[out->rows + 1] = (int32_t)c->data.size;
    return 0;
}

/* A quoted value without its backslash escapes. */
static int append_unescaped(Output *out, int column, const Token *t) {
    TextColumn *c = &out->text[column];
    if (bytes_reserve(&c->data, t->length) < 0) return -1;
    char *dst = c->data.data + c->data.size;
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < t->length; i++) {
        char ch = t->start[i];
        if (ch == '\\' && i + 1 < t->length) ch = t->start[++i];
        dst[n++] = ch;
    }
    if (is_dash(dst, n)) return append_text(out, column, NULL, 0, 1);
    c->data.size += n;
    set_bit(c->validity, out->rows);
    c->offsets[out->rows + 1] = (int32_t)c->data.size;
    return 0;
}

/* Percent-decodes a key into scratch (as urllib.parse.unquote: `+` stays, bad escapes stay as they are). */
static Py_ssize_t percent_decode(const char *s, Py_ssize_t n, char *dst) {
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hex_value(s[i + 1])) >= 0 &&
            (lo = hex_value(s[i + 2])) >= 0) {
            dst[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dst[k++] = s[i];
        }
    }
    return k;
}

/* Checks the tokens of one line and appends them as a row; 1: appended, 0: not certain, -1: no memory. */
static int append_row(Output *out, Token *tokens, int count, int32_t file_number, int32_t line_number) {
    if (count < MIN_TOKENS) return 0;
    static const Token MISSING = {"-", 1, 0, 0};
    for (int i = count; i < MAX_TOKENS; i++) tokens[i] = MISSING; /* older lines: missing fields are NULL */

    int64_t time = parse_time(&tokens[2], &tokens[3]);
    if (time < 0) return 0;
    /* The request-URI, referer and user agent are quoted or a bare `-`: a bare word there means a space
     * inside an earlier field shifted everything after it. No other field is ever quoted. */
    for (int i = 0; i < MAX_TOKENS; i++) {
        int quotable = i == QUOTED_TOKENS[0] || i == QUOTED_TOKENS[1] || i == QUOTED_TOKENS[2];
        if (tokens[i].quoted ? !quotable : quotable && !is_dash(tokens[i].start, tokens[i].length)) return 0;
    }
    const Token *status = &tokens[STATUS_TOKEN];
    int status_null = !status->quoted && is_dash(status->start, status->length);
    if (!status_null && (status->length != 3 || !all_digits(status, 3))) return 0;
    for (int i = 0; i < N_NUMBERS; i++) {
        const Token *t = &tokens[NUMBER_TOKENS[i]];
        if (!(t->quoted == 0 && is_dash(t->start, t->length)) && !all_digits(t, 18)) return 0;
    }
    const Token *key = &tokens[KEY_TOKEN];
    Py_ssize_t key_length = key->length;
    const char *key_text = key->start;
    if (!key->quoted && memchr(key->start, '%', (size_t)key->length)) {
        key_length = percent_decode(key->start, key->length, out->scratch);
        key_text = out->scratch;
        if (!valid_utf8((const unsigned char *)key_text, key_length)) return 0;
    }

    Py_ssize_t row = out->rows;
    out->file_numbers[row] = file_number;
    out->line_numbers[row] = line_number;
    out->times[row] = time;
    if (!status_null) {
        out->status[row] = (int16_t)parse_digits(status->start, 3);
        set_bit(out->status_valid, row);
    }
    for (int i = 0; i < N_NUMBERS; i++) {
        const Token *t = &tokens[NUMBER_TOKENS[i]];
        if (is_dash(t->start, t->length)) continue;
        out->numbers[i][row] = parse_digits(t->start, t->length);
        set_bit(out->numbers_valid[i], row);
    }
    for (int c = 0; c < N_TEXT_TOKENS; c++) {
        const Token *t = &tokens[TEXT_TOKENS[c]];
        int rc;
        if (TEXT_TOKENS[c] == KEY_TOKEN)
            rc = append_text(out, c, key_text, key_length, is_dash(key_text, key_length));
        else if (t->escaped)
            rc = append_unescaped(out, c, t);
        else
            rc = append_text(out, c, t->start, t->length, is_dash(t->start, t->length));
        if (rc < 0) return -1;
    }
    /* http_method: the (unescaped) request-URI's first word, when it has more than one */
    const TextColumn *uri = &out->text[URI_COLUMN];
    const char *uri_text = uri->data.data + uri->offsets[row];
    Py_ssize_t uri_length = uri->offsets[row + 1] - uri->offsets[row];
    const char *space = uri_length ? memchr(uri_text, ' ', (size_t)uri_length) : NULL;
    if (append_text(out, N_TEXT - 1, uri_text, space ? space - uri_text : 0, space == NULL) < 0) return -1;
    out->rows++;
    return 1;
}

/* --- the whole buffer ------------------------------------------------------------------------------ */

static void free_output(Output *out) {
    free(out->file_numbers);
    free(out->line_numbers);
    free(out->bad_files);
    free(out->bad_lines);
    free(out->bad_starts);
    free(out->bad_ends);
    free(out->times);
    free(out->status);
    free(out->status_valid);
    for (int i = 0; i < N_NUMBERS; i++) {
        free(out->numbers[i]);
        free(out->numbers_valid[i]);
    }
    for (int c = 0; c < N_TEXT; c++) {
        free(out->text[c].data.data);
        free(out->text[c].offsets);
        free(out->text[c].validity);
    }
    free(out->scratch);
}

static int allocate_output(Output *out, Py_ssize_t lines, Py_ssize_t longest_line) {
    memset(out, 0, sizeof(*out));
    Py_ssize_t bitmap = lines / 8 + 1;
    out->capacity = lines;
    out->file_numbers = malloc(sizeof(int32_t) * lines + 1);
    out->line_numbers = malloc(sizeof(int32_t) * lines + 1);
    out->bad_files = malloc(sizeof(int32_t) * lines + 1);
    out->bad_lines = malloc(sizeof(int32_t) * lines + 1);
    out->bad_starts = malloc(sizeof(int64_t) * lines + 1);
    out->bad_ends = malloc(sizeof(int64_t) * lines + 1);
    out->times = malloc(sizeof(int64_t) * lines + 1);
    out->status = calloc((size_t)lines + 1, sizeof(int16_t));
    out->status_valid = calloc((size_t)bitmap, 1);
    int ok = out->file_numbers && out->line_numbers && out->bad_files && out->bad_lines &&
             out->bad_starts && out->bad_ends && out->times && out->status && out->status_valid;
    for (int i = 0; i < N_NUMBERS; i++) {
        out->numbers[i] = calloc((size_t)lines + 1, sizeof(int64_t));
        out->numbers_valid[i] = calloc((size_t)bitmap, 1);
        ok = ok && out->numbers[i] && out->numbers_valid[i];
    }
    for (int c = 0; c < N_TEXT; c++) {
        out->text[c].offsets = calloc((size_t)lines + 1, sizeof(int32_t));
        out->text[c].validity = calloc((size_t)bitmap, 1);
        ok = ok && out->text[c].offsets && out->text[c].validity;
    }
    out->scratch = malloc((size_t)longest_line + 1);
    return ok && out->scratch ? 0 : -1;
}

static int is_blank(const char *p, const char *end) {
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\v' && *p != '\f') return 0;
    return 1;
}

/* Walks the lines of a buffer: LF, CRLF and a lone CR each end one. The next LF is remembered (a file of lone
 * CRs has none), and a CR is looked for only up to it, in the line about to be read (still in cache). */
typedef struct {
    const char *next, *stop; /* where the next line starts, the buffer's end */
    const char *lf;          /* the next LF at or after `next`, or stop */
} Lines;

/* The first `c` in [p, stop), or stop. */
static const char *find_or_stop(const char *p, const char *stop, char c) {
    const char *found = memchr(p, c, (size_t)(stop - p));
    return found ? found : stop;
}

static void lines_start(Lines *lines, const char *data, Py_ssize_t size) {
    lines->next = data;
    lines->stop = data + size;
    lines->lf = find_or_stop(data, lines->stop, '\n');
}

/* The next line as [*start, *end), without its line end; 0 when there is none. */
static int lines_next(Lines *lines, const char **start, const char **end) {
    const char *p = lines->next, *stop = lines->stop;
    if (p >= stop) return 0;
    if (lines->lf < p) lines->lf = find_or_stop(p, stop, '\n');
    const char *line_end = find_or_stop(p, lines->lf, '\r');
    *start = p;
    *end = line_end;
    if (line_end == stop)
        lines->next = stop;
    else if (*line_end == '\r' && line_end + 1 < stop && line_end[1] == '\n')
        lines->next = line_end + 2; /* CRLF */
    else
        lines->next = line_end + 1;
    return 1;
}

static const char BOM[] = "\xEF\xBB\xBF";

static void tokenize_buffer(const char *data, Py_ssize_t size, int32_t file_number, int64_t first_line,
                            Output *out) {
    int check_utf8 = !valid_utf8((const unsigned char *)data, size); /* else line by line, to find the bad ones */
    Token tokens[MAX_TOKENS];
    int64_t line_number = first_line - 1;
    Lines lines;
    const char *p, *line_end;
    lines_start(&lines, data, size);
    while (lines_next(&lines, &p, &line_end)) {
        line_number++;
        if (*p == BOM[0] && line_end - p >= 3 && memcmp(p, BOM, 3) == 0) p += 3;
        if (is_blank(p, line_end)) continue;
        int count = tokenize_line(p, line_end, tokens);
        int appended = 0;
        if (count >= MIN_TOKENS && line_number <= INT32_MAX &&
            !holds_second_record(tokens[3].start + tokens[3].length, line_end) &&
            (!check_utf8 || valid_utf8((const unsigned char *)p, line_end - p)))
            appended = append_row(out, tokens, count, file_number, (int32_t)line_number);
        if (appended < 0) { out->failed = 1; return; }
        if (!appended) {
            out->bad_files[out->bad_count] = file_number;
            out->bad_lines[out->bad_count] = line_number <= INT32_MAX ? (int32_t)line_number : -1;
            out->bad_starts[out->bad_count] = p - data;
            out->bad_ends[out->bad_count++] = line_end - data;
        }
    }
}

static PyObject *bytes_of(const void *data, Py_ssize_t size) {
    return PyBytes_FromStringAndSize(size ? (const char *)data : "", size);
}

static PyObject *bitmap_of(const uint8_t *bitmap, Py_ssize_t rows) { return bytes_of(bitmap, (rows + 7) / 8); }

static PyObject *build_result(Output *out) {
    Py_ssize_t n = out->rows;
    PyObject *numbers = PyTuple_New(N_NUMBERS), *text = PyTuple_New(N_TEXT);
    if (!numbers || !text) goto fail;
    for (int i = 0; i < N_NUMBERS; i++) {
        PyObject *pair = Py_BuildValue("(NN)", bytes_of(out->numbers[i], n * 8), bitmap_of(out->numbers_valid[i], n));
        if (!pair) goto fail;
        PyTuple_SET_ITEM(numbers, i, pair);
    }
    for (int c = 0; c < N_TEXT; c++) {
        TextColumn *col = &out->text[c];
        PyObject *triple = Py_BuildValue("(NNN)", bytes_of(col->offsets, (n + 1) * 4),
                                         bytes_of(col->data.data, col->data.size), bitmap_of(col->validity, n));
        if (!triple) goto fail;
        PyTuple_SET_ITEM(text, c, triple);
    }
    return Py_BuildValue("{s:n,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:(NN),s:N,s:N}", "rows", n,
                         "file_numbers", bytes_of(out->file_numbers, n * 4),
                         "line_numbers", bytes_of(out->line_numbers, n * 4),
                         "bad_files", bytes_of(out->bad_files, out->bad_count * 4),
                         "bad_lines", bytes_of(out->bad_lines, out->bad_count * 4),
                         "bad_starts", bytes_of(out->bad_starts, out->bad_count * 8),
                         "bad_ends", bytes_of(out->bad_ends, out->bad_count * 8),
                         "times", bytes_of(out->times, n * 8),
                         "status", bytes_of(out->status, n * 2), bitmap_of(out->status_valid, n),
                         "numbers", numbers, "text", text);
fail:
    Py_XDECREF(numbers);
    Py_XDECREF(text);
    return NULL;
}

/* Lines of [data, data + size): how many, and the longest. */
static void measure_lines(const char *data, Py_ssize_t size, Py_ssize_t *count, Py_ssize_t *longest) {
    Lines lines;
    const char *start, *end;
    lines_start(&lines, data, size);
    while (lines_next(&lines, &start, &end)) {
        if (end - start > *longest) *longest = end - start;
        (*count)++;
    }
}

static PyObject *tokenize(PyObject *self, PyObject *args) {
    PyObject *files, *first_lines_arg = NULL;
    if (!PyArg_ParseTuple(args, "O|O", &files, &first_lines_arg)) return NULL;
    PyObject *sequence = PySequence_Fast(files, "tokenize() takes a list of bytes, one per file or slice");
    if (!sequence) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence), taken = 0;
    Py_buffer *views = PyMem_Calloc((size_t)count + 1, sizeof(Py_buffer));
    int64_t *first_lines = PyMem_Calloc((size_t)count + 1, sizeof(int64_t));
    PyObject *result = NULL, *numbers = NULL;
    if (!views || !first_lines) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < count; i++) first_lines[i] = 1;
    if (first_lines_arg && first_lines_arg != Py_None) {
        numbers = PySequence_Fast(first_lines_arg, "tokenize()'s first_lines is a list of int");
        if (!numbers) goto done;
        if (PySequence_Fast_GET_SIZE(numbers) != count) {
            PyErr_SetString(PyExc_ValueError, "tokenize() takes one first line number per buffer");
            goto done;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            first_lines[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(numbers, i));
            if (first_lines[i] == -1 && PyErr_Occurred()) goto done;
            if (first_lines[i] < 1) {
                PyErr_SetString(PyExc_ValueError, "tokenize(): line numbers start at 1");
                goto done;
            }
        }
    }
    for (; taken < count; taken++)
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(sequence, taken), &views[taken], PyBUF_SIMPLE) < 0) goto done;
    Py_ssize_t lines = 1, longest = 0;
    Output out;
    int allocated;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) measure_lines(views[i].buf, views[i].len, &lines, &longest);
    allocated = allocate_output(&out, lines, longest);
    for (Py_ssize_t i = 0; allocated == 0 && !out.failed && i < count; i++)
        tokenize_buffer(views[i].buf, views[i].len, (int32_t)i, first_lines[i], &out);
    Py_END_ALLOW_THREADS
    if (allocated < 0 || out.failed)
        PyErr_NoMemory();
    else
        result = build_result(&out);
    free_output(&out);
done:
    for (Py_ssize_t i = 0; i < taken; i++) PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(first_lines);
    Py_XDECREF(numbers);
    Py_DECREF(sequence);
    return result;
}

/* Line ends in a buffer as the tokenizer counts them (LF, CRLF once, a lone CR), without the GIL: the big-file
 * slicer numbers each slice's first line with it, on the one thread that feeds the workers, so it must be
 * much faster than bytes.count three times (~1.7 GB/s). */
static size_t line_ends_in(const unsigned char *data, size_t size) {
    size_t count = 0;
    if (memchr(data, '\r', size) == NULL) { /* the usual case: a loop the compiler vectorises */
        for (size_t i = 0; i < size; i++)
            count += data[i] == '\n';
        return count;
    }
    for (size_t i = 0; i < size; i++)
        count += data[i] == '\n' || (data[i] == '\r' && (i + 1 == size || data[i + 1] != '\n'));
    return count;
}

static PyObject *count_line_ends(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view))
        return NULL;
    size_t count;
    Py_BEGIN_ALLOW_THREADS
    count = line_ends_in(view.buf, (size_t)view.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromSize_t(count);
}

static PyMethodDef METHODS[] = {
    {"count_line_ends", count_line_ends, METH_VARARGS,
     "Line ends in the bytes (LF, CRLF counting once, a lone CR), as the tokenizer numbers lines."},
    {"tokenize", tokenize, METH_VARARGS,
     "Typed column buffers of the access-log lines of some files or slices (each numbered from its first line), "
     "and the lines left to read carefully."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, .m_name = "_access_tokenizer", .m_size = -1,
                                    .m_methods = METHODS};

PyMODINIT_FUNC PyInit__access_tokenizer(void) {
#ifdef M_MMAP_THRESHOLD
    /* Ingest allocates and frees buffers of megabytes per file (decompressed text, columns). glibc maps
     * each one afresh and unmaps it on free, so every page faults again: a quarter of ingest's CPU was in
     * the kernel. Keeping them on the heap lets the next file reuse the same memory. */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
    return PyModule_Create(&MODULE);
}
