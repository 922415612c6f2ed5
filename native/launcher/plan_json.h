/*
 * config.json as a tree the plan builder can walk, read in one pass with SQLite's json_tree()
 * (no JSON parser in C). Only documents JSON.parse reads the same way are loaded: strict RFC 8259
 * text (SQLite alone would take JSON5), strict UTF-8, no duplicate keys (JSON.parse keeps the last,
 * SQLite the first), no NUL in a string. Numbers keep their literal text and are read with strtod,
 * which rounds exactly as JSON.parse does.
 */
#ifndef POLIS_PLAN_JSON_H
#define POLIS_PLAN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <sqlite3.h>

enum jtype { J_NULL, J_TRUE, J_FALSE, J_NUMBER, J_TEXT, J_ARRAY, J_OBJECT };

struct jnode {
    enum jtype type;
    char *key;       /* member name in an object; NULL in an array and for the root */
    char *text;      /* J_TEXT: the decoded string; J_NUMBER: the literal as written */
    int first, next; /* first child, next sibling (-1: none), in document order */
};

struct jdoc {
    struct jnode *n; /* n[0] is the root */
    int count;
};

/* Loads `json`; false (with the reason in why) when it is not a document this builder reads. */
bool jdoc_load(sqlite3 *db, const char *json, struct jdoc *d, char *why, size_t whylen);
void jdoc_free(struct jdoc *d);

/* The member `key` of object node `obj`, or -1 (also when obj is -1 or not an object). */
int jget(const struct jdoc *d, int obj, const char *key);
/* A path of member names separated by '.', from node `from`: jpath(d, 0, "process.user.uid"). */
int jpath(const struct jdoc *d, int from, const char *path);
/* The number of children of an array or object node (0 for -1). */
int jlen(const struct jdoc *d, int node);
/* The text of node i (string or number literal), or NULL. */
const char *jtext(const struct jdoc *d, int i);
/* The value of a number node as JavaScript's JSON.parse would read it. */
double jnum(const struct jdoc *d, int i);
bool jtrue(const struct jdoc *d, int i);
/* The number member `key` of object node `obj`, or `fallback` when absent (or obj is -1). */
double jnum_or(const struct jdoc *d, int obj, const char *key, double fallback);

#define JFOR(d, parent, c) for (int c = (parent) >= 0 ? (d)->n[parent].first : -1; c >= 0; c = (d)->n[c].next)

#endif
