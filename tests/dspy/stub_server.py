"""A local OpenAI-compatible `/chat/completions` server for the round trip:
it records every request's messages and answers each in simba-run's chat
format, with a value of the right type for every output field the system
message lists, so a program runs to the end and its prompts can be read.
"""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# `1. `name` (type)` or `1. `name` (type): description` in the output list.
FIELD_LINE = re.compile(r"^\d+\. `([^`]+)` \((.*?)\)(?::|$)")


def output_fields(system):
    """(name, type) of each output field of a simba-run system message."""
    section = system.split("Your output fields are:", 1)[1].split("\n\n", 1)[0]
    fields = []
    for line in section.strip().splitlines():
        match = FIELD_LINE.match(line.strip())
        if match:
            fields.append((match.group(1), match.group(2)))
    return fields


def value_for(field_type):
    if field_type.startswith("enum("):
        return re.findall(r'"([^"]*)"', field_type)[0]
    return {
        "int": "0",
        "float": "0.5",
        "bool": "true",
        "json": "{}",
    }.get(field_type, "[]" if field_type.startswith("list<") else "stub answer")


def reply_for(messages):
    fields = output_fields(messages[0]["content"])
    parts = [f"[[ ## {name} ## ]]\n{value_for(ty)}" for name, ty in fields]
    return "\n\n".join(parts + ["[[ ## completed ## ]]"])


class StubServer:
    """Serves on 127.0.0.1 (a free port) until `close()`; `requests` holds
    every request's messages, in arrival order."""

    def __init__(self):
        self.requests = []
        lock = threading.Lock()
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    recorded.append(body["messages"])
                answer = {
                    "id": "stub",
                    "object": "chat.completion",
                    "model": body.get("model", "stub"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply_for(body["messages"])},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()
