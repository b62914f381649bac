"""MkDocs hook: the docstrings' Sphinx roles (:func:`name` ...) become cross-references.

mkdocstrings renders a role as the literal ``:func:`` followed by ``<code>name</code>``. This
turns it into an autorefs link: a full name (``systolic.tpu.activate``) must exist, or the
strict build fails; a relative one (``generate``, ``Program.parse``) is looked up in the page's
module and left as code if the page has no anchor for it.
"""

from __future__ import annotations

import re

ROLE = re.compile(r":(?:func|meth|class|mod|attr|data|exc|obj):<code>([\w.]+)</code>")


def _module(src_uri: str) -> str:
    """The module an API page documents: ``api/tpu.md`` -> ``systolic.tpu``."""
    stem = src_uri.removeprefix("api/").removesuffix(".md")
    return "systolic" if stem == "systolic" else f"systolic.{stem}"


def on_page_content(html, page, **kwargs):
    if not page.file.src_uri.startswith("api/"):
        return html
    module = _module(page.file.src_uri)

    def link(match: re.Match) -> str:
        name = match.group(1)
        if name.split(".")[0] in ("systolic", "matplotlib", "numpy"):
            if not name.startswith("systolic"):
                return f"<code>{name}</code>"          # outside this site
            return f'<autoref identifier="{name}"><code>{name}</code></autoref>'
        # Relative names may point at members the page shows without an anchor (dataclass
        # fields documented in the class docstring): left as code when not found.
        return f'<autoref identifier="{module}.{name}" optional><code>{name}</code></autoref>'

    return ROLE.sub(link, html)
