"""MkDocs hook: links from a guide to a repository file outside docs/ (``../BENCHMARKS.md``).

The guides are also read in the repository, where such links work. The site holds docs/
only, so there the link becomes the file's path in code, which the reader finds in the
repository. A link to a file the repository does not hold is left as it is, and the strict
build reports it as broken.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

OUTSIDE_LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<target>(?:\.\./)+[^)#\s]+)(?:#[^)\s]*)?\)")


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    """Replace the page's links that leave docs/ for a file of the repository."""
    docs_dir = Path(config["docs_dir"]).resolve()
    page_dir = (docs_dir / page.file.src_uri).parent

    def replace(link: re.Match) -> str:
        target = (page_dir / link["target"]).resolve()
        root = docs_dir.parent
        if docs_dir in target.parents or root not in target.parents or not target.is_file():
            return link[0]
        path = target.relative_to(root).as_posix()
        text = link["text"].strip("`")
        return f"`{path}`" if text == path else f"{link['text']} (`{path}`)"

    return OUTSIDE_LINK.sub(replace, markdown)
