/* String sets and maps for unpack.c: open addressing, FNV-1a, keys copied. */
#include "layer.h"

#include <stdlib.h>
#include <string.h>

static size_t hash(const char *s) {
  size_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static size_t slot(const struct table *t, const char *key) {
  size_t i = hash(key) & (t->cap - 1);
  while (t->keys[i] && strcmp(t->keys[i], key))
    i = (i + 1) & (t->cap - 1);
  return i;
}

void *table_get(const struct table *t, const char *key) {
  if (!t->n)
    return NULL;
  size_t i = slot(t, key);
  return t->keys[i] ? t->vals[i] : NULL;
}

int table_has(const struct table *t, const char *key) {
  return t->n && t->keys[slot(t, key)] != NULL;
}

void table_set(struct table *t, const char *key, void *val) {
  if ((t->n + 1) * 2 > t->cap) {
    struct table bigger = { 0 };
    bigger.cap = t->cap ? t->cap * 2 : 64;
    bigger.keys = calloc(bigger.cap, sizeof(char *));
    bigger.vals = calloc(bigger.cap, sizeof(void *));
    if (!bigger.keys || !bigger.vals)
      fail("out of memory");
    for (size_t i = 0; i < t->cap; i++) {
      if (!t->keys[i])
        continue;
      size_t j = slot(&bigger, t->keys[i]);
      bigger.keys[j] = t->keys[i];
      bigger.vals[j] = t->vals[i];
    }
    bigger.n = t->n;
    free(t->keys);
    free(t->vals);
    *t = bigger;
  }
  size_t i = slot(t, key);
  if (!t->keys[i]) {
    t->keys[i] = xstrdup(key);
    t->n++;
  }
  t->vals[i] = val;
}

void table_clear(struct table *t) {
  for (size_t i = 0; i < t->cap; i++) {
    free(t->keys[i]);
    t->keys[i] = NULL;
  }
  t->n = 0;
}
