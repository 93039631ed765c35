"""Record what each entry point makes of one small corpus, to compare before and after a change.

Every prompt of the corpus (three short documents and a question, in English, Chinese,
Japanese, Thai and Arabic) is compressed with LLMLingua, LongLLMLingua and LLMLingua-2 through
the command line (``compress``, in process), ``compress-batch``, the HTTP service (on
127.0.0.1), the framework components' core (``integrations.documents.compress_texts``) and
the Ray actor's callable (``integrations.ray.CompressBatch``, called directly: the actor runs
the same code). The compressed texts are written as JSON; ``--compare`` prints which differ
from an earlier recording.

    python benchmarks/record_entry_points.py --out before.json
    python benchmarks/record_entry_points.py --out after.json --compare before.json

Needs the ``serve`` extra; the tests folder is put on the path for its local server.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from multilingual import PARAGRAPHS  # noqa: E402

METHODS = ("llmlingua", "longllmlingua", "llmlingua2")
LANGUAGES = ("en", "zh", "ja", "th", "ar")
QUESTION = {"en": "When does the boat race start?", "zh": "划船比赛什么时候开始？",
            "ja": "ボートレースはいつ始まりますか？", "th": "การแข่งเรือเริ่มเมื่อไร",
            "ar": "متى يبدأ سباق القوارب؟"}
RATE = 0.5


def corpus() -> dict[str, tuple[list[str], str]]:
    """Each language's paragraph as three documents (its first third, an English paragraph
    and its rest), with the question in that language."""
    prompts = {}
    for language in LANGUAGES:
        text = PARAGRAPHS[language]
        cut = len(text) // 2
        documents = [text[:cut].strip(), PARAGRAPHS["en"], text[cut:].strip()]
        prompts[language] = (documents, QUESTION[language])
    return prompts


def via_cli(method: str, documents: list[str], question: str) -> str:
    from llmlingstral.cli import main

    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "prompt.txt"
        source.write_text("\n\n".join(documents), encoding="utf-8")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["compress", str(source), "--method", method, "--question", question,
                         "--rate", str(RATE), "--device", "cpu", "--quiet", "--json"])
        if code:
            raise RuntimeError(f"compress exited with {code}")
    return json.loads(out.getvalue())["compressed_prompt"]


def via_batch(method: str, prompts: dict[str, tuple[list[str], str]]) -> dict[str, str]:
    from llmlingstral.cli import main

    with tempfile.TemporaryDirectory() as folder:
        source, output = Path(folder) / "in.jsonl", Path(folder) / "out.jsonl"
        source.write_text("".join(json.dumps({"id": key, "context": "\n\n".join(docs),
                                              "question": question}, ensure_ascii=False) + "\n"
                                  for key, (docs, question) in prompts.items()),
                          encoding="utf-8")
        code = main(["compress-batch", str(source), str(output), "--method", method,
                     "--rate", str(RATE), "--device", "cpu", "--quiet"])
        if code:
            raise RuntimeError(f"compress-batch exited with {code}")
        rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    return {row["id"]: row["compressed_prompt"] for row in rows}


def via_service(server, method: str, documents: list[str], question: str) -> str:
    import httpx

    body = {"method": method, "context": documents, "question": question, "rate": RATE}
    reply = httpx.post(f"{server.url}/v1/compress", json=body, timeout=300)
    reply.raise_for_status()
    return reply.json()["compressed_prompt"]


def via_components(compressors, method: str, documents: list[str], question: str) -> str:
    from llmlingstral.integrations.documents import CompressionSettings, compress_texts

    compressor = compressors["llmlingua2" if method == "llmlingua2" else "causal"]
    kept = compress_texts(compressor, documents, question,
                          CompressionSettings(method=method, rate=RATE))
    return "\n\n".join(k.text for k in kept)


def via_ray_callable(method: str, prompts: dict[str, tuple[list[str], str]]) -> dict[str, str]:
    import numpy as np

    from llmlingstral.integrations.ray import CompressBatch

    model = "nano-lingua2" if method == "llmlingua2" else "nano"
    options = {"device_map": "cpu", "use_llmlingua2": method == "llmlingua2"}
    extra = {"method": method} if _ray_takes_method() else {}
    actor = CompressBatch(model, compressor_options=options, question_column="question",
                          compress_options={"rate": RATE}, **extra)
    keys = list(prompts)
    cells = np.empty(len(keys), dtype=object)
    cells[:] = [prompts[k][0] for k in keys]
    batch = {"text": cells, "question": np.array([prompts[k][1] for k in keys], dtype=object)}
    out = actor(batch)
    return dict(zip(keys, (str(t) for t in out["compressed_prompt"])))


def _ray_takes_method() -> bool:
    import inspect

    from llmlingstral.integrations.ray import CompressBatch

    return "method" in inspect.signature(CompressBatch).parameters


def record() -> dict[str, dict[str, dict[str, str]]]:
    from live_server import LiveServer

    from llmlingstral import PromptCompressor
    from llmlingstral.serve import ServeConfig, create_app

    prompts = corpus()
    compressors = {"causal": PromptCompressor("nano", device_map="cpu"),
                   "llmlingua2": PromptCompressor("nano-lingua2", device_map="cpu",
                                                  use_llmlingua2=True)}
    results: dict[str, dict[str, dict[str, str]]] = {}
    config = ServeConfig(model="nano", llmlingua2_model="nano-lingua2", device="cpu")
    with LiveServer(create_app(config)) as server:
        for method in METHODS:
            results[f"cli/{method}"] = {k: via_cli(method, *p) for k, p in prompts.items()}
            results[f"compress-batch/{method}"] = via_batch(method, prompts)
            results[f"service/{method}"] = {k: via_service(server, method, *p)
                                            for k, p in prompts.items()}
            results[f"components/{method}"] = {k: via_components(compressors, method, *p)
                                               for k, p in prompts.items()}
            results[f"ray/{method}"] = via_ray_callable(method, prompts)
            print(f"recorded {method}", file=sys.stderr, flush=True)
    return results


def compare(before: dict, after: dict) -> None:
    for entry in sorted(set(before) | set(after)):
        old, new = before.get(entry, {}), after.get(entry, {})
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        print(f"{entry}: {'unchanged' if not changed else 'changed: ' + ', '.join(changed)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--compare", type=Path, default=None,
                        help="an earlier recording to compare with")
    args = parser.parse_args()
    results = record()
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.compare is not None:
        compare(json.loads(args.compare.read_text(encoding="utf-8")), results)


if __name__ == "__main__":
    main()
