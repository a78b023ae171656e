/* The app policy (policy.h): a config.json is walked beside the policy's reference config. Where
 * a rule names the key (RULES), the rule decides; everywhere else the config must be the
 * reference: no key it lacks ("not allowed"), none it has missing, the same values, arrays item
 * by item. */
#define _GNU_SOURCE
#include "policy.h"
#include "devices.h"
#include "net.h"
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT 1 /* "pycontainers-app-policy" */

struct ctx {
	const struct pc_policy *pol;
	const struct pc_container *c;
	const char *text; /* the config's */
	struct pc_err *err;
	char path[256];   /* the key being checked: "linux.resources.memory" */
};

static int bad(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct ctx *x, const char *fmt, ...)
{
	char what[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return pc_error(x->err, 0, "config.json: %s%s%s", x->path, x->path[0] ? ": " : "", what);
}

static size_t push_key(struct ctx *x, const char *key)
{
	size_t mark = strlen(x->path);
	snprintf(x->path + mark, sizeof x->path - mark, "%s%s", mark ? "." : "", key);
	return mark;
}

static size_t push_index(struct ctx *x, size_t i)
{
	size_t mark = strlen(x->path);
	snprintf(x->path + mark, sizeof x->path - mark, "[%zu]", i);
	return mark;
}

static void pop(struct ctx *x, size_t mark)
{
	x->path[mark] = '\0';
}

/* "is not the app policy's", with the policy's value when it is a short one */
static int differ(struct ctx *x, const struct pc_json *ref)
{
	if (ref->type == PC_JSON_ARRAY || ref->type == PC_JSON_OBJECT)
		return bad(x, "is not the app policy's");
	size_t n = ref->end - ref->start;
	return bad(x, "is not the app policy's (%.*s%s)", (int)(n > 64 ? 64 : n), x->pol->text + ref->start,
		   n > 64 ? "..." : "");
}

static bool strings(const struct pc_json *v, size_t min)
{
	if (v->type != PC_JSON_ARRAY || v->n < min)
		return false;
	for (const struct pc_json *s = v->child; s; s = s->next)
		if (s->type != PC_JSON_STRING)
			return false;
	return true;
}

static bool has_string(const struct pc_json *array, const char *s)
{
	for (const struct pc_json *v = array->child; v; v = v->next)
		if (v->type == PC_JSON_STRING && !strcmp(v->str, s))
			return true;
	return false;
}

/* The keys of ref, no more, no less (the values are the caller's). */
static int same_keys(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref)
{
	for (const struct pc_json *m = cfg->child; m; m = m->next)
		if (!pc_json_get(ref, m->key)) {
			push_key(x, m->key);
			return bad(x, "not allowed in an app container");
		}
	for (const struct pc_json *r = ref->child; r; r = r->next)
		if (!pc_json_get(cfg, r->key)) {
			push_key(x, r->key);
			return bad(x, "missing");
		}
	return 0;
}

static int walk(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref);

/* ------------------------------------------------------------------ the rules */

static int r_args(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref)
{
	(void)ref;
	return strings(cfg, 1) ? 0 : bad(x, "is not an array of strings (at least one)");
}

static int r_env(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref)
{
	(void)ref;
	if (!strings(cfg, 0))
		return bad(x, "is not an array of NAME=VALUE strings");
	for (const struct pc_json *s = cfg->child; s; s = s->next)
		if (!strchr(s->str, '=') || s->str[0] == '=')
			return bad(x, "is not an array of NAME=VALUE strings");
	return 0;
}

static int r_absolute(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref)
{
	(void)ref;
	return cfg->type == PC_JSON_STRING && cfg->str[0] == '/' ? 0 : bad(x, "is not an absolute path");
}

static int r_string(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref)
{
	(void)ref;
	return cfg->type == PC_JSON_STRING ? 0 : bad(x, "is not a string");
}

/* process.user: the user of the container's manifest section (whose volumes pycm gives it) */
static int r_user(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref)
{
	long long uid = -1, gid = -1;
	if (cfg->type != PC_JSON_OBJECT)
		return differ(x, ref);
	if (same_keys(x, cfg, ref) < 0)
		return -1;
	static const char *const ids[] = {"uid", "gid"};
	for (int i = 0; i < 2; i++) {
		const struct pc_json *v = pc_json_get(cfg, ids[i]);
		if (!v || pc_json_int(v, 0, 4294967294LL, i ? &gid : &uid) < 0) {
			push_key(x, ids[i]);
			return bad(x, v ? "is not a number from 0 to 4294967294" : "missing");
		}
	}
	if (uid != x->c->uid || gid != x->c->gid)
		return bad(x, "%lld:%lld is not the user of its manifest section (%u:%u)", uid, gid, x->c->uid, x->c->gid);
	return 0;
}

/* every capability set: app capabilities only (the policy's bounding set) */
static int r_caps(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref)
{
	(void)ref;
	if (!strings(cfg, 0))
		return bad(x, "is not an array of capability names");
	for (const struct pc_json *s = cfg->child; s; s = s->next)
		if (!has_string(x->pol->caps, s->str))
			return bad(x, "%.64s is not an app capability", s->str);
	return 0;
}

/* maskedPaths, readonlyPaths: the policy's and maybe more */
static int r_paths(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref)
{
	if (!strings(cfg, 0))
		return bad(x, "is not an array of absolute paths");
	for (const struct pc_json *s = cfg->child; s; s = s->next)
		if (s->str[0] != '/')
			return bad(x, "%.64s is not an absolute path", s->str);
	for (const struct pc_json *s = ref->child; s; s = s->next)
		if (!has_string(cfg, s->str))
			return bad(x, "%s is missing", s->str);
	return 0;
}

static int r_positive(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref)
{
	(void)ref;
	long long n;
	if (pc_json_int(cfg, 1, LLONG_MAX, &n) == 0)
		return 0;
	size_t len = cfg->end - cfg->start;
	return bad(x, "%.*s is not a positive integer", (int)(len > 32 ? 32 : len), x->text + cfg->start);
}

/* linux.resources.cpu (the policy's reference has none): quota and period */
static int r_cpu(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref)
{
	(void)ref;
	static const char *const keys[] = {"quota", "period"};
	if (cfg->type != PC_JSON_OBJECT)
		return bad(x, "is not an object {quota, period}");
	for (const struct pc_json *m = cfg->child; m; m = m->next)
		if (strcmp(m->key, keys[0]) && strcmp(m->key, keys[1])) {
			push_key(x, m->key);
			return bad(x, "not allowed in an app container");
		}
	for (int i = 0; i < 2; i++) {
		const struct pc_json *v = pc_json_get(cfg, keys[i]);
		size_t mark = push_key(x, keys[i]);
		if (!v)
			return bad(x, "missing");
		if (r_positive(x, v, NULL) < 0)
			return -1;
		pop(x, mark);
	}
	return 0;
}

/* the network namespace of a network = bridge container: exactly {"type": "network", "path":
 * PC_NETNS_DIR/NAME}, the one pycm-net makes for it (docs/networking.md) */
static int bridge_netns(struct ctx *x, const struct pc_json *item)
{
	char want[PC_PATH_MAX];
	snprintf(want, sizeof want, PC_NETNS_DIR "/%s", x->c->name);
	const struct pc_json *path = pc_json_get(item, "path");
	if (!path)
		return bad(x, "has no path %s (network = bridge)", want);
	size_t keys = 0;
	for (const struct pc_json *k = item->child; k; k = k->next)
		keys++;
	size_t mark = push_key(x, "path");
	if (path->type != PC_JSON_STRING || strcmp(path->str, want))
		return bad(x, "is not %s (network = bridge)", want);
	pop(x, mark);
	return keys == 2 ? 0 : bad(x, "has keys besides type and path");
}

/* linux.namespaces: each of the policy's, in any order, none with more than the policy's (a path);
 * the network namespace as the container's network says: none for host, its own for bridge */
static int r_namespaces(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref)
{
	if (cfg->type != PC_JSON_ARRAY)
		return differ(x, ref);
	size_t i = 0;
	for (const struct pc_json *item = cfg->child; item; item = item->next, i++) {
		size_t mark = push_index(x, i);
		const struct pc_json *type = pc_json_get(item, "type"), *want = NULL;
		for (const struct pc_json *r = ref->child; r; r = r->next)
			if (type && pc_json_equal(type, pc_json_get(r, "type")))
				want = r;
		if (!want)
			return bad(x, "%.32s is not a namespace of the app policy",
				   type && type->type == PC_JSON_STRING ? type->str : "an entry without a type");
		for (const struct pc_json *prev = cfg->child; prev != item; prev = prev->next)
			if (pc_json_equal(type, pc_json_get(prev, "type")))
				return bad(x, "a second %s namespace", type->str);
		bool network = !strcmp(type->str, "network");
		if (network && x->c->network == NET_HOST)
			return bad(x, "a network namespace (network = host)");
		if (network && x->c->network == NET_BRIDGE ? bridge_netns(x, item) < 0 : walk(x, item, want) < 0)
			return -1;
		pop(x, mark);
	}
	for (const struct pc_json *r = ref->child; r; r = r->next) {
		const struct pc_json *type = pc_json_get(r, "type");
		if (x->c->network == NET_HOST && type && type->type == PC_JSON_STRING && !strcmp(type->str, "network"))
			continue;
		bool found = false;
		for (const struct pc_json *item = cfg->child; item && !found; item = item->next)
			found = pc_json_equal(type, pc_json_get(item, "type"));
		if (!found) {
			char all[256] = "";
			size_t n = 0;
			for (const struct pc_json *t = ref->child; t; t = t->next)
				n += (size_t)snprintf(all + n, n < sizeof all ? sizeof all - n : 0, "%s%s",
						      t == ref->child ? "" : t->next ? ", " : " and ", pc_json_get(t, "type")->str);
			return bad(x, "no %s namespace (an app container has its own %s namespaces)", type->str, all);
		}
	}
	return 0;
}

static int walk_object(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref, const char *skip);

/* the user's mount: the policy's, with uid= and gid= of the user appended unless it is root */
static int user_mount(struct ctx *x, const struct pc_json *m, const struct pc_json *ref)
{
	if (m->type != PC_JSON_OBJECT)
		return differ(x, ref);
	if (walk_object(x, m, ref, "options") < 0)
		return -1;
	const struct pc_json *o = pc_json_get(m, "options"), *want = pc_json_get(ref, "options");
	push_key(x, "options");
	if (!o)
		return bad(x, "missing");
	bool owner = x->c->uid || x->c->gid;
	char id[2][32];
	snprintf(id[0], sizeof id[0], "uid=%u", x->c->uid);
	snprintf(id[1], sizeof id[1], "gid=%u", x->c->gid);
	bool ok = o->type == PC_JSON_ARRAY && o->n == want->n + (owner ? 2 : 0);
	const struct pc_json *a = ok ? o->child : NULL;
	for (const struct pc_json *b = want->child; ok && b; b = b->next, a = a->next)
		ok = pc_json_equal(a, b);
	for (int i = 0; ok && owner && i < 2; i++, a = a->next)
		ok = a->type == PC_JSON_STRING && !strcmp(a->str, id[i]);
	if (ok)
		return 0;
	if (!owner)
		return bad(x, "is not the app policy's");
	return bad(x, "is not the app policy's with %s and %s (the user of its manifest section)", id[0], id[1]);
}

/* a volume: a bind mount of the policy's forms, of one of the container's own volumes */
static int volume_mount(struct ctx *x, const struct pc_json *m)
{
	const struct pc_json *forms = x->pol->volume_mounts;
	if (m->type != PC_JSON_OBJECT)
		return bad(x, "is not a mount");
	if (same_keys(x, m, forms->child) < 0)
		return -1;
	bool type = false, options = false;
	for (const struct pc_json *f = forms->child; f; f = f->next)
		if (pc_json_equal(pc_json_get(m, "type"), pc_json_get(f, "type"))) {
			type = true;
			options = options || pc_json_equal(pc_json_get(m, "options"), pc_json_get(f, "options"));
		}
	if (!type) {
		push_key(x, "type");
		return differ(x, pc_json_get(forms->child, "type"));
	}
	if (!options) {
		push_key(x, "options");
		return bad(x, "is not one of the app policy's volume mounts");
	}
	const struct pc_json *src = pc_json_get(m, "source"), *dest = pc_json_get(m, "destination");
	bool own = false;
	for (int v = 0; src->type == PC_JSON_STRING && v < x->c->nvolumes; v++)
		own = own || !strcmp(src->str, x->c->volumes[v]);
	if (!own)
		return bad(x, "source %.100s is not a volume of container %s",
			   src->type == PC_JSON_STRING ? src->str : "(no string)", x->c->name);
	bool absolute = dest->type == PC_JSON_STRING && dest->str[0] == '/';
	for (const char *s = absolute ? dest->str : ""; *s; s++)
		absolute = absolute && !isspace((unsigned char)*s);
	if (!absolute) {
		push_key(x, "destination");
		return bad(x, "is not an absolute path without white space");
	}
	return 0;
}

/* a network = bridge container's resolv.conf: the policy's dnsMount with its own copy as source,
 * PC_NETNS_DIR/NAME.resolv.conf (the one pycm-net writes for it) */
static int dns_mount(struct ctx *x, const struct pc_json *m)
{
	char want[PC_PATH_MAX];
	snprintf(want, sizeof want, PC_RESOLV_COPY, x->c->name);
	if (!m)
		return bad(x, "missing: the DNS mount %s (network = bridge)", want);
	if (m->type != PC_JSON_OBJECT)
		return bad(x, "is not a mount");
	if (same_keys(x, m, x->pol->dns_mount) < 0 || walk_object(x, m, x->pol->dns_mount, "source") < 0)
		return -1;
	const struct pc_json *src = pc_json_get(m, "source");
	push_key(x, "source");
	return src->type == PC_JSON_STRING && !strcmp(src->str, want) ? 0 : bad(x, "is not %s (network = bridge)", want);
}

/* mounts: the policy's in its order (the user's with its user), a bridge container's DNS mount,
 * then the container's volumes */
static int r_mounts(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref)
{
	if (cfg->type != PC_JSON_ARRAY)
		return differ(x, ref);
	const struct pc_json *m = cfg->child;
	size_t i = 0;
	for (const struct pc_json *r = ref->child; r; r = r->next, m = m->next, i++) {
		size_t mark = push_index(x, i);
		const char *dest = pc_json_get(r, "destination")->str;
		if (!m)
			return bad(x, "missing: the app policy's %s mount", dest);
		if ((!strcmp(dest, x->pol->user_mount) ? user_mount(x, m, r) : walk(x, m, r)) < 0)
			return -1;
		pop(x, mark);
	}
	if (x->c->network == NET_BRIDGE) {
		size_t mark = push_index(x, i++);
		if (dns_mount(x, m) < 0)
			return -1;
		pop(x, mark);
		m = m->next;
	}
	for (; m; m = m->next, i++) {
		size_t mark = push_index(x, i);
		if (volume_mount(x, m) < 0)
			return -1;
		pop(x, mark);
	}
	return 0;
}

typedef int (*rule_fn)(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref);
static const struct rule {
	const char *path;
	rule_fn fn;
	bool optional; /* a key the reference does not have (ref is then NULL) */
} RULES[] = {
	{"process.args", r_args, false},
	{"process.env", r_env, false},
	{"process.cwd", r_absolute, false},
	{"process.user", r_user, false},
	{"process.capabilities.bounding", r_caps, false},
	{"process.capabilities.effective", r_caps, false},
	{"process.capabilities.permitted", r_caps, false},
	{"process.capabilities.inheritable", r_caps, true},
	{"process.capabilities.ambient", r_caps, true},
	{"hostname", r_string, false},
	{"mounts", r_mounts, false},
	{"linux.namespaces", r_namespaces, false},
	{"linux.maskedPaths", r_paths, false},
	{"linux.readonlyPaths", r_paths, false},
	{"linux.resources.memory.limit", r_positive, false},
	{"linux.resources.pids.limit", r_positive, false},
	{"linux.resources.cpu", r_cpu, true},
};

static const struct rule *rule_of(const char *path)
{
	for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++)
		if (!strcmp(RULES[i].path, path))
			return &RULES[i];
	return NULL;
}

