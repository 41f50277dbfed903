"""The body transform sandbox (gateway/body_template.py): what a template can do, and every limit it meets."""

import json

import pytest

from tollhouse.gateway import body_template
from tollhouse.gateway.body_template import BodyTemplate, TemplateFailed


def render(source: str, **variables) -> bytes:
    return BodyTemplate(source).render(variables)


def test_json_in_and_out_without_html_escaping():
    body = {"name": "<Ann & \"Bo\">", "tags": ["é", 1]}
    out = render('{"name": {{ body.name | tojson }}, "tags": {{ body.tags | tojson }}}', body=body)
    assert json.loads(out) == body
    assert render("{{ body.name }}", body=body) == b'<Ann & "Bo">'  # autoescape is off


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", "took longer"),
        ('{{ "x" * 100000000 }}', "the result of * would be too large"),
        ("{{ [1] * 100000000 }}", "the result of * would be too large"),
        ("{{ 10 ** 100000000 }}", "the result of ** would be too large"),
        ("{{ body.pop() }}", "unsafe"),  # the data given cannot be changed
        ("{{ body.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError"),
        ("{{ body.missing.deeper }}", "UndefinedError"),
    ],
)
def test_what_a_template_cannot_do(source, message):
    with pytest.raises(TemplateFailed) as caught:
        render(source, body=[1])
    assert message in str(caught.value)


def test_the_output_is_capped(monkeypatch):
    monkeypatch.setattr(body_template, "MAX_OUTPUT", 1000)
    with pytest.raises(TemplateFailed, match="the output is larger than 1000 bytes"):
        render("{% for i in range(200) %}0123456789{% endfor %}")
    assert len(render("{% for i in range(100) %}0123456789{% endfor %}")) == 1000


def test_a_template_that_does_not_compile():
    with pytest.raises(TemplateFailed, match="does not compile"):
        BodyTemplate("{% if %}")


def test_the_trace_function_in_place_before_is_put_back():
    import sys

    def outer(frame, event, arg):
        return None

    sys.settrace(outer)
    try:
        render("{{ 1 }}")
        assert sys.gettrace() is outer
    finally:
        sys.settrace(None)
