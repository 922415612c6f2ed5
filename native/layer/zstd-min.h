/* The few functions of zstd's stable streaming API polis-layer uses (zstd.h, "Streaming
 * decompression"), declared here so that building needs no libzstd-dev: the binary links
 * libzstd.so.1, present on every Debian 12. */
#ifndef POLIS_ZSTD_MIN_H
#define POLIS_ZSTD_MIN_H
#include <stddef.h>

typedef struct ZSTD_DCtx_s ZSTD_DStream;
typedef struct {
  const void *src;
  size_t size;
  size_t pos;
} ZSTD_inBuffer;
typedef struct {
  void *dst;
  size_t size;
  size_t pos;
} ZSTD_outBuffer;

ZSTD_DStream *ZSTD_createDStream(void);
size_t ZSTD_initDStream(ZSTD_DStream *zds);
size_t ZSTD_decompressStream(ZSTD_DStream *zds, ZSTD_outBuffer *output, ZSTD_inBuffer *input);
unsigned ZSTD_isError(size_t code);
const char *ZSTD_getErrorName(size_t code);
#endif
