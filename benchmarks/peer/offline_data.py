"""Offline stand-ins for the two files llmlingua 0.2.2 downloads at run time.

* ``tiktoken``: ``PromptCompressor.__init__`` calls ``tiktoken.encoding_for_model("gpt-3.5-turbo")``,
  which fetches ``cl100k_base.tiktoken``. This builds a tiktoken encoding (a ``.tiktoken`` rank
  file) from the Mistral v3 SentencePiece model that ships inside ``mistral-common``: the same
  pieces, merged in SentencePiece score order. llmlingua uses that encoding only to count
  tokens (its reported counts and LLMLingua-2's token budgets), so with the stand-in those
  counts are Mistral v3 tokens, the unit llmlingstral counts in.
  Runs in llmlingstral's environment (it needs ``sentencepiece`` and ``mistral-common``).
* ``punkt``: ``nltk.sent_tokenize`` (llmlingua's sentence filter) needs the Punkt English
  model. This trains one with ``nltk``'s own ``PunktTrainer`` on local English text (standard
  library docstrings and, when present, the NQ dev passages), adds common abbreviations and
  writes it both as ``punkt_tab`` (nltk >= 3.9) and as the older ``punkt`` pickle.
  Runs in the llmlingua environment (it needs ``nltk``).

    python offline_data.py tiktoken --out DIR      # writes DIR/cl100k_base.standin.tiktoken
    python offline_data.py punkt --out NLTK_DATA   # writes NLTK_DATA/tokenizers/punkt_tab/english/...

Neither builder touches the network.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIKTOKEN_FILE = "cl100k_base.standin.tiktoken"
TIKTOKEN_META = "cl100k_base.standin.json"
SPIECE = "\u2581"

# Split text the way the v3 SentencePiece model can merge it: a word with its leading space,
# digits one by one, whitespace runs (all but the space that starts the next word).
TIKTOKEN_PATTERN = r"""[ \u2581]?[^\s\d]+|[ \u2581]?\d|\s+(?!\S)|\s+"""
# Names of cl100k_base's special tokens, numbered after the ranks.
SPECIAL_NAMES = ("<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                 "<|endofprompt|>")

ABBREVIATIONS = (
    "mr mrs ms dr prof sr jr st mt ft vs etc e.g i.e cf al approx dept est fig no nos vol vols "
    "ed eds inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri "
    "sat sun gen col lt sgt capt rev gov sen rep pp p u.s u.k a.m p.m ph.d b.c a.d ca c"
).split()


# --------------------------------------------------------------------------- tiktoken


def build_tiktoken_ranks(model_path: Path) -> dict[bytes, int]:
    """Byte-level BPE ranks that reproduce a SentencePiece BPE model's segmentation.

    Ranks: the 256 bytes; then every multi-byte character of the vocabulary (with its byte
    prefixes), so characters are atomic as in SentencePiece; then the merged pieces by
    descending score (the order SentencePiece merges them). Each piece is entered twice: with
    its word-start marker as a space and as the literal marker character.
    """
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model_path.read_bytes())
    ranks: dict[bytes, int] = {bytes([b]): b for b in range(256)}

    def add(token: bytes) -> None:
        if token not in ranks:
            ranks[token] = len(ranks)

    normal = [p for p in proto.pieces if p.type == 1]  # NORMAL pieces; no control or byte
    for piece in normal:
        if len(piece.piece) == 1:
            for variant in _variants(piece.piece):
                for k in range(2, len(variant) + 1):
                    add(variant[:k])
    for piece in sorted((p for p in normal if len(p.piece) > 1), key=lambda p: -p.score):
        for variant in _variants(piece.piece):
            add(variant)
    return ranks


def _variants(piece: str) -> list[bytes]:
    spaced = piece.replace(SPIECE, " ").encode("utf-8")
    literal = piece.encode("utf-8")
    return [spaced] if spaced == literal else [spaced, literal]


def write_tiktoken(out: Path) -> Path:
    sys.path.insert(0, str(HERE.parents[1] / "src"))
    from llmlingstral.tokenization import _BUNDLED_FILES, bundled_tokenizer_dir

    model_path = bundled_tokenizer_dir() / _BUNDLED_FILES["v3"]
    ranks = build_tiktoken_ranks(model_path)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"{base64.b64encode(tok).decode()} {rank}" for tok, rank in
             sorted(ranks.items(), key=lambda kv: kv[1])]
    path = out / TIKTOKEN_FILE
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    meta = {"name": "cl100k_base", "pat_str": TIKTOKEN_PATTERN,
            "special_tokens": {name: len(ranks) + i for i, name in enumerate(SPECIAL_NAMES)},
            "source": f"mistral-common {model_path.name}", "ranks": len(ranks)}
    (out / TIKTOKEN_META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    _check_tiktoken(out)
    return path


def load_standin_encoding(folder: Path):
    """The stand-in as a ``tiktoken.Encoding`` named cl100k_base."""
    import tiktoken

    meta = json.loads((folder / TIKTOKEN_META).read_text(encoding="utf-8"))
    ranks = {}
    for line in (folder / TIKTOKEN_FILE).read_text(encoding="ascii").splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(name=meta["name"], pat_str=meta["pat_str"], mergeable_ranks=ranks,
                             special_tokens=meta["special_tokens"])


def install_tiktoken_standin(folder: Path) -> None:
    """Make ``tiktoken.get_encoding("cl100k_base")`` (and so ``encoding_for_model``) return the
    stand-in in this process, without any download."""
    import tiktoken.registry

    tiktoken.registry.ENCODINGS["cl100k_base"] = load_standin_encoding(folder)


def _check_tiktoken(folder: Path) -> None:
    """Round trip and agreement with the v3 tokenizer on a few texts."""
    from llmlingstral import load_tokenizer

    encoding = load_standin_encoding(folder)
    v3 = load_tokenizer("v3")
    texts = ["The quick brown fox jumps over the lazy dog.",
             "Zürich's 3 largest   lakes, in 1848: ½ of them!\n\nNew paragraph\tand tab.",
             "def f(x):\n    return x ** 2  # square"]
    for text in texts:
        ids = encoding.encode(text)
        if encoding.decode(ids) != text:
            raise SystemExit(f"tiktoken stand-in does not round-trip {text!r}")
    sys.path.insert(0, str(HERE.parent))
    from _common import prose

    sample = prose(200_000)[:200_000]
    ours, theirs = v3.count(sample), len(encoding.encode(sample))
    print(f"tiktoken stand-in: {encoding.n_vocab} tokens; on 200k characters of "
          f"prose {theirs} tokens vs {ours} Mistral v3 tokens ({100 * (theirs - ours) / ours:+.2f} %)")


# --------------------------------------------------------------------------- punkt


def training_text(max_chars: int = 2_000_000) -> str:
    """Local English prose: standard-library docstrings and the NQ dev passages."""
    sys.path.insert(0, str(HERE.parent))
    from _common import prose
    from _data import NQ_DEV_RECORDS, NQ_OPEN_ORACLE, require_file

    parts = [prose(600_000)[:600_000]]
    with gzip.open(require_file(NQ_OPEN_ORACLE), "rt", encoding="utf-8") as handle:
        for _, line in zip(range(NQ_DEV_RECORDS), handle):  # the dev split only
            parts.append(json.loads(line)["ctxs"][0]["text"])
    return "\n\n".join(parts)[:max_chars]


def write_punkt(nltk_data: Path) -> Path:
    import pickle

    from nltk.tokenize import punkt

    trainer = punkt.PunktTrainer()
    trainer.INCLUDE_ALL_COLLOCS = False
    trainer.train(training_text(), finalize=True)
    params = trainer.get_params()
    params.abbrev_types.update(ABBREVIATIONS)
    english = nltk_data / "tokenizers" / "punkt_tab" / "english"
    english.mkdir(parents=True, exist_ok=True)
    _write_punkt_tab(params, english)
    # nltk < 3.9 reads a pickled tokenizer instead.
    legacy = nltk_data / "tokenizers" / "punkt"
    legacy.mkdir(parents=True, exist_ok=True)
    with open(legacy / "english.pickle", "wb") as handle:
        pickle.dump(punkt.PunktSentenceTokenizer(params), handle)
    _check_punkt(nltk_data, params)
    return english


def _write_punkt_tab(params, folder: Path) -> None:
    """The four punkt_tab files (nltk's own save function refuses paths outside its sandbox)."""
    from nltk.tabdata import TabEncoder

    encoder = TabEncoder()
    files = {"collocations.tab": encoder.tups2tab(params.collocations),
             "sent_starters.txt": encoder.set2txt(params.sent_starters),
             "abbrev_types.txt": encoder.set2txt(params.abbrev_types),
             "ortho_context.tab": encoder.ivdict2tab(params.ortho_context)}
    for name, text in files.items():
        with open(folder / name, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)


def _check_punkt(nltk_data: Path, params) -> None:
    import nltk

    nltk.data.path.insert(0, str(nltk_data))
    text = ("Dr. Smith arrived on Jan. 3 at 10 a.m. and met Mr. Jones. They talked, e.g. about "
            "the U.S. budget. Then they left! Did it work? Yes.")
    sentences = nltk.sent_tokenize(text)
    print(f"punkt: {len(params.abbrev_types)} abbreviations, {len(params.collocations)} "
          f"collocations, {len(params.sent_starters)} sentence starters; sample -> "
          f"{len(sentences)} sentences")
    if not 4 <= len(sentences) <= 6:
        raise SystemExit(f"punkt stand-in splits the sample badly: {sentences}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["tiktoken", "punkt"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--force", action="store_true", help="rebuild even if present")
    args = parser.parse_args()
    if args.what == "tiktoken":
        if args.force or not (args.out / TIKTOKEN_META).is_file():
            write_tiktoken(args.out)
    else:
        if args.force or not (args.out / "tokenizers" / "punkt_tab" / "english"
                              / "collocations.tab").is_file():
            write_punkt(args.out)


if __name__ == "__main__":
    main()
