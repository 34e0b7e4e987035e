#!/usr/bin/env python
# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write docs/reference/*.md from the plugins' own documentation (ansible-doc --json).

    python docs/generate_reference.py            # (re)write docs/reference/
    python docs/generate_reference.py --check    # exit 1 when a page is out of date

Needs ansible-doc on PATH and the collection importable (make docs sets
ANSIBLE_COLLECTIONS_PATH to the working tree).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

NAMESPACE = "fleetauth.ssh"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "reference")
TYPES = ("module", "connection", "filter", "role")

_MARKUP = [
    (re.compile(r"[OV]\(([^)=]+?)(?:=([^)]*))?\)"), lambda m: "`%s%s`" % (m.group(1), "=" + m.group(2) if m.group(2) else "")),
    (re.compile(r"[CP]\(([^)]*)\)"), lambda m: "`%s`" % m.group(1)),
    (re.compile(r"[IB]\(([^)]*)\)"), lambda m: "*%s*" % m.group(1)),
    (re.compile(r"M\(([^)]*)\)"), lambda m: "`%s`" % m.group(1)),
    (re.compile(r"R\(([^,)]*),[^)]*\)"), lambda m: m.group(1)),
    (re.compile(r"U\(([^)]*)\)"), lambda m: "<%s>" % m.group(1)),
    (re.compile(r"L\(([^,)]*),([^)]*)\)"), lambda m: "[%s](%s)" % (m.group(1), m.group(2))),
]


def text(value):
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n\n".join(text(v) for v in value)
    out = str(value)
    for pattern, repl in _MARKUP:
        out = pattern.sub(repl, out)
    return out


def cell(value):
    return text(value).replace("|", "\\|").replace("\n\n", "<br>").replace("\n", " ")


def ansible_doc(kind, *args):
    result = subprocess.run(["ansible-doc", "-t", kind, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit("ansible-doc -t %s %s failed: %s" % (kind, " ".join(args), result.stderr.strip()))
    return result.stdout


def names(kind):
    listing = json.loads(ansible_doc(kind, "--json", "-l", NAMESPACE) or "{}")
    return sorted(listing)


def options_table(options, prefix=""):
    rows = []
    for name, spec in sorted((options or {}).items()):
        full = prefix + name
        kind = spec.get("type", "str")
        if spec.get("elements"):
            kind += " / " + spec["elements"]
        extra = []
        if spec.get("required"):
            extra.append("**required**")
        if "default" in spec and spec["default"] is not None:
            extra.append("default: `%s`" % json.dumps(spec["default"]))
        if spec.get("choices"):
            extra.append("choices: " + ", ".join("`%s`" % c for c in spec["choices"]))
        sources = []
        for src in ("env", "ini", "vars"):
            for entry in spec.get(src) or []:
                if src == "env":
                    sources.append("env `%s`" % entry["name"])
                elif src == "ini":
                    sources.append("ini `[%s] %s`" % (entry["section"], entry["key"]))
                else:
                    sources.append("var `%s`" % entry["name"])
        if sources:
            extra.append("from: " + ", ".join(sources))
        rows.append("| `%s` | %s | %s%s |" % (full, kind, cell(spec.get("description")), ("<br>" + "; ".join(extra)) if extra else ""))
        if spec.get("suboptions"):
            rows += options_table(spec["suboptions"], prefix=full + ".")
    return rows


def page_plugin(kind, fqcn, data):
    doc = data.get("doc", {})
    lines = ["# %s (%s)" % (fqcn, kind), "", "_%s_" % text(doc.get("short_description")), ""]
    if doc.get("version_added"):
        lines += ["Added in version %s." % doc["version_added"], ""]
    lines += [text(doc.get("description")), ""]
    if doc.get("requirements"):
        lines += ["## Requirements", ""] + ["- %s" % text(r) for r in doc["requirements"]] + [""]
    if doc.get("options"):
        lines += ["## Options", "", "| Option | Type | Description |", "|---|---|---|"] + options_table(doc["options"]) + [""]
    if doc.get("attributes"):
        lines += ["## Attributes", "", "| Attribute | Support | Description |", "|---|---|---|"]
        for name, spec in sorted(doc["attributes"].items()):
            lines.append("| %s | %s | %s |" % (name, spec.get("support", ""), cell(spec.get("details") or spec.get("description"))))
        lines.append("")
    if doc.get("notes"):
        lines += ["## Notes", ""] + ["- %s" % text(n) for n in doc["notes"]] + [""]
    if data.get("examples"):
        lines += ["## Examples", "", "```yaml", data["examples"].strip("\n"), "```", ""]
    returns = data.get("return") or {}
    if returns:
        lines += ["## Return values", "", "| Key | Returned | Type | Description |", "|---|---|---|---|"]
        for name, spec in sorted(returns.items()):
            lines.append("| `%s` | %s | %s | %s |" % (name, cell(spec.get("returned")), spec.get("type", ""), cell(spec.get("description"))))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def page_role(fqcn, data):
    lines = ["# %s (role)" % fqcn, ""]
    for entry, spec in sorted((data.get("entry_points") or {}).items()):
        lines += ["## Entry point `%s`: %s" % (entry, text(spec.get("short_description"))), "", text(spec.get("description")), ""]
        if spec.get("options"):
            lines += ["| Variable | Type | Description |", "|---|---|---|"] + options_table(spec["options"]) + [""]
    return "\n".join(lines).rstrip() + "\n"


def render():
    pages = {}
    for kind in TYPES:
        for fqcn in names(kind):
            data = json.loads(ansible_doc(kind, "--json", fqcn))[fqcn]
            short = fqcn.split(".")[-1]
            pages["%s_%s.md" % (kind, short)] = page_role(fqcn, data) if kind == "role" else page_plugin(kind, fqcn, data)
    index = ["# fleetauth.ssh reference", "", "Generated from each plugin's and role's own documentation by `make docs`.", ""]
    for kind in TYPES:
        entries = sorted(p for p in pages if p.startswith(kind + "_"))
        if entries:
            index += ["## %ss" % kind.capitalize(), ""] + ["- [%s](%s)" % (e[len(kind) + 1 : -3], e) for e in entries] + [""]
    pages["README.md"] = "\n".join(index).rstrip() + "\n"
    return pages


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--check", action="store_true", help="report pages that differ instead of writing them")
    args = parser.parse_args(argv)
    pages = render()
    os.makedirs(OUT, exist_ok=True)
    stale = []
    for name, content in sorted(pages.items()):
        path = os.path.join(OUT, name)
        current = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                current = handle.read()
        if current != content:
            stale.append(name)
            if not args.check:
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(content)
    extra = sorted(set(os.listdir(OUT)) - set(pages))
    for name in extra:
        stale.append(name + " (no longer documented)")
        if not args.check:
            os.unlink(os.path.join(OUT, name))
    if args.check and stale:
        print("docs/reference is out of date (run `make docs`): %s" % ", ".join(stale))
        return 1
    print("docs/reference: %d pages%s" % (len(pages), (", updated %s" % ", ".join(stale)) if stale and not args.check else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
