/*
 * simba_plugin.h - the simba-run plugin ABI, version 1.1.
 *
 * Mirrors plugins/sdk/src/abi.rs field for field. A plugin is a shared
 * library exporting one symbol:
 *
 *     const SimbaPluginTable *simba_plugin_entry(void);
 *
 * The table lives as long as the library (the host never unloads it during a
 * run). The host reads `size`, `abi_major` and `abi_minor` first: a different
 * major is refused; a newer minor is accepted and fields past the host's
 * knowledge are ignored.
 *
 * Payloads are UTF-8 JSON (see docs/plugins.md). Functions returning int32_t
 * return SIMBA_STATUS_OK with the JSON result in *out, or SIMBA_STATUS_ERROR
 * with a UTF-8 error message in *out.
 *
 * Ownership: whoever allocates a buffer frees it. Buffers the plugin writes
 * to `out` are released by the host with the table's `free_buffer`; buffers
 * the host writes (replies of `call_lm`) are released by the plugin with the
 * host table's `free_buffer`. Request and config bytes passed in are owned by
 * the caller and valid only during the call.
 *
 * Threads: `call` may run on several threads at once for one instance.
 */
#ifndef SIMBA_PLUGIN_H
#define SIMBA_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIMBA_ABI_MAJOR 1
#define SIMBA_ABI_MINOR 1

#define SIMBA_STATUS_OK 0
#define SIMBA_STATUS_ERROR 1

#define SIMBA_KIND_STRATEGY 1
#define SIMBA_KIND_MODEL 2
/* ABI 1.1: tool and metric items (listed under "tools" and "metrics" in the manifest). */
#define SIMBA_KIND_TOOL 3
#define SIMBA_KIND_METRIC 4

#define SIMBA_LOG_ERROR 1
#define SIMBA_LOG_WARN 2
#define SIMBA_LOG_INFO 3
#define SIMBA_LOG_DEBUG 4

/* A byte buffer; freed by whoever allocated it. */
typedef struct SimbaBuffer {
    uint8_t *ptr;
    size_t len;
} SimbaBuffer;

/* The host's services, passed to every `call`; valid only during that call. */
typedef struct SimbaHost {
    size_t size; /* sizeof(SimbaHost) as the host knows it */
    void *ctx;   /* passed back to every callback */
    /* Call the spec's model `model` with a JSON ModelRequest; on OK *out holds
     * a JSON ModelReply ({"status":"ok",...} or {"status":"error",...}). */
    int32_t (*call_lm)(void *ctx, const uint8_t *model, size_t model_len,
                       const uint8_t *request, size_t request_len, SimbaBuffer *out);
    /* Free a buffer the host allocated. */
    void (*free_buffer)(void *ctx, SimbaBuffer buf);
    /* Next number of the host's random stream for this call. */
    uint64_t (*next_u64)(void *ctx);
    /* Write a UTF-8 message to the host's log (SIMBA_LOG_*). */
    void (*log)(void *ctx, uint32_t level, const uint8_t *msg, size_t msg_len);
} SimbaHost;

typedef struct SimbaPluginTable {
    size_t size; /* sizeof(SimbaPluginTable) as the plugin knows it */
    uint32_t abi_major;
    uint32_t abi_minor;
    /* JSON manifest: {"name","version","strategies":[..],"models":[..],"features":[..],
     * "tools":[{"name","inputs":[{"name","type"}..],"outputs":[..]}..],"metrics":[..],
     * "config":[{"kind":"strategy"|"tool"|"metric","item","keys":[{"name","type","doc"}..]}..]}
     * "config" is optional (ABI 1.1): an item listed there has its spec config checked
     * against its keys (unknown key, wrong type) before the host calls `create`. */
    int32_t (*manifest)(SimbaBuffer *out);
    /* Create an instance of item `item` (kind SIMBA_KIND_*) from a JSON config
     * object; on OK *out_instance is set (and *out may be empty). */
    int32_t (*create)(uint32_t kind, const uint8_t *item, size_t item_len,
                      const uint8_t *config, size_t config_len,
                      void **out_instance, SimbaBuffer *out);
    /* Run an instance on a JSON StrategyRequest, ModelRequest, ToolRequest
     * ({"inputs":{..}}) or MetricRequest ({"pred":{..},"gold":{..}}); on OK *out
     * holds the JSON StrategyReply, ModelReply, ToolReply ({"outputs":{..}}) or
     * MetricScore ({"score":0.5,"feedback":".."}). */
    int32_t (*call)(void *instance, const uint8_t *request, size_t request_len,
                    const SimbaHost *host, SimbaBuffer *out);
    /* Release an instance. */
    void (*destroy)(void *instance);
    /* Release a buffer the plugin allocated. */
    void (*free_buffer)(SimbaBuffer buf);
} SimbaPluginTable;

typedef const SimbaPluginTable *(*SimbaPluginEntry)(void);

#ifdef __cplusplus
}
#endif

#endif /* SIMBA_PLUGIN_H */
