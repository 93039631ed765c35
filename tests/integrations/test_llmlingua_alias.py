"""The frameworks' own llmlingua wrappers, run on llmlingstral (docs/integrations.md).

LangChain's ``LLMLinguaCompressor`` (langchain-community) and LlamaIndex's
``LongLLMLinguaPostprocessor`` (llama-index-postprocessor-longllmlingua) import ``llmlingua``
when they are built; :func:`register_as_llmlingua` answers that import with llmlingstral.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings

import pytest
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

import llmlingstral
from llmlingstral.integrations import register_as_llmlingua
from texts import documents, multilingual_documents

QUERY = "When does the harbour festival open?"

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # langchain-community's sunset notice
    from langchain_community.document_compressors import LLMLinguaCompressor
from llama_index.postprocessor.longllmlingua import LongLLMLinguaPostprocessor


@pytest.fixture
def llmlingua_alias(monkeypatch):
    """``import llmlingua`` gives llmlingstral for the test, and nothing after it."""
    monkeypatch.delitem(sys.modules, "llmlingua", raising=False)
    yield register_as_llmlingua()
    sys.modules.pop("llmlingua", None)


def _is_subsequence(part: str, whole: str) -> bool:
    remaining = iter("".join(whole.split()))
    return all(c in remaining for c in "".join(part.split()))


def _documents() -> list[Document]:
    texts = [t for t in multilingual_documents() if " " in t] + documents(4, 500)
    return [Document(page_content=t, metadata={"doc": i, "title": f"t{i}"})
            for i, t in enumerate(texts)]


# --------------------------------------------------------------------------- the alias


def test_the_alias_serves_llmlingua_imports(llmlingua_alias):
    from llmlingua import PromptCompressor

    assert llmlingua_alias is llmlingstral and PromptCompressor is llmlingstral.PromptCompressor


def test_the_alias_refuses_to_shadow_an_imported_llmlingua(monkeypatch):
    monkeypatch.setitem(sys.modules, "llmlingua", type(sys)("llmlingua"))
    with pytest.raises(ValueError, match="already imported"):
        register_as_llmlingua()


MICROSOFT_LLMLINGUA = importlib.util.find_spec("llmlingua") is not None


def test_without_the_alias_or_llmlingua_the_wrappers_cannot_be_built(nano, monkeypatch):
    # None in sys.modules makes "import llmlingua" fail, as on a machine without it.
    monkeypatch.setitem(sys.modules, "llmlingua", None)
    with pytest.raises(ImportError, match="llmlingua"):
        LLMLinguaCompressor(lingua=nano)
    with pytest.raises(ImportError, match="llmlingua"):
        LongLLMLinguaPostprocessor(model_name="nano", device_map="cpu")


@pytest.mark.skipif(not MICROSOFT_LLMLINGUA, reason="Microsoft's llmlingua is not installed")
def test_with_microsoft_llmlingua_installed_langchain_takes_a_ready_compressor(nano,
                                                                                monkeypatch):
    # llama-index-postprocessor-longllmlingua installs llmlingua; LangChain's wrapper then only
    # imports it and leaves the compressor it is handed alone.
    monkeypatch.delitem(sys.modules, "llmlingua", raising=False)
    inputs = _documents()
    outputs = LLMLinguaCompressor(lingua=nano, target_token=150).compress_documents(inputs, QUERY)
    assert sys.modules["llmlingua"] is not llmlingstral
    _assert_every_document_found(inputs, outputs)


# --------------------------------------------------------------------------- LangChain


def _assert_every_document_found(inputs: list[Document], outputs) -> None:
    assert outputs
    for document in outputs:
        assert document.metadata, document.page_content  # no document without metadata
        source = inputs[document.metadata["doc"]]
        assert document.metadata == source.metadata
        assert "<#ref" not in document.page_content
        assert _is_subsequence(document.page_content, source.page_content)


def test_langchain_wrapper_on_a_ready_compressor(nano, llmlingua_alias):
    inputs = _documents()
    outputs = LLMLinguaCompressor(lingua=nano, target_token=150).compress_documents(inputs, QUERY)
    _assert_every_document_found(inputs, outputs)
    assert len({d.metadata["doc"] for d in outputs}) < len(inputs)  # the coarse pass worked


def test_langchain_wrapper_returns_no_empty_document_on_a_small_budget(nano, llmlingua_alias):
    # At 80 tokens a document whose words were all dropped came back as its two markers,
    # which the wrapper turned into a Document with empty page_content.
    inputs = _documents()
    outputs = LLMLinguaCompressor(lingua=nano, target_token=80).compress_documents(inputs, QUERY)
    _assert_every_document_found(inputs, outputs)
    assert all(d.page_content.strip() for d in outputs), [d.page_content for d in outputs]


def test_langchain_wrapper_when_nothing_needs_cutting(nano, llmlingua_alias):
    inputs = _documents()
    outputs = LLMLinguaCompressor(lingua=nano, target_token=5000).compress_documents(inputs,
                                                                                      QUERY)
    _assert_every_document_found(inputs, outputs)  # and no question document
    # The wrapper itself turns blank lines into line breaks.
    assert [d.page_content for d in outputs] == \
        [d.page_content.replace("\n\n", "\n").strip() for d in inputs]


def test_langchain_wrapper_builds_the_compressor_itself(llmlingua_alias):
    compressor = LLMLinguaCompressor(model_name="nano", target_token=150)  # no device_map
    assert isinstance(compressor.lingua, llmlingstral.PromptCompressor)
    inputs = _documents()
    _assert_every_document_found(inputs, compressor.compress_documents(inputs, QUERY))


def test_langchain_wrapper_without_a_model_name_says_so(llmlingua_alias):
    with pytest.raises(TypeError, match="model_name must be a preset name"):
        LLMLinguaCompressor(device_map="cpu")


def test_langchain_wrapper_on_a_classifier(nano_lingua2, llmlingua_alias):
    inputs = _documents()
    # The default "longllmlingua" and "llmlingua": the classifier's own ranking, as llmlingua
    for rank_method in ("longllmlingua", "gzip", "llmlingua"):
        outputs = LLMLinguaCompressor(lingua=nano_lingua2, target_token=150,
                                      rank_method=rank_method).compress_documents(inputs, QUERY)
        _assert_every_document_found(inputs, outputs)
        assert all(QUERY not in d.page_content for d in outputs)  # no question document


# --------------------------------------------------------------------------- LlamaIndex


def _nodes() -> list[NodeWithScore]:
    return [NodeWithScore(node=TextNode(text=t, id_=f"node-{i}", metadata={"page": i}), score=0.9)
            for i, t in enumerate(documents(4, 400))]


def test_llama_index_wrapper_runs_but_merges_the_nodes(llmlingua_alias):
    postprocessor = LongLLMLinguaPostprocessor(model_name="nano", device_map="cpu")
    inputs = _nodes()
    outputs = postprocessor.postprocess_nodes(inputs, QueryBundle("What does argparse do?"))
    joined = "".join(n.node.text for n in inputs)
    assert outputs and all(_is_subsequence(n.node.text, joined) for n in outputs)
    # Its own behaviour: the compressed text is cut at blank lines, not at node boundaries,
    # and every output node gets new id, no score, and all inputs' metadata keyed by id.
    assert not {n.node.id_ for n in outputs} & {n.node.id_ for n in inputs}
    assert all(n.score is None for n in outputs)
    assert all(n.node.metadata == {f"node-{i}": {"page": i} for i in range(4)} for n in outputs)


def test_llama_index_wrapper_refuses_a_mistral_llmlingua2_model(llmlingua_alias):
    with pytest.raises(AssertionError, match="llmlingua-2-xlm-roberta"):
        LongLLMLinguaPostprocessor(model_name="nano-lingua2", device_map="cpu",
                                   use_llmlingua2=True)
