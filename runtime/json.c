/* A strict JSON parser (json.h). Two passes over the text: the first checks it and counts its
 * values, the second fills an array of exactly that many (so no pointer moves) and decodes the
 * strings into one buffer as long as the text (a decoded string and its NUL take no more bytes
 * than the string with its quotes). */
#include "json.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *s;
	size_t len, pos;
	int depth;
	size_t count;              /* values met so far */
	struct pc_json *values;    /* NULL: the first pass */
	char *out;                 /* the second pass: where decoded strings go */
	size_t outpos;
	const char *name;
	struct pc_err *err;
};

static int fail(struct parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct parser *p, size_t at, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	int line = 1;
	size_t col = 1;
	for (size_t i = 0; i < at && i < p->len; i++, col++)
		if (p->s[i] == '\n') {
			line++;
			col = 0;
		}
	return pc_error(p->err, 0, "%s:%d:%zu: %s", p->name, line, col, what);
}

/* "unexpected 'c'" (or the byte, or the end) at pos, then what was expected */
static int unexpected(struct parser *p, const char *expected)
{
	if (p->pos >= p->len)
		return fail(p, p->pos, "unexpected end, expected %s", expected);
	unsigned char c = (unsigned char)p->s[p->pos];
	if (c >= 0x20 && c < 0x7f)
		return fail(p, p->pos, "unexpected '%c', expected %s", c, expected);
	return fail(p, p->pos, "unexpected byte 0x%02x, expected %s", c, expected);
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len &&
	       (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static int peek(const struct parser *p)
{
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

/* The length of the UTF-8 sequence at s (at most avail bytes), 0 when it is not one: no overlong
 * form, no surrogate, nothing above U+10FFFF (RFC 3629). */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else
		return 0;
	if (avail < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

static int hex4(struct parser *p, unsigned *u)
{
	*u = 0;
	for (int i = 0; i < 4; i++, p->pos++) {
		int c = peek(p);
		if (c < 0 || !isxdigit(c))
			return unexpected(p, "4 hex digits after \\u");
		*u = *u * 16 + (unsigned)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
	}
	return 0;
}

static void put(struct parser *p, const char *b, size_t n)
{
	if (p->out) {
		memcpy(p->out + p->outpos, b, n);
		p->outpos += n;
	}
}

/* \uXXXX (and its low surrogate) at pos, just after the backslash and 'u': as UTF-8 */
static int unicode_escape(struct parser *p)
{
	size_t at = p->pos - 2;
	unsigned u, lo;
	if (hex4(p, &u) < 0)
		return -1;
	if (u == 0)
		return fail(p, at, "\\u0000 in a string (a NUL character)");
	if (u >= 0xdc00 && u <= 0xdfff)
		return fail(p, at, "\\u%04x: a lone surrogate", u);
	if (u >= 0xd800 && u <= 0xdbff) {
		if (p->pos + 1 >= p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
			return fail(p, at, "\\u%04x: a lone surrogate", u);
		p->pos += 2;
		if (hex4(p, &lo) < 0)
			return -1;
		if (lo < 0xdc00 || lo > 0xdfff)
			return fail(p, at, "\\u%04x: a lone surrogate", u);
		u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
	}
	char b[4];
	size_t n;
	if (u < 0x80) {
		b[0] = (char)u;
		n = 1;
	} else if (u < 0x800) {
		b[0] = (char)(0xc0 | (u >> 6));
		b[1] = (char)(0x80 | (u & 0x3f));
		n = 2;
	} else if (u < 0x10000) {
		b[0] = (char)(0xe0 | (u >> 12));
		b[1] = (char)(0x80 | ((u >> 6) & 0x3f));
		b[2] = (char)(0x80 | (u & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (u >> 18));
		b[1] = (char)(0x80 | ((u >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((u >> 6) & 0x3f));
		b[3] = (char)(0x80 | (u & 0x3f));
		n = 4;
	}
	put(p, b, n);
	return 0;
}

/* The string at pos (its opening quote): decoded into the buffer (second pass), *str its start. */
static int string(struct parser *p, const char **str, size_t *len)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	size_t begin = p->outpos;
	p->pos++;
	for (;;) {
		int c = peek(p);
		if (c < 0)
			return fail(p, p->pos, "unexpected end, in a string");
		if (c == '"')
			break;
		if (c < 0x20)
			return fail(p, p->pos, "control character 0x%02x in a string (escape it)", c);
		if (c == '\\') {
			p->pos++;
			c = peek(p);
			const char *e = c > 0 ? strchr(from, c) : NULL;
			p->pos++;
			if (c == 'u') {
				if (unicode_escape(p) < 0)
					return -1;
			} else if (e && c) {
				put(p, &to[e - from], 1);
			} else {
				p->pos--;
				return unexpected(p, "an escape: one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX");
			}
			continue;
		}
		size_t n = utf8_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
		if (!n)
			return fail(p, p->pos, "bytes that are not UTF-8 in a string");
		put(p, p->s + p->pos, n);
		p->pos += n;
	}
	p->pos++;
	if (p->out) {
		p->out[p->outpos] = '\0';
		*str = p->out + begin;
		*len = p->outpos - begin;
		p->outpos++;
	}
	return 0;
}

static int number(struct parser *p)
{
	if (peek(p) == '-')
		p->pos++;
	if (peek(p) == '0')
		p->pos++;
	else if (peek(p) >= '1' && peek(p) <= '9')
		while (peek(p) >= '0' && peek(p) <= '9')
			p->pos++;
	else
		return unexpected(p, "a digit");
	if (peek(p) == '.') {
		p->pos++;
		if (!(peek(p) >= '0' && peek(p) <= '9'))
			return unexpected(p, "a digit after '.'");
		while (peek(p) >= '0' && peek(p) <= '9')
			p->pos++;
	}
	if (peek(p) == 'e' || peek(p) == 'E') {
		p->pos++;
		if (peek(p) == '+' || peek(p) == '-')
			p->pos++;
		if (!(peek(p) >= '0' && peek(p) <= '9'))
			return unexpected(p, "a digit of the exponent");
		while (peek(p) >= '0' && peek(p) <= '9')
			p->pos++;
	}
	return 0;
}

struct member {
	const char *key;
	size_t at;
};

static int by_key(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->at > y->at) - (x->at < y->at);
}

/* Second pass: no key twice in object v. */
static int unique_keys(struct parser *p, const struct pc_json *v)
{
	if (v->n < 2)
		return 0;
	struct member *m = malloc(v->n * sizeof *m);
	if (!m)
		return pc_error(p->err, ENOMEM, "%s: out of memory", p->name);
	size_t i = 0;
	for (const struct pc_json *c = v->child; c; c = c->next, i++)
		m[i] = (struct member){c->key, c->key_start};
	qsort(m, v->n, sizeof *m, by_key);
	for (i = 1; i < v->n; i++)
		if (!strcmp(m[i].key, m[i - 1].key)) {
			struct member dup = m[i];
			free(m);
			return fail(p, dup.at, "duplicate key %s", dup.key);
		}
	free(m);
	return 0;
}

static int value(struct parser *p, struct pc_json **out);

/* An array or object at pos; v (second pass) is its value. */
static int container(struct parser *p, struct pc_json *v, bool object)
{
	char close = object ? '}' : ']';
	struct pc_json *last = NULL;
	if (++p->depth > PC_JSON_DEPTH)
		return fail(p, p->pos, "more than %d arrays and objects inside each other", PC_JSON_DEPTH);
	p->pos++;
	skip_ws(p);
	if (peek(p) == close) {
		p->pos++;
		p->depth--;
		return 0;
	}
	for (;;) {
		const char *key = NULL;
		size_t klen = 0, key_start = p->pos;
		if (object) {
			if (peek(p) != '"')
				return unexpected(p, "a key");
			if (string(p, &key, &klen) < 0)
				return -1;
			skip_ws(p);
			if (peek(p) != ':')
				return unexpected(p, "':'");
			p->pos++;
			skip_ws(p);
		}
		struct pc_json *item = NULL;
		if (value(p, &item) < 0)
			return -1;
		if (v) {
			item->key = key;
			item->key_start = key_start;
			if (last)
				last->next = item;
			else
				v->child = item;
			last = item;
			v->n++;
		}
		skip_ws(p);
		if (peek(p) == close)
			break;
		if (peek(p) != ',')
			return unexpected(p, object ? "',' or '}'" : "',' or ']'");
		p->pos++;
		skip_ws(p);
	}
	p->pos++;
	p->depth--;
	return v && object ? unique_keys(p, v) : 0;
}

static int value(struct parser *p, struct pc_json **out)
{
	if (p->count == PC_JSON_VALUES)
		return fail(p, p->pos, "more than %d values", PC_JSON_VALUES);
	struct pc_json *v = p->values ? &p->values[p->count] : NULL;
	p->count++;
	size_t start = p->pos;
	if (v) {
		memset(v, 0, sizeof *v);
		v->start = start;
		*out = v;
	}
	int c = peek(p), rc = 0;
	enum pc_json_type type;
	static const struct {
		const char *word;
		enum pc_json_type type;
	} words[] = {{"true", PC_JSON_TRUE}, {"false", PC_JSON_FALSE}, {"null", PC_JSON_NULL}};
	const char *str = NULL;
	size_t len = 0;
	if (c == '{' || c == '[') {
		type = c == '{' ? PC_JSON_OBJECT : PC_JSON_ARRAY;
		rc = container(p, v, c == '{');
	} else if (c == '"') {
		type = PC_JSON_STRING;
		rc = string(p, &str, &len);
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		type = PC_JSON_NUMBER;
		rc = number(p);
		str = p->s + start;
		len = p->pos - start;
	} else {
		size_t i = 0;
		for (; i < 3; i++) {
			size_t n = strlen(words[i].word);
			if (p->len - p->pos >= n && !memcmp(p->s + p->pos, words[i].word, n)) {
				p->pos += n;
				break;
			}
		}
		if (i == 3)
			return unexpected(p, "a value");
		type = words[i].type;
	}
	if (rc < 0)
		return -1;
	if (v) {
		v->type = type;
		v->str = str;
		v->len = len;
		v->end = p->pos;
	}
	return 0;
}

static int run(struct parser *p)
{
	struct pc_json *root = NULL;
	p->pos = 0;
	p->count = 0;
	p->depth = 0;
	skip_ws(p);
	if (value(p, &root) < 0)
		return -1;
	skip_ws(p);
	if (p->pos < p->len) {
		unsigned char c = (unsigned char)p->s[p->pos];
		return c >= 0x20 && c < 0x7f ? fail(p, p->pos, "'%c' after the value", c)
					     : fail(p, p->pos, "byte 0x%02x after the value", c);
	}
	return 0;
}

int pc_json_parse(const char *text, size_t len, const char *name, struct pc_json_doc *doc, struct pc_err *err)
{
	struct parser p = {.s = text, .len = len, .name = name, .err = err};
	memset(doc, 0, sizeof *doc);
	if (run(&p) < 0)
		return -1;
	doc->values = calloc(p.count, sizeof *doc->values);
	doc->strings = malloc(len + 1);
	if (!doc->values || !doc->strings) {
		pc_json_free(doc);
		return pc_error(err, ENOMEM, "%s: out of memory", name);
	}
	p.values = doc->values;
	p.out = doc->strings;
	p.outpos = 0;
	if (run(&p) < 0) { /* a duplicate key */
		pc_json_free(doc);
		return -1;
	}
	doc->root = doc->values;
	return 0;
}

void pc_json_free(struct pc_json_doc *doc)
{
	free(doc->values);
	free(doc->strings);
	memset(doc, 0, sizeof *doc);
}

const struct pc_json *pc_json_get(const struct pc_json *v, const char *key)
{
	if (!v || v->type != PC_JSON_OBJECT)
		return NULL;
	for (const struct pc_json *c = v->child; c; c = c->next)
		if (!strcmp(c->key, key))
			return c;
	return NULL;
}

bool pc_json_equal(const struct pc_json *a, const struct pc_json *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case PC_JSON_NUMBER:
	case PC_JSON_STRING:
		return a->len == b->len && !memcmp(a->str, b->str, a->len);
	case PC_JSON_ARRAY:
		if (a->n != b->n)
			return false;
		for (const struct pc_json *x = a->child, *y = b->child; x; x = x->next, y = y->next)
			if (!pc_json_equal(x, y))
				return false;
		return true;
	case PC_JSON_OBJECT:
		if (a->n != b->n)
			return false;
		for (const struct pc_json *x = a->child; x; x = x->next) {
			const struct pc_json *y = pc_json_get(b, x->key);
			if (!y || !pc_json_equal(x, y))
				return false;
		}
		return true;
	default:
		return true;
	}
}

int pc_json_int(const struct pc_json *v, long long min, long long max, long long *out)
{
	if (!v || v->type != PC_JSON_NUMBER)
		return -1;
	size_t i = v->str[0] == '-';
	if (i == v->len)
		return -1;
	unsigned long long n = 0;
	for (; i < v->len; i++) {
		if (v->str[i] < '0' || v->str[i] > '9')
			return -1; /* a fraction or an exponent */
		unsigned d = (unsigned)(v->str[i] - '0');
		if (n > (~0ULL - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	if (v->str[0] == '-' ? n > (unsigned long long)LLONG_MAX + 1 : n > (unsigned long long)LLONG_MAX)
		return -1;
	long long r = v->str[0] == '-' ? (n == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)n)
				       : (long long)n;
	if (r < min || r > max)
		return -1;
	*out = r;
	return 0;
}
