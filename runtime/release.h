/* The slot's release file (/etc/pycontainers/release; PYCM_RELEASE overrides it): KEY=VALUE lines
 * written by the generator (NAME, VERSION, COMPATIBLE, BOARD, SIGNING). */
#ifndef PYCM_RELEASE_H
#define PYCM_RELEASE_H

#include <stddef.h>

/* VALUE of KEY into val ("" when the file or the key is missing). */
void pc_release_value(const char *key, char *val, size_t size);
/* VALUE of a KEY=VALUE line of text (a release file, or a manifest.raucm's [update] section: the
 * text stops at another section), quotes around it removed; "" when there is none. */
void pc_key_value(const char *text, const char *key, char *val, size_t size);

#endif
