/*
 * SHA-256 for `tspod-rt unpack --input`: the diff id of a layer is the digest
 * of its uncompressed tar, computed where the tar is decompressed (the helper),
 * so the CLI never handles the uncompressed bytes at all.
 *
 * Two block functions: the x86 SHA extensions (sha256rnds2/msg1/msg2, chosen at
 * run time through cpuid; ~1.5-2 GB/s) and portable C (~250 MB/s). Tests check
 * both against known answers and against sha256sum.
 */
#pragma GCC optimize("O2")
#include "sha256.h"
#include <stdlib.h>
#include <string.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* ---------- portable ---------- */

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void blocks_c(uint32_t h[8], const unsigned char *p, size_t nblocks) {
  for (; nblocks; nblocks--, p += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
      w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
      uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
      uint32_t t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
      uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
  }
}

/* ---------- x86 SHA extensions ---------- */

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

#define SHANI __attribute__((target("sha,sse4.1,ssse3")))

/* Four rounds: g is the group (0..15), W the four message vectors.
 * Groups 3..14 finish the schedule of W[g+1]; groups 1..12 start W[g-1]'s. */
#define GROUP(g)                                                                        \
  do {                                                                                  \
    if ((g) < 4) W[(g)] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * (g))), MASK); \
    __m128i m = _mm_add_epi32(W[(g) & 3], _mm_loadu_si128((const __m128i *)&K[4 * (g)]));  \
    s1 = _mm_sha256rnds2_epu32(s1, s0, m);                                              \
    if ((g) >= 3 && (g) <= 14) {                                                        \
      __m128i t = _mm_alignr_epi8(W[(g) & 3], W[((g) + 3) & 3], 4);                     \
      W[((g) + 1) & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(W[((g) + 1) & 3], t), W[(g) & 3]); \
    }                                                                                   \
    s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m, 0x0e));                     \
    if ((g) >= 1 && (g) <= 12) W[((g) + 3) & 3] = _mm_sha256msg1_epu32(W[((g) + 3) & 3], W[(g) & 3]); \
  } while (0)

SHANI static void blocks_ni(uint32_t h[8], const unsigned char *p, size_t nblocks) {
  const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xb1); /* CDAB */
  __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1b); /* EFGH */
  __m128i s0 = _mm_alignr_epi8(t, s1, 8);                                          /* ABEF */
  s1 = _mm_blend_epi16(s1, t, 0xf0);                                               /* CDGH */
  for (; nblocks; nblocks--, p += 64) {
    __m128i a0 = s0, c0 = s1, W[4];
    GROUP(0); GROUP(1); GROUP(2); GROUP(3); GROUP(4); GROUP(5); GROUP(6); GROUP(7);
    GROUP(8); GROUP(9); GROUP(10); GROUP(11); GROUP(12); GROUP(13); GROUP(14); GROUP(15);
    s0 = _mm_add_epi32(s0, a0);
    s1 = _mm_add_epi32(s1, c0);
  }
  t = _mm_shuffle_epi32(s0, 0x1b);      /* FEBA */
  s1 = _mm_shuffle_epi32(s1, 0xb1);     /* DCHG */
  s0 = _mm_blend_epi16(t, s1, 0xf0);    /* DCBA */
  s1 = _mm_alignr_epi8(s1, t, 8);       /* HGFE */
  _mm_storeu_si128((__m128i *)&h[0], s0);
  _mm_storeu_si128((__m128i *)&h[4], s1);
}

static int have_ni(void) {
  static int v = -1;
  if (v < 0) {
    unsigned a, b, c, d;
    v = 0;
    if (getenv("TSPOD_SHA256_PORTABLE")) return v;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) && (c & bit_SSSE3) &&
        __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)))
      v = 1;
  }
  return v;
}
#else
static int have_ni(void) { return 0; }
#define blocks_ni blocks_c
#endif

static void blocks(uint32_t h[8], const unsigned char *p, size_t n) {
  if (have_ni()) blocks_ni(h, p, n);
  else blocks_c(h, p, n);
}

int sha256_accelerated(void) { return have_ni(); }

void sha256_init(struct sha256 *s) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, iv, sizeof iv);
  s->len = 0;
  s->nbuf = 0;
}

void sha256_update(struct sha256 *s, const void *data, size_t n) {
  const unsigned char *p = data;
  s->len += n;
  if (s->nbuf) {
    size_t k = 64 - s->nbuf < n ? 64 - s->nbuf : n;
    memcpy(s->buf + s->nbuf, p, k);
    s->nbuf += k, p += k, n -= k;
    if (s->nbuf < 64) return;
    blocks(s->h, s->buf, 1);
    s->nbuf = 0;
  }
  if (n >= 64) {
    blocks(s->h, p, n / 64);
    p += n & ~(size_t)63;
    n &= 63;
  }
  memcpy(s->buf, p, n);
  s->nbuf = n;
}

void sha256_hex(struct sha256 *s, char hex[65]) {
  uint64_t bits = s->len * 8;
  unsigned char pad[72] = {0x80};
  size_t padn = (s->nbuf < 56 ? 56 : 120) - s->nbuf;
  for (int i = 0; i < 8; i++) pad[padn + i] = (unsigned char)(bits >> (56 - 8 * i));
  sha256_update(s, pad, padn + 8);
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    unsigned char b = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)));
    hex[2 * i] = digits[b >> 4];
    hex[2 * i + 1] = digits[b & 15];
  }
  hex[64] = 0;
}
