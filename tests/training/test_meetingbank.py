"""MeetingBank-LLMCompressed files, in the schema the hub publishes, become training records."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llmlingstral.cli import main
from llmlingstral.training.labels import text_words
from llmlingstral.training.records import read_jsonl, read_pairs

# Rows as the dataset holds them: transcript, its chunks, and the chunk-wise compressions.
ROWS = [
    {"idx": 0,
     "prompt": "Speaker 1: The council will come to order. Clerk, please call the roll. "
               "Speaker 2: Councilmember Gonzalez. Here. Councilmember Herbold. Here.",
     "prompt_list": ["Speaker 1: The council will come to order. Clerk, please call the roll. ",
                     "Speaker 2: Councilmember Gonzalez. Here. Councilmember Herbold. Here."],
     "compressed_prompt": "council come order. call roll. Gonzalez. Here. Herbold. Here.",
     "compressed_prompt_list": ["council come order. call roll.",
                                "Gonzalez. Here. Herbold. Here."]},
    {"idx": 1,
     "prompt": "Speaker 1: Item 4 is the report of the budget committee on the 2019 levy.",
     "prompt_list": ["Speaker 1: Item 4 is the report of the budget committee on the 2019 levy."],
     "compressed_prompt": "Item 4 report budget committee 2019 levy.",
     "compressed_prompt_list": ["Item 4 report budget committee 2019 levy."]},
    {"idx": 2,  # chunk lists of different lengths cannot be aligned chunk by chunk
     "prompt": "Speaker 3: I move to adopt. Speaker 1: Seconded. All in favor?",
     "prompt_list": ["Speaker 3: I move to adopt. ", "Speaker 1: Seconded. All in favor?"],
     "compressed_prompt": "move adopt. Seconded.",
     "compressed_prompt_list": ["move adopt. Seconded."]},
]

SCHEMA = pa.schema([("idx", pa.int64()), ("prompt", pa.string()),
                    ("prompt_list", pa.list_(pa.string())),
                    ("compressed_prompt", pa.string()),
                    ("compressed_prompt_list", pa.list_(pa.string()))])


def _hub_download(folder):
    """The layout of a hub download: data/train-00000-of-00001.parquet."""
    path = folder / "data" / "train-00000-of-00001.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(ROWS, schema=SCHEMA), path)
    return path


def _run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("source", ["file", "folder"])
def test_parquet_download_becomes_chunk_records(tmp_path, capsys, source):
    parquet = _hub_download(tmp_path / "hub")
    output = tmp_path / "records.jsonl"
    target = parquet if source == "file" else tmp_path / "hub"
    code, out, _ = _run(["import-meetingbank", "--input", target, "--output", output], capsys)
    assert code == 0
    report = json.loads(out)
    assert report == {"rows": 3, "written": 2, "chunk_pairs": 3, "skipped_unequal_chunks": 1,
                      "skipped_empty": 0}
    pairs = [(p.id, p.prompt, p.compressed_prompt) for p in read_pairs(output)]
    assert pairs == [("0#0", ROWS[0]["prompt_list"][0], "council come order. call roll."),
                     ("0#1", ROWS[0]["prompt_list"][1], "Gonzalez. Here. Herbold. Here."),
                     ("1#0", ROWS[1]["prompt"], ROWS[1]["compressed_prompt"])]


def test_collection_script_json_keyed_by_idx_and_whole_texts(tmp_path, capsys):
    path = tmp_path / "compressed.json"
    path.write_text(json.dumps({str(r["idx"]): r for r in ROWS}, indent=4))
    output = tmp_path / "records.jsonl"
    code, out, _ = _run(["import-meetingbank", "--input", path, "--output", output,
                         "--whole-texts"], capsys)
    assert code == 0 and json.loads(out)["written"] == 3
    records = list(read_jsonl(output))
    assert [(r["idx"], r["prompt"], r["compressed_prompt"]) for r in records] == [
        (r["idx"], r["prompt"], r["compressed_prompt"]) for r in ROWS]


def test_imported_records_label_and_train(tmp_path, capsys, v03_dir):
    records, labelled = tmp_path / "records.jsonl", tmp_path / "labelled.jsonl"
    _run(["import-meetingbank", "--input", _hub_download(tmp_path / "hub"), "--output",
          records], capsys)
    code, out, _ = _run(["label-llmlingua2", "--input", records, "--output", labelled,
                         "--variation-percentile", "100", "--gap-percentile", "100",
                         "--no-protect"], capsys)  # the compression's own labels
    assert code == 0
    rows = list(read_jsonl(labelled))
    assert [r["id"] for r in rows] == ["0#0", "0#1", "1#0"]
    first = rows[0]
    kept = [w for w, keep in zip(text_words(first["prompt"]), first["labels"]) if keep]
    assert kept == ["council", "come", "order", ".", "call", "roll", "."]
    code, out, _ = _run(["train-llmlingua2", "--data", labelled, "--base", v03_dir,
                         "--output", tmp_path / "clf", "--max-steps", "1", "--batch-size", "2",
                         "--max-length", "64", "--valid-fraction", "0.34", "--device", "cpu",
                         "--quiet"], capsys)
    assert code == 0 and json.loads(out)["steps"] == 1


def test_a_row_without_texts_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"idx": 5, "transcript": "no prompt field here"}]))
    code, _, err = _run(["import-meetingbank", "--input", path, "--output",
                         tmp_path / "out.jsonl"], capsys)
    assert code == 2 and "idx 5" in err and "compressed_prompt" in err


def test_a_file_of_another_kind_is_refused(tmp_path, capsys):
    path = tmp_path / "rows.csv"
    path.write_text("idx,prompt\n0,text\n")
    code, _, err = _run(["import-meetingbank", "--input", path, "--output",
                         tmp_path / "out.jsonl"], capsys)
    assert code == 2 and ".parquet" in err
