/* A strict JSON parser (RFC 8259) for the app policy check (policy.c), which only the staging
 * child of an app update runs, never PID 1. Strict where parsers differ, so that what this one
 * reads is what crun reads: a duplicate key, a NUL character (also as \u0000), a lone surrogate,
 * bytes that are not UTF-8 (overlong forms and surrogates included), a byte-order mark, comments,
 * trailing commas, NaN, leading zeros, '+', single quotes and anything after the value are
 * refused. Numbers are kept as their text. */
#ifndef PYCM_JSON_H
#define PYCM_JSON_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>

#define PC_JSON_DEPTH 32        /* arrays and objects inside each other */
#define PC_JSON_VALUES 65536    /* values in one document */

enum pc_json_type {
	PC_JSON_NULL,
	PC_JSON_FALSE,
	PC_JSON_TRUE,
	PC_JSON_NUMBER,
	PC_JSON_STRING,
	PC_JSON_ARRAY,
	PC_JSON_OBJECT
};

struct pc_json {
	enum pc_json_type type;
	const char *str;       /* STRING: decoded, NUL-terminated (no NUL in it); NUMBER: its text, unterminated */
	size_t len;            /* STRING, NUMBER: bytes of str */
	const char *key;       /* a member of an object: its name, decoded */
	struct pc_json *child; /* ARRAY, OBJECT: the first item */
	struct pc_json *next;  /* the next item of the same array or object */
	size_t n;              /* ARRAY, OBJECT: items */
	size_t start, end;     /* the value's text: [start, end) of the input */
	size_t key_start;      /* a member: where its key's opening quote is */
};

struct pc_json_doc {
	struct pc_json *root;
	struct pc_json *values; /* every value, root first */
	char *strings;          /* the decoded strings */
};

/* Parse text[0..len); on error -1 and "NAME:LINE:COLUMN: what" in err (nothing to free). */
int pc_json_parse(const char *text, size_t len, const char *name, struct pc_json_doc *doc,
		  struct pc_err *err);
void pc_json_free(struct pc_json_doc *doc);
/* The member KEY of an object (NULL: none, or v is no object). */
const struct pc_json *pc_json_get(const struct pc_json *v, const char *key);
/* Same type and value: strings byte for byte, numbers by their text, arrays item by item in
 * order, objects member by member whatever the order. */
bool pc_json_equal(const struct pc_json *a, const struct pc_json *b);
/* A NUMBER that is an integer in [min, max] (no fraction, no exponent): 0 and *out, else -1. */
int pc_json_int(const struct pc_json *v, long long min, long long max, long long *out);

#endif
