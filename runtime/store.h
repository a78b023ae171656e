/* The app store on /data (docs/app-updates.md): content-addressed blobs, revisions made of hard
 * links to them, and the `current`, `previous` and `trial` pointers switched with rename(2).
 * pycm (PID 1) links pointers.c only: the pointers and pc_manifest_compose. The rest runs in
 * pycm-store (pycm-store.c), a child that may die: staging (appstage.c), materialising, GC,
 * verification and factory reset (store.c). */
#ifndef PYCM_STORE_H
#define PYCM_STORE_H

#include "err.h"
#include "manifest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define PC_APPS_DIR "/data/pycontainers/apps"
#define PC_FACTORY "factory" /* pointer target: the revision shipped in the slot */
#define PC_WIPE_MARKER "wipe-data" /* in the store root: factory-reset --wipe-data, done at the next boot */
#define PC_VOLUMES_DIR "/data/volumes"

/* pointers.c (in pycm and pycm-store) */
int pc_fsync_dir(const char *path);
bool pc_valid_hex(const char *s, size_t n);

/* At boot (pycm-store --boot): an uncommitted `trial` pointer is removed (its revision was never
 * health-checked to the end: the committed one runs), and so is a half-written staging
 * directory; with the wipe-data marker of a factory reset, /data/volumes is wiped, then the
 * marker removed. */
void pc_store_boot(const char *root);
/* Factory reset (pycm-store --factory-reset): the wipe-data marker when wipe, then every pointer
 * removed, current first (the factory revision runs from the next boot on). */
int pc_store_factory_reset(const char *root, bool wipe, struct pc_err *err);
/* Read pointer NAME (current, previous, trial) into target ("factory" or "revisions/ID");
 * returns 1 when it exists, 0 when it does not. */
int pc_store_pointer(const char *root, const char *name, char *target, size_t size);
/* Point NAME at target atomically (symlink NAME.tmp, rename, fsync of the directory). */
int pc_store_set(const char *root, const char *name, const char *target, struct pc_err *err);
/* Remove pointer NAME (and fsync the directory). */
int pc_store_unset(const char *root, const char *name, struct pc_err *err);
/* Commit the trial: previous = current (or factory), then rename(trial, current). */
int pc_store_commit(const char *root, struct pc_err *err);
/* Delete revisions no pointer names and that no path of keep[] lies in, leftovers of staging,
 * and blobs no revision links to (link count 1). Returns the bytes freed. */
long long pc_store_gc(const char *root, const char *const keep[], int nkeep);
/* The slot manifest with its containers replaced by those of the revision in revdir. */
int pc_manifest_compose(const char *slot_manifest, const char *revdir, struct pc_manifest *m, struct pc_err *err);
/* A digest of a directory tree: names, types, modes, symlink targets and file contents. */
int pc_tree_digest(const char *dir, char hex[65], struct pc_err *err);
/* Build revisions/ID from an extracted app bundle in staging (revision, manifest, blobs/):
 * every file a hard link to blobs/DIGEST.MODE, taken from the bundle, the store, or a file of
 * the factory containers of `factory` with the same digest; everything fsynced before the
 * directory is renamed into place; version (or NULL) is kept in revisions/ID/version. id receives ID;
 * a listing of another ID than expect (unless NULL) is refused before anything is written. */
int pc_store_materialize(const char *root, const char *staging, const struct pc_manifest *factory,
			 const char *version, const char *expect, char *id, size_t idsize, struct pc_err *err);
/* Check the store (no update in progress): each pointer names "factory" or a revision that
 * exists; every revision a pointer names matches its listing entry by entry (type, mode, size,
 * SHA-256 of the content, a hard link of its blob) with nothing more in its tree, and its
 * manifest composes with the slot manifest (slot: NULL skips that); every blob's content is what
 * its name says; no staging or half-written leftovers. Problems one line each on out; returns
 * 0 when sound, 1 otherwise. */
int pc_store_verify(const char *root, const char *slot, FILE *out);
/* Blobs no revision links to (link count 1) removed; returns the bytes freed. */
long long pc_store_gc_blobs(const char *root);
/* A regular file NAME of dirfd (flags: O_NOFOLLOW...) of at most max bytes, NUL-terminated and
 * malloc'd, its length in *len (unless NULL); NULL and "NAME: cannot open|not a regular file|larger
 * than..." in err. */
char *pc_read_file_at(int dirfd, const char *name, int flags, size_t max, size_t *len, struct pc_err *err);
/* Remove a tree (no error when it does not exist), never following a link below path. */
int pc_rmtree(const char *path);
/* A pointer's target as it may be: "factory" or "revisions/" and 16 hex digits. */
bool pc_store_target_ok(const char *target);

/* The listing of a revision (the `revision` file, docs/app-updates.md): "pycontainers-revision 1",
 * "id ID", then "container NAME" and its entries in depth-first order, one per line, fields
 * separated by tabs: d MODE PATH, f MODE SIZE SHA256 PATH, l TARGET PATH, p MODE PATH. */
#define PC_LISTING_PATH 1024  /* the longest PATH */
#define PC_LISTING_LINE 4096  /* the longest line */
#define PC_LISTING_DEPTH 64   /* directories in a path */

enum pc_entry_type { PC_ENT_CONTAINER, PC_ENT_DIR, PC_ENT_FILE, PC_ENT_LINK, PC_ENT_FIFO };

struct pc_entry {
	enum pc_entry_type type;
	int line;
	int depth;          /* directories between the container's and this entry's (0: in the container's) */
	unsigned mode;      /* d, f, p: never set-user-ID or set-group-ID */
	long long size;     /* f */
	const char *hex;    /* f: SHA-256 of the content */
	const char *target; /* l */
	const char *path;   /* relative to the container's directory; a container: its name */
	const char *name;   /* the last component of path */
};

typedef int (*pc_entry_fn)(const struct pc_entry *e, void *ctx, struct pc_err *err);

/* Parse and check a listing held in text[0..len) (a pure function: no file is touched). Every
 * path is relative without '.' or '..', every entry's parent is the container or a directory
 * listed before it (so nothing is ever made under a link), no mode has the set-user-ID or
 * set-group-ID bit, there is no device node. Calls fn (when not NULL) for each container line
 * and entry; id receives ID. On the first problem: -1 and "revision:LINE: ..." in err. */
int pc_listing_parse(const char *text, size_t len, char id[17], pc_entry_fn fn, void *ctx, struct pc_err *err);
/* The staging child of an app update: pycm-store --app-stage ... (appstage.c). */
int pc_app_stage_main(int argc, char **argv);
/* A line of pycm-store's answer to pycm, on fd 3 (nothing when it is not open); returns 0. */
int pc_answer(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* RAUC's pre-install handler (pycm-store --rauc-pre-install, or called as rauc-pre-install):
 * refuses a system bundle older than the running system unless `pycmctl system-update
 * --allow-downgrade` left RUN_DIR/allow-downgrade for this install. Exit status 0 or 1. */
int pc_rauc_pre_install_main(void);
#define PC_ALLOW_DOWNGRADE "allow-downgrade"
/* dpkg's version ordering (upstream, then the part after the last '-'): < 0, 0, > 0. */
int pc_version_cmp(const char *a, const char *b);

#endif
