"""Body transform templates: Jinja2 in an immutable sandbox, with limits on time, output and operand sizes.

Tyk renders Go templates with the decoded JSON body as the root (``{{ .name }}``); here the body is ``body``
(``{{ body.name }}``). Also given: ``headers`` (lower-case names), ``query`` (request only), ``method`` and
``path`` (request only), ``status`` (response only), ``raw`` (the body as text) and ``meta`` (the key's
``meta_data``, when ``enable_session`` is on; Tyk's ``._tyk_meta``).

Limits, per render: ``RENDER_SECONDS`` of CPU time — checked on every line the compiled template runs (a trace
function, installed only for the render), which catches nested loops that write nothing; ``MAX_OUTPUT`` bytes
out; ``*`` and ``**`` refused when their result would be huge (the C-level operations a line check cannot stop);
``range`` is capped by Jinja's sandbox itself. The immutable sandbox forbids touching Python internals and
changing the data given. Autoescaping is off: the output is JSON or text, not HTML.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

RENDER_SECONDS = 0.25
MAX_OUTPUT = 4 * 1024 * 1024
MAX_OPERAND_RESULT = 1024 * 1024  # the longest string or list ``*`` may make; the largest number ``**`` may
TRACE_CHECK_EVERY = 256  # trace events between clock reads


class TemplateFailed(Exception):
    """The template could not be rendered (an error in it, or past a limit); the message says which."""


class TransformSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(autoescape=False, keep_trailing_newline=True)
        self.filters["tojson"] = _to_json  # JSON as it is, not Jinja's HTML-safe variant

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for text, count in ((left, right), (right, left)):
                if isinstance(text, (str, list, tuple)) and isinstance(count, int) and \
                        len(text) * count > MAX_OPERAND_RESULT:
                    raise SecurityError("the result of * would be too large")
        if operator == "**" and isinstance(left, (int, float)) and isinstance(right, (int, float)) and \
                abs(right) > 64 and abs(left) > 1:
            raise SecurityError("the result of ** would be too large")
        return super().call_binop(context, operator, left, right)


def _to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


SANDBOX = TransformSandbox()


class BodyTemplate:
    def __init__(self, source: str):
        try:
            self.template = SANDBOX.from_string(source)
        except TemplateError as exc:
            raise TemplateFailed(f"the template does not compile: {exc}") from None

    def render(self, variables: dict[str, Any]) -> bytes:
        deadline = time.process_time() + RENDER_SECONDS
        budget = [TRACE_CHECK_EVERY]

        def trace(frame, event, arg):
            budget[0] -= 1
            if budget[0] <= 0:
                budget[0] = TRACE_CHECK_EVERY
                if time.process_time() > deadline:
                    raise TemplateFailed(f"rendering took longer than {RENDER_SECONDS:g}s")
            return trace

        parts, size = [], 0
        previous = sys.gettrace()
        sys.settrace(trace)
        try:
            for part in self.template.generate(**variables):
                size += len(part)
                if size > MAX_OUTPUT:
                    raise TemplateFailed(f"the output is larger than {MAX_OUTPUT} bytes")
                parts.append(part)
        except TemplateFailed:
            raise
        except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, RecursionError) as exc:
            raise TemplateFailed(f"{type(exc).__name__}: {exc}") from None
        finally:
            sys.settrace(previous)
        return "".join(parts).encode()