/* ------------------------------------------------------------------ the walk */

/* The members of cfg against those of ref (skip: one left to the caller). A key with '.', '[' or
 * ']' is never a rule's. */
static int walk_object(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref, const char *skip)
{
	for (const struct pc_json *m = cfg->child; m; m = m->next) {
		if (skip && !strcmp(m->key, skip))
			continue;
		size_t mark = push_key(x, m->key);
		const struct pc_json *r = pc_json_get(ref, m->key);
		const struct rule *rule = r || strpbrk(m->key, ".[]") ? NULL : rule_of(x->path);
		int rc = r ? walk(x, m, r)
			   : rule && rule->optional ? rule->fn(x, m, NULL) : bad(x, "not allowed in an app container");
		if (rc < 0)
			return -1;
		pop(x, mark);
	}
	for (const struct pc_json *r = ref->child; r; r = r->next)
		if ((!skip || strcmp(r->key, skip)) && !pc_json_get(cfg, r->key)) {
			push_key(x, r->key);
			return bad(x, "missing");
		}
	return 0;
}

static int walk(struct ctx *x, const struct pc_json *cfg, const struct pc_json *ref)
{
	const struct rule *rule = rule_of(x->path);
	if (rule)
		return rule->fn(x, cfg, ref);
	if (cfg->type != ref->type)
		return differ(x, ref);
	if (cfg->type == PC_JSON_OBJECT)
		return walk_object(x, cfg, ref, NULL);
	if (cfg->type != PC_JSON_ARRAY)
		return pc_json_equal(cfg, ref) ? 0 : differ(x, ref);
	if (cfg->n != ref->n)
		return differ(x, ref);
	size_t i = 0;
	for (const struct pc_json *a = cfg->child, *b = ref->child; a; a = a->next, b = b->next, i++) {
		size_t mark = push_index(x, i);
		if (walk(x, a, b) < 0)
			return -1;
		pop(x, mark);
	}
	return 0;
}

