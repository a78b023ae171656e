/* SHA-256 (FIPS 180-4): the digests of the app store's content-addressed blobs. */
#ifndef PYCM_SHA256_H
#define PYCM_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct pc_sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t used;
};

void pc_sha256_init(struct pc_sha256 *s);
void pc_sha256_update(struct pc_sha256 *s, const void *data, size_t len);
/* Finish and write the digest as 64 lowercase hex digits and a NUL into hex. */
void pc_sha256_hex(struct pc_sha256 *s, char hex[65]);

#endif
