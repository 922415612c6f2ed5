/*
 * config.json -> struct jdoc through SQLite's json_tree() (plan_json.h says why each check).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launcher.h"
#include "plan_internal.h"

/* Pre-order rows; a number's literal text comes from `->`, which renders the node as written. */
static const char TREE_SQL[] =
    "SELECT id, parent, type, key,"
    " CASE WHEN type = 'text' THEN atom WHEN type IN ('integer', 'real') THEN ?1 -> fullkey END"
    " FROM json_tree(?1)";

static bool fail_why(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail_why(char *why, size_t whylen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return false;
}

static enum jtype type_of(const char *t) {
    if (!strcmp(t, "object")) return J_OBJECT;
    if (!strcmp(t, "array")) return J_ARRAY;
    if (!strcmp(t, "text")) return J_TEXT;
    if (!strcmp(t, "integer") || !strcmp(t, "real")) return J_NUMBER;
    if (!strcmp(t, "true")) return J_TRUE;
    if (!strcmp(t, "false")) return J_FALSE;
    return J_NULL;
}

/* A copy of column i as a C string: NULL when it is NULL, holds a NUL, or is not strict UTF-8
 * (JSON.parse would give a lone surrogate where SQLite gives bytes; node's encoder then differs). */
static char *column_string(sqlite3_stmt *st, int i, bool *bad) {
    const char *s = (const char *)sqlite3_column_text(st, i);
    if (!s) return NULL;
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    if (strlen(s) != n || !utf8_valid(s)) {
        *bad = true;
        return NULL;
    }
    return plan_strndup(s, n);
}

/* The index of the node whose json_tree id is `id` (ids grow in pre-order: binary search). */
static int index_of(const long long *ids, int count, long long id) {
    int lo = 0, hi = count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (ids[mid] == id) return mid;
        if (ids[mid] < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static bool has_member(const struct jdoc *d, int obj, const char *key, int except) {
    JFOR(d, obj, c) {
        if (c != except && d->n[c].key && !strcmp(d->n[c].key, key)) return true;
    }
    return false;
}

/* Append row `i` to its parent's children; false for a second member of the same name. */
static bool link_node(struct jdoc *d, int *last, int i, int parent) {
    d->n[i].first = d->n[i].next = -1;
    last[i] = -1;
    if (parent < 0) return true;
    if (last[parent] < 0) d->n[parent].first = i;
    else d->n[last[parent]].next = i;
    last[parent] = i;
    return !(d->n[parent].type == J_OBJECT && has_member(d, parent, d->n[i].key, i));
}

static bool load_rows(sqlite3_stmt *st, struct jdoc *d, char *why, size_t whylen) {
    int cap = 0, rc;
    long long *ids = NULL;
    int *last = NULL;
    bool ok = true;
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (d->count == cap) {
            cap = cap ? cap * 2 : 128;
            d->n = realloc(d->n, (size_t)cap * sizeof *d->n);
            ids = realloc(ids, (size_t)cap * sizeof *ids);
            last = realloc(last, (size_t)cap * sizeof *last);
            if (!d->n || !ids || !last) die("out of memory");
        }
        int i = d->count++;
        struct jnode *n = &d->n[i];
        bool bad = false;
        ids[i] = sqlite3_column_int64(st, 0);
        n->type = type_of((const char *)sqlite3_column_text(st, 2));
        n->key = sqlite3_column_type(st, 3) == SQLITE_TEXT ? column_string(st, 3, &bad) : NULL;
        n->text = column_string(st, 4, &bad);
        int parent = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : index_of(ids, i, sqlite3_column_int64(st, 1));
        n->first = n->next = -1;
        if (bad) ok = fail_why(why, whylen, "config.json: a string with NUL or invalid UTF-8");
        else if (parent >= 0 && d->n[parent].type == J_OBJECT && !n->key)
            ok = fail_why(why, whylen, "config.json: a member without a name");
        else if (!link_node(d, last, i, parent))
            ok = fail_why(why, whylen, "config.json: duplicate key \"%s\"", n->key);
        else if ((n->type == J_NUMBER || n->type == J_TEXT) && !n->text)
            ok = fail_why(why, whylen, "config.json: a value SQLite cannot render");
        else if (parent < 0 && i > 0) ok = fail_why(why, whylen, "config.json: json_tree order");
    }
    if (ok && rc != SQLITE_DONE) ok = fail_why(why, whylen, "config.json: json_tree: %s", sqlite3_errstr(rc));
    free(ids);
    free(last);
    return ok;
}

bool jdoc_load(sqlite3 *db, const char *json, struct jdoc *d, char *why, size_t whylen) {
    memset(d, 0, sizeof *d);
    /* JSON.parse reads the UTF-8 file as text: invalid bytes would become U+FFFD there. */
    if (!utf8_valid(json)) return fail_why(why, whylen, "config.json: not valid UTF-8");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT json_valid(?1, 1)", -1, &st, NULL) != SQLITE_OK)
        return fail_why(why, whylen, "sqlite: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
    bool strict = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
    sqlite3_finalize(st);
    if (!strict) return fail_why(why, whylen, "config.json: not strict JSON");
    if (sqlite3_prepare_v2(db, TREE_SQL, -1, &st, NULL) != SQLITE_OK)
        return fail_why(why, whylen, "sqlite: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
    bool ok = load_rows(st, d, why, whylen);
    sqlite3_finalize(st);
    if (ok && d->count == 0) ok = fail_why(why, whylen, "config.json: empty");
    if (!ok) jdoc_free(d);
    return ok;
}

void jdoc_free(struct jdoc *d) {
    for (int i = 0; i < d->count; i++) {
        free(d->n[i].key);
        free(d->n[i].text);
    }
    free(d->n);
    d->n = NULL;
    d->count = 0;
}

int jget(const struct jdoc *d, int obj, const char *key) {
    if (obj < 0 || d->n[obj].type != J_OBJECT) return -1;
    JFOR(d, obj, c) {
        if (!strcmp(d->n[c].key, key)) return c;
    }
    return -1;
}

int jpath(const struct jdoc *d, int from, const char *path) {
    char part[64];
    int node = from;
    while (node >= 0 && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof part) return -1;
        memcpy(part, path, n);
        part[n] = 0;
        node = jget(d, node, part);
        path += n + (path[n] == '.');
    }
    return node;
}

int jlen(const struct jdoc *d, int node) {
    int n = 0;
    JFOR(d, node, c) n++;
    return n;
}

const char *jtext(const struct jdoc *d, int i) { return i >= 0 ? d->n[i].text : NULL; }

double jnum(const struct jdoc *d, int i) { return strtod(d->n[i].text, NULL); }

bool jtrue(const struct jdoc *d, int i) { return i >= 0 && d->n[i].type == J_TRUE; }

double jnum_or(const struct jdoc *d, int obj, const char *key, double fallback) {
    int i = jget(d, obj, key);
    return i >= 0 ? jnum(d, i) : fallback;
}