int pc_policy_check(const struct pc_policy *pol, const struct pc_container *c, const char *text, size_t len,
		    struct pc_err *err)
{
	struct pc_json_doc doc;
	if (pc_json_parse(text, len, "config.json", &doc, err) < 0)
		return -1;
	struct ctx x = {.pol = pol, .c = c, .text = text, .err = err};
	int rc = doc.root->type == PC_JSON_OBJECT ? walk(&x, doc.root, pol->config)
						  : pc_error(err, 0, "config.json: is not an object");
	/* where pycm adds declared devices (devices.c) is where the parsed file has them */
	const struct pc_json *lx = pc_json_get(doc.root, "linux");
	const struct pc_json *dv = pc_json_get(pc_json_get(lx, "resources"), "devices");
	const char *at, *last;
	if (rc == 0 && (!lx || !dv || memchr(text, '\0', len) || pc_devices_splice(text, &at, &last) < 0 ||
			at != text + lx->start + 1 || last != text + dv->end - 1))
		rc = pc_error(err, 0, "config.json: linux.resources.devices: is not the file's last item, with linux "
				      "written `\"linux\": {` (pycm adds declared devices there)");
	pc_json_free(&doc);
	return rc;
}

/* ------------------------------------------------------------------ loading */

int pc_policy_path(const char *slot_manifest, char *buf, size_t size)
{
	const char *slash = strrchr(slot_manifest, '/');
	return pc_fmt(buf, size, "%.*s/" PC_POLICY_NAME, slash ? (int)(slash - slot_manifest) : 1,
		      slash ? slot_manifest : ".");
}

