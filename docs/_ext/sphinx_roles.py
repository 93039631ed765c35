"""Griffe extension: the Sphinx roles of the docstrings become links of the API reference.

The docstrings cross-reference with Sphinx roles (``:class:`PromptCompressor```,
``:func:`~llmlingstral.text.protect.resolve_protection```), which read well in ``help()``
and editors. mkdocstrings links through mkdocs-autorefs instead, so each role is rewritten
to an ``<autoref>`` of its target, resolved as Sphinx's Python domain does: the name as
written, or relative to the object that holds the docstring and each of its parents, then
followed to where it is defined (the reference registers that path for a public alias).

A target the reference renders becomes a link; one that exists in the package but is not
part of the reference (an internal module) is shown as code. A target in another package
(``json``, ``pydantic``, builtins) is shown as code too: the build reads no remote
inventory. A name found nowhere (a typo, or an object that moved or was renamed) is a
warning, which fails the strict build, in every docstring of the package, shown in the
reference or not.
"""

from __future__ import annotations

import builtins
import html
import importlib.util
import re
from typing import Any

import griffe

PACKAGE = "llmlingstral"
ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const):`(?P<body>[^`]+)`")
LABELLED = re.compile(r"(?P<label>.+?)\s*<(?P<target>[^<>]+)>$", re.S)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles to mkdocstrings cross-references once the package is loaded."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader,
                   **kwargs: Any) -> None:
        if pkg.path != PACKAGE:
            return
        for obj in _documented_objects(pkg):
            obj.docstring.value = ROLE.sub(lambda m: _link(m, obj, loader),
                                           obj.docstring.value)


def _documented_objects(obj: griffe.Object):
    """``obj`` and every object defined under it (aliases share their target's docstring)."""
    if obj.docstring is not None:
        yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _documented_objects(member)


def _link(role: re.Match, holder: griffe.Object, loader: griffe.GriffeLoader) -> str:
    """The Markdown for one role in the docstring of ``holder``."""
    body = role["body"]
    labelled = LABELLED.match(body.strip())
    if labelled:
        label, name = labelled["label"], labelled["target"].strip()
    else:
        name = body.strip().lstrip("!")
        short = name.startswith("~")
        name = name.lstrip("~.")
        label = name.rsplit(".", 1)[-1] if short else name
    name = name.removesuffix("()")
    target = _resolve(name, holder, loader)
    if target is not None:  # a link where the reference renders it, else code
        return (f'<autoref identifier="{target}" optional>'
                f"<code>{html.escape(label)}</code></autoref>")
    if not _is_external(name):
        griffe.logger.warning(f"{holder.relative_filepath}:{holder.lineno}: {role[0]} in the "
                              f"docstring of {holder.path} names nothing in {PACKAGE}")
    return f"`{label}`"


def _resolve(name: str, holder: griffe.Object, loader: griffe.GriffeLoader) -> str | None:
    """The canonical path of what ``name`` designates from ``holder`` (the place an
    imported name was defined), or None if the package has no such object."""
    scopes = [holder] if holder.is_class or holder.is_module else []
    parent = holder.parent
    while parent is not None:
        scopes.append(parent)
        parent = parent.parent
    candidates = [name] + [f"{scope.path}.{name}" for scope in scopes]
    for candidate in candidates:
        if candidate.split(".", 1)[0] == PACKAGE:
            found = _canonical_path(candidate, loader)
            if found is not None:
                return found
    return None


def _canonical_path(path: str, loader: griffe.GriffeLoader) -> str | None:
    try:
        return loader.modules_collection[path].canonical_path
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _is_external(name: str) -> bool:
    """True for a name in another package or in builtins: shown as code, not linked."""
    first = name.split(".", 1)[0]
    if first == PACKAGE:
        return False
    if hasattr(builtins, first):
        return True
    try:
        return importlib.util.find_spec(first) is not None
    except (ImportError, ValueError):
        return False
