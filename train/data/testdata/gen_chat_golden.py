#!/usr/bin/env python3
"""Regenerates chat_golden.json: every template in templates/ applied to every
conversation in conversations.json, with and without add_generation_prompt,
rendered the way transformers' apply_chat_template(tokenize=False) renders
(jinja2 sandbox, trim_blocks, lstrip_blocks, loopcontrols, raise_exception).

Run from this directory: python3 gen_chat_golden.py (needs jinja2 >= 3.1)."""
import json, os
import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

specials = json.load(open("templates/specials.json"))
convs = json.load(open("conversations.json"))
out = []
for name in sorted(specials):
    tpl = env.from_string(open(f"templates/{name}.jinja").read())
    for cname in sorted(convs):
        for agp in (False, True):
            case = {"template": name, "conversation": cname, "add_generation_prompt": agp}
            try:
                case["output"] = tpl.render(messages=convs[cname], tools=None, documents=None,
                                            add_generation_prompt=agp, **specials[name])
            except jinja2.exceptions.TemplateError as e:
                case["error"] = str(e)
            out.append(case)
with open("chat_golden.json", "w") as f:
    json.dump(out, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(len(out), "cases")
