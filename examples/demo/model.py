"""A stand-in model server for the demo: OpenAI's wire format, answers that echo.

Serves /v1/chat/completions (whole or streamed, with usage when asked),
/v1/completions and /v1/models, as LM Studio would on its port. Usage: model.py PORT
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "demo-echo"


def words(text):
    return len(str(text).split())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/") == "/v1/models":
            return self.send_json({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "demo"}]})
        self.send_json({"error": {"message": "not found", "type": "invalid_request_error"}}, 404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            req = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.send_json({"error": {"message": "bad JSON", "type": "invalid_request_error"}}, 400)
        if self.path.rstrip("/") == "/v1/completions":
            prompt = req.get("prompt", "")
            text = f" ... and then the demo model said: {prompt}"
            return self.send_json({"id": "cmpl-demo", "object": "text_completion", "created": int(time.time()),
                                   "model": MODEL, "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
                                   "usage": {"prompt_tokens": words(prompt), "completion_tokens": words(text),
                                             "total_tokens": words(prompt) + words(text)}})
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self.send_json({"error": {"message": "not found", "type": "invalid_request_error"}}, 404)
        messages = req.get("messages") or []
        last = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "") or ""
        answer = f"You said: {last}"
        usage = {"prompt_tokens": sum(words(m.get("content") or "") for m in messages),
                 "completion_tokens": words(answer)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        base = {"id": "chatcmpl-demo", "created": int(time.time()), "model": req.get("model", MODEL)}
        if not req.get("stream"):
            return self.send_json(dict(base, object="chat.completion", usage=usage, choices=[
                {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(obj):
            data = f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        chunk = dict(base, object="chat.completion.chunk")
        for piece in answer.split(" "):
            event(dict(chunk, choices=[{"index": 0, "delta": {"content": piece + " "}, "finish_reason": None}]))
            time.sleep(0.05)
        event(dict(chunk, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        if (req.get("stream_options") or {}).get("include_usage"):
            event(dict(chunk, choices=[], usage=usage))
        event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
