/* The layer's uncompressed tar, as tar.c reads it: gzip or zstd by the magic number (registries'
 * media types are not always right), else plain; every byte hashed (sha256, the diffId) and
 * counted as it is handed out, the bytes after the tar's end too. Decompression errors read as
 * node's zlib put them: "bad compressed data: <zlib's message>", "unexpected end of file". */
#include "layer.h"

#include <errno.h>
/* SHA256_Init & co.: deprecated in OpenSSL 3 for the EVP calls, which start the provider machinery
 * (~1.5 ms of CPU per process, most of this program's start); these go straight to the same
 * assembly (SHA-NI where the CPU has it). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "zstd-min.h"

#define IN_SIZE (128 << 10)
#define OUT_SIZE (256 << 10)

enum kind { PLAIN, GZIP, ZSTD };

static int in_fd;
static enum kind kind;
static unsigned char in_buf[IN_SIZE];
static size_t in_len, in_pos;
static int in_eof;
static unsigned char out_buf[OUT_SIZE];
/* the bytes not handed out yet: out[pos..len) (in in_buf for a plain tar) */
static unsigned char *out;
static size_t out_len, out_pos;
/* the compressed stream is over (a gzip member ended with nothing after it, zstd at EOF) */
static int done;
static z_stream z;
static ZSTD_DStream *zd;
/* zstd: the last call ended a frame (at EOF that is the end; elsewhere the stream was cut) */
static int zstd_frame_end;
static SHA256_CTX md;
static uint64_t total;

/* more compressed bytes into in_buf (what was not consumed moves to the front); 0 at EOF */
static size_t read_more(void) {
  if (in_pos > 0) {
    memmove(in_buf, in_buf + in_pos, in_len - in_pos);
    in_len -= in_pos;
    in_pos = 0;
  }
  if (in_eof || in_len == IN_SIZE)
    return 0;
  for (;;) {
    ssize_t n = read(in_fd, in_buf + in_len, IN_SIZE - in_len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail_sys("read", in_fd ? "the layer file" : "stdin");
    if (n == 0)
      in_eof = 1;
    in_len += (size_t)n;
    return (size_t)n;
  }
}

void source_open(int fd) {
  in_fd = fd;
  if (SHA256_Init(&md) != 1)
    fail("cannot set up sha256");
  while (in_len < 4 && read_more() > 0)
    ;
  if (in_len >= 2 && in_buf[0] == 0x1f && in_buf[1] == 0x8b) {
    kind = GZIP;
    if (inflateInit2(&z, 15 + 16) != Z_OK)
      fail("cannot set up zlib");
  } else if (in_len >= 4 && in_buf[0] == 0x28 && in_buf[1] == 0xb5 && in_buf[2] == 0x2f && in_buf[3] == 0xfd) {
    kind = ZSTD;
    zd = ZSTD_createDStream();
    if (!zd || ZSTD_isError(ZSTD_initDStream(zd)))
      fail("cannot set up zstd");
  } else {
    kind = PLAIN;
  }
}

/* Produces the next uncompressed bytes into out[0..out_len); false at the end of the stream. */
static int fill(void) {
  out_pos = out_len = 0;
  if (done)
    return 0;
  if (kind == PLAIN) {
    if (in_pos == in_len && read_more() == 0 && in_len == 0) {
      done = 1;
      return 0;
    }
    out = in_buf;
    out_len = in_len;
    in_pos = in_len; /* handed out: the next read_more starts over at the front */
    return 1;
  }
  out = out_buf;
  while (out_len == 0) {
    if (in_pos == in_len) {
      in_pos = in_len = 0;
      read_more();
    }
    size_t avail = in_len - in_pos;
    if (kind == GZIP) {
      z.next_in = in_buf + in_pos;
      z.avail_in = (uInt)avail;
      z.next_out = out_buf;
      z.avail_out = OUT_SIZE;
      int r = inflate(&z, Z_NO_FLUSH);
      in_pos = in_len - z.avail_in;
      out_len = OUT_SIZE - z.avail_out;
      if (r == Z_STREAM_END) {
        /* another gzip member may follow (node's gunzip reads them all); other bytes are ignored */
        if (in_pos == in_len) {
          in_pos = in_len = 0;
          read_more();
        }
        if (in_pos < in_len && in_buf[in_pos] == 0x1f) {
          inflateReset(&z);
        } else {
          done = 1;
          break;
        }
      } else if (r == Z_DATA_ERROR) {
        fail("bad compressed data: %s", z.msg ? z.msg : "invalid data");
      } else if (r == Z_MEM_ERROR) {
        fail("out of memory");
      } else if (r == Z_BUF_ERROR || (r == Z_OK && out_len == 0 && avail == 0)) {
        if (in_eof && in_pos == in_len)
          fail("unexpected end of file");
      } else if (r != Z_OK) {
        fail("bad compressed data: %s", z.msg ? z.msg : "zlib error");
      }
    } else {
      ZSTD_inBuffer zin = { in_buf + in_pos, avail, 0 };
      ZSTD_outBuffer zout = { out_buf, OUT_SIZE, 0 };
      size_t r = ZSTD_decompressStream(zd, &zout, &zin);
      if (ZSTD_isError(r))
        fail("bad compressed data: %s", ZSTD_getErrorName(r));
      in_pos += zin.pos;
      out_len = zout.pos;
      if (zin.pos || zout.pos)
        zstd_frame_end = r == 0;
      if (out_len == 0 && in_eof && in_pos == in_len) {
        if (!zstd_frame_end)
          fail("unexpected end of file");
        done = 1;
        break;
      }
    }
  }
  return out_len > 0;
}

size_t source_get(const unsigned char **p, size_t max) {
  if (out_pos == out_len && !fill())
    return 0;
  size_t n = out_len - out_pos;
  if (n > max)
    n = max;
  *p = out + out_pos;
  if (SHA256_Update(&md, *p, n) != 1)
    fail("sha256 failed");
  total += n;
  out_pos += n;
  return n;
}

void source_digest(char out_hex[72]) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  if (SHA256_Final(d, &md) != 1)
    fail("sha256 failed");
  memcpy(out_hex, "sha256:", 7);
  for (int i = 0; i < 32; i++) {
    out_hex[7 + 2 * i] = "0123456789abcdef"[d[i] >> 4];
    out_hex[8 + 2 * i] = "0123456789abcdef"[d[i] & 15];
  }
  out_hex[71] = 0;
}

uint64_t source_size(void) {
  return total;
}