/* The policy's shape, so that the walk and the rules find what they expect in it. */
static const char *policy_problem(struct pc_policy *pol)
{
	const struct pc_json *root = pol->doc.root, *v;
	long long format;
	if (pc_json_int(pc_json_get(root, "pycontainers-app-policy"), FORMAT, FORMAT, &format) < 0)
		return "pycontainers-app-policy is not 1";
	pol->config = pc_json_get(root, "config");
	if (!pol->config || pol->config->type != PC_JSON_OBJECT)
		return "config is not an object";
	pol->caps = pc_json_get(pc_json_get(pc_json_get(pol->config, "process"), "capabilities"), "bounding");
	if (!pol->caps || !strings(pol->caps, 0))
		return "config.process.capabilities.bounding is not an array of strings";
	v = pc_json_get(pol->config, "mounts");
	if (!v || v->type != PC_JSON_ARRAY)
		return "config.mounts is not an array";
	for (const struct pc_json *m = v->child; m; m = m->next) {
		const struct pc_json *d = pc_json_get(m, "destination"), *o = pc_json_get(m, "options");
		if (!d || d->type != PC_JSON_STRING || !o || o->type != PC_JSON_ARRAY)
			return "config.mounts: a mount without destination or options";
	}
	v = pc_json_get(pc_json_get(pol->config, "linux"), "namespaces");
	if (!v || v->type != PC_JSON_ARRAY)
		return "config.linux.namespaces is not an array";
	for (const struct pc_json *n = v->child; n; n = n->next)
		if (!pc_json_get(n, "type") || pc_json_get(n, "type")->type != PC_JSON_STRING)
			return "config.linux.namespaces: a namespace without a type";
	v = pc_json_get(root, "userMount");
	if (!v || v->type != PC_JSON_STRING)
		return "userMount is not a string";
	pol->user_mount = v->str;
	pol->volume_mounts = v = pc_json_get(root, "volumeMounts");
	if (!v || v->type != PC_JSON_ARRAY || !v->n)
		return "volumeMounts is not an array of mounts";
	for (const struct pc_json *m = v->child; m; m = m->next)
		if (m->type != PC_JSON_OBJECT || !pc_json_get(m, "type") || !pc_json_get(m, "options") ||
		    !pc_json_get(m, "source") || !pc_json_get(m, "destination") || m->n != v->child->n)
			return "volumeMounts is not an array of mounts";
	pol->dns_mount = v = pc_json_get(root, "dnsMount");
	if (!v || v->type != PC_JSON_OBJECT || !pc_json_get(v, "source") || !pc_json_get(v, "destination"))
		return "dnsMount is not a mount";
	return NULL;
}

