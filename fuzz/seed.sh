#!/usr/bin/env bash
# Seeds the fuzz corpora from the examples and test fixtures. Idempotent:
# files are named by content hash, so re-running adds only new seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
corpus=fuzz/corpus

seed() { # seed TARGET FILE [PREFIX]
    local target=$1 file=$2 prefix=${3:-}
    mkdir -p "$corpus/$target"
    local tmp
    tmp=$(mktemp)
    if [ -n "$prefix" ]; then printf "$prefix" >"$tmp"; fi
    cat "$file" >>"$tmp"
    local name
    name=$(sha1sum "$tmp" | cut -c1-16)
    mv "$tmp" "$corpus/$target/$name"
}

# Specs: every example and fixture spec, and the UI test inputs.
for f in examples/*/*.simba tests/fixtures/*.simba tests/ui/*.simba; do
    [ -f "$f" ] && seed spec "$f"
done

# Replies: the field-marker and JSON shapes, for each signature selector
# (the first byte picks the signature; its top bit picks the format).
printf '[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]' >/tmp/seed-reply-1
printf '[[ ## reasoning ## ]]\nIt is the capital.\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]' >/tmp/seed-reply-2
printf '[[ ## label ## ]]\npositive\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## completed ## ]]' >/tmp/seed-reply-3
printf '[[ ## count ## ]]\n3\n\n[[ ## ok ## ]]\ntrue\n\n[[ ## items ## ]]\n["a", "b"]\n\n[[ ## scores ## ]]\n[1, 2]\n\n[[ ## extra ## ]]\n{"k": [1, null]}\n\n[[ ## completed ## ]]' >/tmp/seed-reply-4
printf '{"answer": "Paris"}' >/tmp/seed-reply-5
printf '{"label": "negative", "confidence": 0.25}' >/tmp/seed-reply-6
printf '{"count": 2, "ok": false, "items": ["x"], "scores": [3], "extra": {}}' >/tmp/seed-reply-7
seed reply /tmp/seed-reply-1 '\x00'
seed reply /tmp/seed-reply-2 '\x01'
seed reply /tmp/seed-reply-3 '\x02'
seed reply /tmp/seed-reply-4 '\x03'
seed reply /tmp/seed-reply-5 '\x80'
seed reply /tmp/seed-reply-6 '\x82'
seed reply /tmp/seed-reply-7 '\x83'
rm -f /tmp/seed-reply-*

# Datasets: jsonl files (even selector) and csv files (odd selector).
for f in examples/*/data/*.jsonl; do seed dataset "$f" '\x00'; done
for f in $(find examples tests -name '*.csv' 2>/dev/null); do seed dataset "$f" '\x01'; done
printf 'question,answer\n"What, exactly?",42\nplain,"multi\nline"\n' >/tmp/seed-data.csv
seed dataset /tmp/seed-data.csv '\x01'
rm -f /tmp/seed-data.csv

# Artifacts: program.json files and the report fixtures' artifacts (one
# trials.jsonl line per seed).
seed artifacts tests/fixtures/dspy_program.json
for d in tests/fixtures/report/*/; do
    for f in program.json candidates.json run.json; do
        [ -f "$d$f" ] && seed artifacts "$d$f"
    done
    if [ -f "${d}trials.jsonl" ]; then
        i=0
        while IFS= read -r line; do
            printf '%s' "$line" >/tmp/seed-trial-$i
            seed artifacts /tmp/seed-trial-$i
            rm -f /tmp/seed-trial-$i
            i=$((i + 1))
        done <"${d}trials.jsonl"
    fi
done

