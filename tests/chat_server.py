"""A real chat-completions server on loopback for the AI draft tests, started on import.

The Celery worker process reads AI_DRAFT_* from the environment when it starts, and the
session's worker may be started by any test folder; so the server and the variables exist
before any test runs, not in a fixture that might come too late.
"""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "loopback-test-key"
MODEL = "loopback-model"
SLOW_SECONDS = 5
TIMEOUT_SECONDS = 2


class ChatCompletionsHandler(BaseHTTPRequestHandler):
    """Speaks POST /v1/chat/completions like an OpenAI-compatible server.

    The last user message steers it: "SLOW" answers after the client's timeout,
    "FAIL500" answers 500 with an error body; with tools in the request, "CALL" answers
    with `reasoning_content` and a call of the first tool (arguments a JSON string, as
    OpenAI sends them) and "BADARGS" with arguments that are not JSON; "SAMPLES" answers
    differently each time (as sampling at a temperature does); anything else gets a draft.
    """

    received: list[dict] = []
    samples = 0  # replies given to "SAMPLES" prompts, which each differ (sampled candidates)

    def do_POST(self):  # noqa: N802 - http.server's naming
        if self.path != "/v1/chat/completions":
            return self._reply(404, {"error": {"message": f"no route {self.path}"}})
        if self.headers.get("Authorization") != f"Bearer {API_KEY}":
            return self._reply(401, {"error": {"message": "bad api key"}})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append(body)
        last_user = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        if "SLOW" in last_user:
            time.sleep(SLOW_SECONDS)
        if "FAIL500" in last_user:
            return self._reply(500, {"error": {"message": "upstream exploded"}})
        message = {"role": "assistant", "content": f"Draft answer to: {last_user}"}
        if "SAMPLES" in last_user:
            ChatCompletionsHandler.samples += 1
            message["content"] += f" (sample {ChatCompletionsHandler.samples})"
        tools = body.get("tools") or []
        if tools and ("CALL" in last_user or "BADARGS" in last_user):
            name = tools[0]["function"]["name"]
            arguments = "{not json" if "BADARGS" in last_user else json.dumps({"query": last_user})
            message = {
                "role": "assistant",
                "content": None,
                "reasoning_content": f"I should call {name} first.",
                "tool_calls": [
                    {
                        "id": "call_loopback_1",
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    }
                ],
            }
        return self._reply(
            200,
            {
                "id": "chatcmpl-loopback",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if "tool_calls" in message else "stop",
                    }
                ],
            },
        )

    def _reply(self, status, payload):
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def log_message(self, format, *args):
        pass


_server = ThreadingHTTPServer(("127.0.0.1", 0), ChatCompletionsHandler)
_server.daemon_threads = True
threading.Thread(
    target=_server.serve_forever, name="chat-completions-loopback", daemon=True
).start()
CHAT_BASE_URL = f"http://127.0.0.1:{_server.server_address[1]}/v1"
os.environ.update(
    {
        "AI_DRAFT_BASE_URL": CHAT_BASE_URL,
        "AI_DRAFT_MODEL": MODEL,
        "AI_DRAFT_API_KEY": API_KEY,
        "AI_DRAFT_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
    }
)


def point_settings_at_server(settings) -> type[ChatCompletionsHandler]:
    """This process's settings (a pytest-django `settings`) pointing at the server, like the worker's."""
    settings.AI_DRAFT_BASE_URL = CHAT_BASE_URL
    settings.AI_DRAFT_MODEL = MODEL
    settings.AI_DRAFT_API_KEY = API_KEY
    settings.AI_DRAFT_TIMEOUT_SECONDS = TIMEOUT_SECONDS
    ChatCompletionsHandler.received.clear()
    return ChatCompletionsHandler