int pc_policy_parse(const char *text, size_t len, const char *name, struct pc_policy *pol, struct pc_err *err)
{
	struct pc_err e;
	memset(pol, 0, sizeof *pol);
	pol->text = malloc(len + 1);
	if (!pol->text)
		return pc_error(err, ENOMEM, "app policy %s", name);
	memcpy(pol->text, text, len);
	pol->text[len] = '\0';
	if (pc_json_parse(pol->text, len, name, &pol->doc, &e) < 0) {
		pc_policy_free(pol);
		return pc_error(err, 0, "app policy %s", e.msg);
	}
	const char *problem = policy_problem(pol);
	if (problem) {
		pc_policy_free(pol);
		return pc_error(err, 0, "app policy %s: not a pycontainers app policy: %s", name, problem);
	}
	return 0;
}

int pc_policy_load(const char *path, struct pc_policy *pol, struct pc_err *err)
{
	struct pc_err e;
	size_t len;
	char *text = pc_read_file_at(AT_FDCWD, path, 0, PC_CONFIG_MAX, &len, &e);
	if (!text)
		return pc_error(err, 0, "app policy %s", e.msg);
	int rc = pc_policy_parse(text, len, path, pol, err);
	free(text);
	return rc;
}

void pc_policy_free(struct pc_policy *pol)
{
	pc_json_free(&pol->doc);
	free(pol->text);
	memset(pol, 0, sizeof *pol);
}

int pc_policy_check_manifest(const struct pc_policy *pol, const struct pc_manifest *m, struct pc_err *err)
{
	for (int i = 0; i < m->ncontainers; i++) {
		const struct pc_container *c = &m->c[i];
		struct pc_err e = {0};
		struct stat st;
		size_t len;
		if (c->service || c->role != ROLE_APP)
			continue;
		int dir = open(c->bundle, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dir < 0)
			return pc_error(err, errno, "container %s: %s", c->name, c->bundle);
		char *text = pc_read_file_at(dir, "config.json", O_NOFOLLOW, PC_CONFIG_MAX, &len, &e);
		int rc = text ? pc_policy_check(pol, c, text, len, &e) : -1;
		free(text);
		if (rc == 0 && (fstatat(dir, "rootfs", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)))
			rc = pc_error(&e, 0, "rootfs: not a directory");
		close(dir);
		if (rc < 0)
			return pc_error(err, 0, "container %s: %s", c->name, e.msg);
	}
	return 0;
}
