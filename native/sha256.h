/* SHA-256 (FIPS 180-4): x86 SHA extensions when the CPU has them, else portable C. */
#ifndef TSPOD_SHA256_H
#define TSPOD_SHA256_H
#include <stddef.h>
#include <stdint.h>

struct sha256 {
  uint32_t h[8];
  uint64_t len; /* bytes hashed */
  unsigned char buf[64];
  size_t nbuf;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t n);
/* Finishes s; writes 64 lowercase hex digits and a NUL into hex. */
void sha256_hex(struct sha256 *s, char hex[65]);
/* 1 when the SHA extensions are used (for tests and the bench). */
int sha256_accelerated(void);

#endif
