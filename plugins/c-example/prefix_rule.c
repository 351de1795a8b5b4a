/*
 * prefix_rule: a simba-run strategy plugin written in C, to show the ABI is
 * language-neutral. It prepends a rule (config `text`, default "Answer
 * concisely.") to every predictor's instructions, and skips when every
 * predictor already starts with it.
 *
 * It needs no JSON library: it copies the request's "program" object into
 * the reply and inserts the rule after each "instructions" key. (A demo field
 * literally named "instructions" would be prefixed too; a real plugin would
 * use a JSON parser.) The config text is inserted as written, so it must be
 * valid JSON string content.
 *
 * Build: cc -shared -fPIC -I ../sdk/include -o libprefix_rule.so prefix_rule.c
 */
#include <stdlib.h>
#include <string.h>

#include "simba_plugin.h"

typedef struct {
    char *text; /* JSON string content, escapes kept */
    size_t len;
} PrefixRule;

typedef struct {
    uint8_t *data;
    size_t len, cap;
} Out;

static void put(Out *o, const void *bytes, size_t n) {
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n) cap *= 2;
        o->data = (uint8_t *)realloc(o->data, cap);
        o->cap = cap;
    }
    memcpy(o->data + o->len, bytes, n);
    o->len += n;
}

static void puts_(Out *o, const char *s) { put(o, s, strlen(s)); }

static SimbaBuffer finish(Out *o) {
    SimbaBuffer b = {o->data, o->len};
    return b;
}

static SimbaBuffer message(const char *s) {
    Out o = {0};
    puts_(&o, s);
    return finish(&o);
}

/* Index just past the JSON string starting at s[i] == '"'. */
static size_t skip_string(const uint8_t *s, size_t n, size_t i) {
    for (i++; i < n; i++) {
        if (s[i] == '\\') i++;
        else if (s[i] == '"') return i + 1;
    }
    return n;
}

/* Index just past the value starting at s[i] (object, array or scalar). */
static size_t skip_value(const uint8_t *s, size_t n, size_t i) {
    int depth = 0;
    for (; i < n; i++) {
        uint8_t c = s[i];
        if (c == '"') {
            i = skip_string(s, n, i) - 1;
            if (depth == 0) return i + 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0) return i; /* end of the enclosing container */
            if (--depth == 0) return i + 1;
        } else if (depth == 0 && (c == ',')) {
            return i;
        }
    }
    return n;
}

static size_t skip_ws(const uint8_t *s, size_t n, size_t i) {
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++;
    return i;
}

/* Finds the value of top-level key `key` in the object at s[0..n]; returns
 * its start or n. */
static size_t find_key(const uint8_t *s, size_t n, const char *key) {
    size_t klen = strlen(key);
    size_t i = skip_ws(s, n, 0);
    if (i >= n || s[i] != '{') return n;
    i++;
    while (i < n) {
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != '"') return n;
        size_t end = skip_string(s, n, i);
        int match = (end - i - 2 == klen) && memcmp(s + i + 1, key, klen) == 0;
        i = skip_ws(s, n, end);
        if (i >= n || s[i] != ':') return n;
        i = skip_ws(s, n, i + 1);
        if (match) return i;
        i = skip_ws(s, n, skip_value(s, n, i));
        if (i < n && s[i] == ',') i++;
    }
    return n;
}

static int32_t manifest(SimbaBuffer *out) {
    *out = message("{\"name\":\"c-example\",\"version\":\"0.1.0\","
                   "\"strategies\":[\"prefix_rule\"],\"models\":[]}");
    return SIMBA_STATUS_OK;
}

static int32_t create(uint32_t kind, const uint8_t *item, size_t item_len, const uint8_t *config,
                      size_t config_len, void **out_instance, SimbaBuffer *out) {
    if (kind != SIMBA_KIND_STRATEGY || item_len != 11 || memcmp(item, "prefix_rule", 11) != 0) {
        *out = message("c-example provides only the strategy prefix_rule");
        return SIMBA_STATUS_ERROR;
    }
    const char *def = "Answer concisely.";
    const uint8_t *text = (const uint8_t *)def;
    size_t len = strlen(def);
    size_t at = find_key(config, config_len, "text");
    if (at < config_len) {
        if (config[at] != '"') {
            *out = message("prefix_rule: `text` must be a string");
            return SIMBA_STATUS_ERROR;
        }
        size_t end = skip_string(config, config_len, at);
        text = config + at + 1;
        len = end - at - 2;
    }
    PrefixRule *rule = (PrefixRule *)malloc(sizeof(PrefixRule));
    rule->text = (char *)malloc(len + 1);
    memcpy(rule->text, text, len);
    rule->text[len] = 0;
    rule->len = len;
    *out_instance = rule;
    return SIMBA_STATUS_OK;
}

static int32_t call(void *instance, const uint8_t *req, size_t n, const SimbaHost *host,
                    SimbaBuffer *out) {
    const PrefixRule *rule = (const PrefixRule *)instance;
    size_t start = find_key(req, n, "program");
    if (start >= n || req[start] != '{') {
        *out = message("prefix_rule: the request has no program object");
        return SIMBA_STATUS_ERROR;
    }
    size_t end = skip_value(req, n, start);
    Out o = {0};
    puts_(&o, "{\"outcome\":\"applied\",\"note\":\"prefixed a rule\",\"program\":");
    int changed = 0;
    size_t copied = start;
    for (size_t i = start; i < end; i++) {
        if (req[i] != '"') continue;
        size_t s_end = skip_string(req, end, i);
        int is_key = (s_end - i == 14) && memcmp(req + i, "\"instructions\"", 14) == 0;
        size_t v = skip_ws(req, end, s_end);
        if (is_key && v < end && req[v] == ':') {
            v = skip_ws(req, end, v + 1);
            if (v < end && req[v] == '"') {
                int already = (end - v - 1 >= rule->len) &&
                              memcmp(req + v + 1, rule->text, rule->len) == 0;
                put(&o, req + copied, v + 1 - copied);
                copied = v + 1;
                if (!already) {
                    put(&o, rule->text, rule->len);
                    puts_(&o, " ");
                    changed = 1;
                }
            }
        }
        i = s_end - 1;
    }
    put(&o, req + copied, end - copied);
    puts_(&o, "}");
    if (!changed) {
        free(o.data);
        *out = message("{\"outcome\":\"skipped\",\"reason\":\"every predictor already has the rule\"}");
        return SIMBA_STATUS_OK;
    }
    if (host && host->size >= sizeof(SimbaHost) && host->log) {
        const char *msg = "prefix_rule applied";
        host->log(host->ctx, SIMBA_LOG_DEBUG, (const uint8_t *)msg, strlen(msg));
    }
    *out = finish(&o);
    return SIMBA_STATUS_OK;
}

static void destroy(void *instance) {
    PrefixRule *rule = (PrefixRule *)instance;
    if (!rule) return;
    free(rule->text);
    free(rule);
}

static void free_buffer(SimbaBuffer buf) { free(buf.ptr); }

static const SimbaPluginTable TABLE = {
    sizeof(SimbaPluginTable), SIMBA_ABI_MAJOR, SIMBA_ABI_MINOR,
    manifest, create, call, destroy, free_buffer,
};

const SimbaPluginTable *simba_plugin_entry(void) { return &TABLE; }
