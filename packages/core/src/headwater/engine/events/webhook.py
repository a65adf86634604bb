"""Webhook: ``POST /hooks/<name>`` with a bearer token stores an event for every pipeline that listens to it.

One HTTP server per scheduler (stdlib ``ThreadingHTTPServer``), started only when
some pipeline has a Webhook trigger. :class:`WebhookEndpoint` is the handler on
its own, so ``headwater ui`` can serve the same endpoint.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from headwater.config.settings import Project
from headwater.engine.events.sources import Emitter, EventSource, SourceContext, Subscription, group_by
from headwater.executors.base import JSON
from headwater.model.triggers import Webhook
from headwater.secrets import add_secret

log = logging.getLogger("headwater.events.webhook")

#: The largest body accepted (bytes); larger requests are refused with 413.
MAX_BODY = 1024 * 1024
PATH_PREFIX = "/hooks/"
ENV_PREFIX = "HEADWATER_WEBHOOK_"


def token_env_var(name: str) -> str:
    """The environment variable holding the token of webhook ``name``: ``HEADWATER_WEBHOOK_ORDERS_READY``."""
    return ENV_PREFIX + name.upper().replace("-", "_")


def webhook_token(project: Project, name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The bearer token of webhook ``name``: the environment first, then ``[webhooks]`` in the config."""
    env = os.environ if environ is None else environ
    token = env.get(token_env_var(name)) or project.settings.webhooks.get(name)
    add_secret(token)  # masked in every log line from now on
    return token or None


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """The HTTP status and JSON body to answer."""

    status: int
    body: dict[str, JSON]


class WebhookEndpoint:
    """Authenticates and records webhook calls; independent of the HTTP server that receives them."""

    def __init__(
        self,
        project: Project,
        routes: Callable[[], Mapping[str, Sequence[Subscription]]],
        emit: Emitter,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.project = project
        self.routes = routes
        self.emitter = emit
        self.environ = environ

    def authorize(self, name: str, authorization: str | None, client: str) -> WebhookResponse | None:
        """None if the request may proceed; else the refusal (404 unknown hook, 401 missing or wrong token)."""
        if name not in self.routes():
            return WebhookResponse(404, {"error": f"no webhook named {name!r}"})
        expected = webhook_token(self.project, name, self.environ)
        if expected is None:
            log.error(
                "webhook '%s': refused a request from %s: no token is configured (set %s or [webhooks] %s = \"...\")",
                name,
                client,
                token_env_var(name),
                name,
            )
            return WebhookResponse(401, {"error": "unauthorized"})
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            log.warning("webhook '%s': refused a request from %s: missing bearer token", name, client)
            return WebhookResponse(401, {"error": "unauthorized"})
        if not hmac.compare_digest(given.strip().encode(), expected.encode()):
            log.warning("webhook '%s': refused a request from %s: wrong token", name, client)
            return WebhookResponse(401, {"error": "unauthorized"})
        return None

    def accept(self, name: str, body: bytes) -> WebhookResponse:
        """Store one event per pipeline listening to ``name``, with the JSON ``body`` as its payload."""
        if len(body) > MAX_BODY:
            return WebhookResponse(413, {"error": f"the body is larger than {MAX_BODY} bytes"})
        try:
            value: JSON = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            return WebhookResponse(400, {"error": f"the body is not JSON: {exc}"})
        payload: dict[str, JSON] = value if isinstance(value, dict) else {"body": value}
        ids = {sub.pipeline_id: self.emitter.emit(sub, payload) for sub in self.routes().get(name, ())}
        if not ids:
            return WebhookResponse(404, {"error": f"no webhook named {name!r}"})
        first = min(ids.values())
        return WebhookResponse(202, {"event_id": first, "events": dict(ids.items())})

    def handle(self, name: str, *, authorization: str | None, body: bytes, client: str) -> WebhookResponse:
        """:meth:`authorize` then :meth:`accept` (for servers that have read the body already)."""
        return self.authorize(name, authorization, client) or self.accept(name, body)


def _handler(endpoint: WebhookEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "headwater-webhooks"
        timeout = 30  # a client that stops sending does not hold a thread forever

        def _answer(self, response: WebhookResponse) -> None:
            data = json.dumps(response.body).encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _name(self) -> str | None:
            path = self.path.split("?", 1)[0]
            if not path.startswith(PATH_PREFIX):
                return None
            name = path[len(PATH_PREFIX) :].strip("/")
            return name or None

        def do_POST(self) -> None:
            name = self._name()
            if name is None:
                self._answer(WebhookResponse(404, {"error": "not found: POST /hooks/<name>"}))
                return
            client = self.client_address[0]
            refused = endpoint.authorize(name, self.headers.get("Authorization"), client)
            if refused is not None:
                self._answer(refused)
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                self.close_connection = True
                self._answer(WebhookResponse(413, {"error": f"send a Content-Length of at most {MAX_BODY} bytes"}))
                return
            try:
                response = endpoint.accept(name, self.rfile.read(length))
            except Exception:
                log.exception("webhook '%s': could not store the event", name)
                response = WebhookResponse(503, {"error": "the event could not be stored; retry"})
            self._answer(response)

        def do_GET(self) -> None:
            self._answer(WebhookResponse(405 if self._name() else 404, {"error": "use POST /hooks/<name>"}))

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            log.debug("%s %s", self.client_address[0], format % args)

    return Handler


class WebhookSource(EventSource):
    """Serves every Webhook trigger from one HTTP server (``[scheduler] webhook_host`` / ``webhook_port``)."""

    kind = "webhook"

    def __init__(self, subscriptions: Sequence[Subscription], context: SourceContext) -> None:
        super().__init__(subscriptions, context)
        self.server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.endpoint: WebhookEndpoint | None = None

    def routes(self) -> dict[str, list[Subscription]]:
        """Webhook name -> the subscriptions listening to it."""
        return group_by(self.subscriptions, lambda s: s.trigger.name if isinstance(s.trigger, Webhook) else "")

    @property
    def address(self) -> tuple[str, int] | None:
        """Where the server listens (host, port), once started."""
        if self.server is None:
            return None
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def start(self, emit: Emitter) -> None:
        project = self.context.project
        self.endpoint = WebhookEndpoint(project, self.routes, emit)
        for name in self.routes():
            if webhook_token(project, name) is None:
                log.error(
                    "webhook '%s' has no token: every request is refused until %s or [webhooks] %s is set",
                    name,
                    token_env_var(name),
                    name,
                )
        conf = project.settings.scheduler
        try:
            self.server = ThreadingHTTPServer((conf.webhook_host, conf.webhook_port), _handler(self.endpoint))
        except OSError as exc:
            log.error(
                "webhook server cannot listen on %s:%s (%s): webhook triggers receive nothing",
                conf.webhook_host,
                conf.webhook_port,
                exc,
            )
            return
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="headwater-webhooks", daemon=True)
        self._thread.start()
        host, port = self.address or ("?", 0)
        log.info("webhooks listening on http://%s:%s/hooks/<name> (%s)", host, port, ", ".join(self.routes()))

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
