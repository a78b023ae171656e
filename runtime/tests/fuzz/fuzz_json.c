/* libFuzzer target: the JSON parser (json.c) and the app policy check (policy.c) on any bytes,
 * as the config.json of the golden demo's app container counter against the golden demo's policy
 * (tests/golden/demo/contract, read from runtime/ where make runs it). Beyond the sanitizers'
 * findings: a parsed document keeps its invariants and comes back equal from its own
 * serialization; a config the policy takes has the policy's seccomp filter, namespaces and device
 * rules, a read-only root and noNewPrivileges. */
#include "json.h"
#include "manifest.h"
#include "policy.h"
#include "store.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GOLDEN "../tests/golden/demo/contract/"

static struct pc_policy pol;
static struct pc_manifest m;
static const struct pc_container *counter;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct pc_err err;
	if (pc_manifest_load(GOLDEN "pycm/manifest", &m, &err) < 0 ||
	    pc_policy_load(GOLDEN "app-policy.json", &pol, &err) < 0 || pc_manifest_find(&m, "counter") < 0) {
		fprintf(stderr, "fuzz_json: %s (run from runtime/)\n", err.msg);
		exit(2);
	}
	counter = &m.c[pc_manifest_find(&m, "counter")];
	return 0;
}

struct buf {
	char *p;
	size_t n, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void put_string(struct buf *b, const char *s, size_t n)
{
	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c == '"' || c == '\\' || c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			put(b, esc, 6);
		} else
			put(b, (const char *)&s[i], 1);
	}
	put(b, "\"", 1);
}

static void serialize(struct buf *b, const struct pc_json *v)
{
	switch (v->type) {
	case PC_JSON_NULL: put(b, "null", 4); break;
	case PC_JSON_TRUE: put(b, "true", 4); break;
	case PC_JSON_FALSE: put(b, "false", 5); break;
	case PC_JSON_NUMBER: put(b, v->str, v->len); break;
	case PC_JSON_STRING: put_string(b, v->str, v->len); break;
	case PC_JSON_ARRAY:
	case PC_JSON_OBJECT:
		put(b, v->type == PC_JSON_ARRAY ? "[" : "{", 1);
		for (const struct pc_json *c = v->child; c; c = c->next) {
			if (v->type == PC_JSON_OBJECT) {
				put_string(b, c->key, strlen(c->key));
				put(b, ":", 1);
			}
			serialize(b, c);
			if (c->next)
				put(b, ",", 1);
		}
		put(b, v->type == PC_JSON_ARRAY ? "]" : "}", 1);
		break;
	}
}

static void invariants(const struct pc_json *v, size_t size)
{
	if (v->start >= v->end || v->end > size)
		__builtin_trap();
	if (v->type == PC_JSON_STRING && strlen(v->str) != v->len)
		__builtin_trap();
	size_t n = 0;
	for (const struct pc_json *c = v->child; c; c = c->next, n++) {
		if ((v->type == PC_JSON_OBJECT) != (c->key != NULL) || c->start < v->start || c->end > v->end)
			__builtin_trap();
		invariants(c, size);
	}
	if (n != v->n)
		__builtin_trap();
}

static const struct pc_json *at(const struct pc_json *v, const char *a, const char *b)
{
	return pc_json_get(b ? pc_json_get(v, a) : v, b ? b : a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pc_json_doc doc, again;
	struct pc_err err;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (pc_json_parse(text, size, "fuzz.json", &doc, &err) == 0) {
		invariants(doc.root, size);
		if (!pc_json_equal(doc.root, doc.root))
			__builtin_trap();
		struct buf b = {0};
		serialize(&b, doc.root);
		if (pc_json_parse(b.p, b.n, "again.json", &again, &err) < 0 || !pc_json_equal(doc.root, again.root))
			__builtin_trap();
		pc_json_free(&again);
		free(b.p);
		if (pc_policy_check(&pol, counter, text, size, &err) == 0) {
			const struct pc_json *ref = pol.config, *lx = pc_json_get(doc.root, "linux");
			const struct pc_json *rl = pc_json_get(ref, "linux");
			if (!pc_json_equal(pc_json_get(lx, "seccomp"), pc_json_get(rl, "seccomp")) ||
			    !pc_json_equal(at(lx, "resources", "devices"), at(rl, "resources", "devices")) ||
			    pc_json_get(lx, "namespaces")->n != pc_json_get(rl, "namespaces")->n ||
			    at(doc.root, "root", "readonly")->type != PC_JSON_TRUE ||
			    at(doc.root, "process", "noNewPrivileges")->type != PC_JSON_TRUE || pc_json_get(doc.root, "hooks") ||
			    pc_json_get(lx, "devices"))
				__builtin_trap();
		}
		pc_json_free(&doc);
	}
	free(text);
	return 0;
}
