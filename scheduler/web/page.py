"""The page's HTML: server-rendered, autoescaped Jinja2, no JavaScript, readable on
a phone (one column, large targets, system fonts)."""

from __future__ import annotations

import functools
from typing import Any

import jinja2

_BASE = """<!DOCTYPE html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Coachpass: {{ title }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,Arial,sans-serif;margin:0;
padding:16px;color:#1f2328;background:#f6f8fa;line-height:1.45}
main{max-width:560px;margin:0 auto;background:#fff;border:1px solid #d0d7de;
border-radius:8px;padding:16px}
h1{font-size:1.3em;margin:0 0 12px}h2{font-size:1.1em;margin:20px 0 8px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;margin:0}
dt{color:#57606a}dd{margin:0;overflow-wrap:anywhere}
label{display:block;margin:10px 0 4px;font-weight:600}
input[type=text],textarea{width:100%;box-sizing:border-box;font:inherit;padding:8px;
border:1px solid #d0d7de;border-radius:6px}
textarea{min-height:6em}
.choice{display:flex;gap:16px;flex-wrap:wrap}.choice label{font-weight:400;margin:4px 0}
button{font:inherit;padding:10px 18px;margin-top:14px;border-radius:6px;border:1px solid
#1f883d;background:#1f883d;color:#fff;min-height:44px}
button.secondary{background:#fff;color:#1f2328;border-color:#d0d7de}
.msg{padding:10px;border-radius:6px;background:#dafbe1;margin:0 0 12px}
.err{background:#ffebe9}.help{color:#57606a;font-size:.92em}
ul{padding-left:20px}
</style></head><body><main>
{% block body %}{% endblock %}
</main></body></html>
"""

_SESSION = """{% extends "base" %}{% block body %}
<h1>{{ t.page_title }}</h1>
{% if message %}<p class="msg" role="status">{{ message }}</p>{% endif %}
{% for error in errors %}<p class="msg err" role="alert">{{ error }}</p>{% endfor %}
<dl>
<dt>{{ t.seller }}</dt><dd id="seller">{{ seller }}</dd>
<dt>{{ t.when }}</dt><dd id="when">{{ when }}</dd>
<dt>{{ t.status }}</dt><dd id="status">{{ status }}</dd>
{% if note %}<dt>{{ t.note }}</dt><dd id="note">{{ note }}</dd>{% endif %}
</dl>
{% if followups %}<h2>{{ t.followups }}</h2>
<ul id="followups">{% for item in followups %}<li>{{ item }}</li>{% endfor %}</ul>{% endif %}
{% if can_mark %}
<h2>{{ t.record }}</h2>
<form method="post" action="{{ base }}/mark">
<input type="hidden" name="csrf" value="{{ csrf }}">
<div class="choice">
<label><input type="radio" name="outcome" value="held" id="held"
{% if outcome != "no_show" %}checked{% endif %}> {{ t.held }}</label>
<label><input type="radio" name="outcome" value="no_show" id="no_show"
{% if outcome == "no_show" %}checked{% endif %}> {{ t.no_show }}</label>
</div>
<label for="note_field">{{ t.note }}</label>
<textarea id="note_field" name="note" maxlength="{{ note_max }}">{{ note_value }}</textarea>
<p class="help">{{ t.followups }}</p>
{% if followups_note %}<p class="help" id="followups_note">{{ followups_note }}</p>{% endif %}
{% for n in range(1, followup_count + 1) %}
<label for="followup{{ n }}">{{ t.followup_n.format(n=n) }}</label>
<input type="text" id="followup{{ n }}" name="followup" maxlength="{{ followup_max }}"
value="{{ followup_values[n - 1] }}">
{% endfor %}
<button type="submit" id="save">{{ t.save }}</button>
</form>
{% elif not_yet %}<p class="help">{{ t.not_yet }}</p>
{% elif closed %}<p class="help">{{ closed }}</p>{% endif %}
{% if request_text %}<h2>{{ t.new_time }}</h2><p id="request">{{ request_text }}</p>
{% elif can_request %}
<h2>{{ t.new_time }}</h2>
<form method="post" action="{{ base }}/new-time">
<input type="hidden" name="csrf" value="{{ csrf }}">
<p class="help">{{ t.new_time_help }}</p>
<button type="submit" class="secondary" id="new_time">{{ t.new_time }}</button>
</form>
{% endif %}
{% endblock %}
"""

_PLAIN = """{% extends "base" %}{% block body %}
<h1>{{ title }}</h1><p>{{ text }}</p>
{% endblock %}
"""


@functools.cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.DictLoader({"base": _BASE, "session": _SESSION, "plain": _PLAIN}),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render(template: str, **values: Any) -> bytes:
    return environment().get_template(template).render(**values).encode("utf-8")