# Plugin payloads: what the SDK's examples send back.
mkdir -p "$corpus/plugin_payload"
for json in \
    '{"name":"extras","version":"0.1.0","strategies":["x"],"models":["m"],"features":[]}' \
    '{"outcome":"applied","program":{"predictors":[{"name":"answer","instructions":"Be brief.","demos":[{"fields":{"question":"q","answer":"a"},"augmented":true}]},{"name":"search","instructions":"Search."}]},"note":"ok"}' \
    '{"outcome":"applied","program":{"predictors":[{"name":"nope","instructions":""}]}}' \
    '{"outcome":"skipped","reason":"nothing to do"}' \
    '{"status":"ok","text":"[[ ## answer ## ]]\nx","usage":{"prompt_tokens":1,"completion_tokens":1}}' \
    '{"status":"error","message":"busy","retryable":true}' \
    '{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.0,"response_format":"json_object"}'; do
    printf '%s' "$json" >/tmp/seed-plugin
    seed plugin_payload /tmp/seed-plugin
done
rm -f /tmp/seed-plugin
# Checkpoints: merge patches over the target's own real checkpoint (see
# fuzz_targets/checkpoint.rs), each breaking one invariant resume relies on
# (src/optimize/checkpoint/validate.rs; tests/checkpoint_damage.rs).
for json in \
    '{}' \
    '{"cursor":99}' \
    '{"data_order":[0,0,0,0,0,0]}' \
    '{"data_order":[5,4,3,2,1,99]}' \
    '{"winners":[7]}' \
    '{"winners":[]}' \
    '{"winners":[0,0]}' \
    '{"pool":[]}' \
    '{"steps_done":5}' \
    '{"steps_done":18446744073709551615}' \
    '{"schema":1}' \
    '{"schema":1,"fingerprint":null}' \
    '{"simba_run_version":"0.0.0"}' \
    '{"rng_choices":{"seed":"zz","word_pos":"-1"}}' \
    '{"rng_choices":{"seed":"0000000000000000000000000000000000000000000000000000000000000000"}}' \
    '{"rng_poisson":{"word_pos":"340282366920938463463374607431768211455"}}' \
    '{"elapsed_ms":18446744073709551615}' \
    '{"pool":[{"predictors":{},"scores":[],"step":null}]}' \
    '{"pool":[{"predictors":{"answer":{"instructions":"x","demos":[]}},"scores":[7.5],"step":null}]}' \
    '{"config":{"bsize":4}}' \
    '{"config":{"max_steps":18446744073709551615},"steps_done":18446744073709551615}' \
    '{"trials":null}' \
    '{"trials":[]}' \
    '{"budget_started":18446744073709551615}' \
    '{"usage":{"lm_calls":18446744073709551615}}' \
    '{"usage":{"failed_calls":18446744073709551615}}' \
    '{"cached_calls":18446744073709551615}' \
    '{"best_so_far":0.99}' \
    '{"per_execution":[-1.0,0.0]}' \
    '{"per_execution":[1e308,1e308]}' \
    '{"step_durations_ms":[]}' \
    '{"convergence":{"stale":18446744073709551615}}' \
    '{"fingerprint":{"trainset":"00"}}' \
    '{"fingerprint":null}' \
    '{"spent_usd":-1}'; do
    printf '%s' "$json" >/tmp/seed-checkpoint
    seed checkpoint /tmp/seed-checkpoint
done
rm -f /tmp/seed-checkpoint
# HTTP/1.1 responses for the direct client (the first byte is the read size).
i=0
for resp in \
    'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 52\r\n\r\n{"choices":[{"message":{"content":"[[ ## a ## ]]"}}]}' \
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4;x=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n' \
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nretry-after: 3\r\ncontent-length: 4\r\n\r\nbusy' \
    'HTTP/1.0 200 OK\r\nconnection: keep-alive\r\n\r\nuntil the close' \
    'HTTP/1.1 302 Found\r\nlocation: /v1/other\r\ncontent-length: 0\r\n\r\n' \
    'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\nabc\n0\n\n'; do
    printf "$resp" >/tmp/seed-h1
    seed h1_response /tmp/seed-h1 "\\x0$((i % 8))"
    i=$((i + 1))
done
rm -f /tmp/seed-h1

for t in spec reply dataset artifacts plugin_payload checkpoint h1_response; do
    echo "$t: $(ls "$corpus/$t" | wc -l) seeds"
done

