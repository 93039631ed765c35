"""Components for RAG frameworks and data engines, each an optional extra imported only where
it is used.

* :mod:`llmlingstral.integrations.langchain`: ``LLMLingstralCompressor``, a LangChain
  document compressor (``pip install 'llmlingstral[langchain]'``);
* :mod:`llmlingstral.integrations.llama_index`: ``LLMLingstralPostprocessor``, a LlamaIndex
  node postprocessor (``pip install 'llmlingstral[llama-index]'``);
* :mod:`llmlingstral.integrations.ray`: ``compress_dataset``, a Ray Data dataset compressed
  by an actor pool (``pip install 'llmlingstral[ray]'``);
* :func:`register_as_llmlingua`: lets the frameworks' own llmlingua wrappers import
  llmlingstral in place of ``llmlingua``.

Importing this package imports none of the frameworks.
"""

from .llmlingua_alias import register_as_llmlingua

__all__ = ["register_as_llmlingua"]
