/* Text checks shared by the native readers. Included after Python.h (for Py_ssize_t). */
#ifndef S3LOGQ_TEXT_H
#define S3LOGQ_TEXT_H
#include <stdint.h>
#include <string.h>

/* Valid UTF-8 (no overlongs, no surrogates), as Arrow requires of strings. */
static int valid_utf8(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            while (i + 8 <= n) { /* ASCII runs, eight bytes at a time */
                uint64_t word;
                memcpy(&word, s + i, 8);
                if (word & 0x8080808080808080ULL) break;
                i += 8;
            }
            if (i < n && s[i] < 0x80) i++;
            continue;
        }
        int extra;
        uint32_t code;
        if (c >= 0xC2 && c <= 0xDF) { extra = 1; code = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { extra = 2; code = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { extra = 3; code = c & 0x07; }
        else return 0;
        if (i + extra >= n) return 0;
        for (int k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            code = (code << 6) | (s[i + k] & 0x3F);
        }
        if ((extra == 2 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) ||
            (extra == 3 && (code < 0x10000 || code > 0x10FFFF)))
            return 0;
        i += extra + 1;
    }
    return 1;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

#endif
