"""The public methods of llmlingua 0.2.2's ``PromptCompressor`` (from the release's
``llmlingua/prompt_compressor.py``): each parameter in positional order, with its default
(``REQUIRED`` where llmlingua has none). Helpers llmlingua uses only inside its own
pipeline (``load_model``, ``init_llmlingua2``, ``get_prefix_length``,
``get_dynamic_compression_ratio``, ``get_structured_dynamic_compression_ratio``,
``token_segment``, ``get_compressed_input``, ``get_estimate_threshold_base_distribution``,
``concate_segment_info``) are left out."""

from __future__ import annotations

REQUIRED = object()

_LLMLINGUA = [
    ("iterative_size", 200), ("force_context_ids", None), ("force_context_number", None),
    ("use_sentence_level_filter", False), ("use_context_level_filter", True),
    ("use_token_level_filter", True), ("keep_split", False), ("keep_first_sentence", 0),
    ("keep_last_sentence", 0), ("keep_sentence_number", 0), ("high_priority_bonus", 100),
    ("context_budget", "+100"), ("token_budget_ratio", 1.4), ("condition_in_question", "none"),
    ("reorder_context", "original"), ("dynamic_context_compression_ratio", 0.0),
    ("condition_compare", False), ("add_instruction", False), ("rank_method", "llmlingua"),
    ("concate_question", True),
]
_PROMPT = [("context", REQUIRED), ("instruction", ""), ("question", ""), ("rate", 0.5),
           ("target_token", -1)]
_LLMLINGUA2_ONLY = [
    ("target_context", -1), ("context_level_rate", 1.0), ("context_level_target_token", -1),
]
_WORD_OPTIONS = [
    ("return_word_label", False), ("word_sep", "\t\t|\t\t"), ("label_sep", " "),
    ("token_to_word", "mean"), ("force_tokens", []), ("force_reserve_digit", False),
    ("drop_consecutive", False), ("chunk_end_tokens", [".", "\n"]),
]
_SEGS = [("context_segs", None), ("context_segs_rate", None), ("context_segs_compress", None)]

SIGNATURES: dict[str, list[tuple[str, object]]] = {
    "__init__": [("model_name", "NousResearch/Llama-2-7b-hf"), ("device_map", "cuda"),
                 ("model_config", {}), ("open_api_config", {}), ("use_llmlingua2", False),
                 ("llmlingua2_config", {})],
    "compress_prompt": _PROMPT + _LLMLINGUA + _SEGS + _LLMLINGUA2_ONLY + _WORD_OPTIONS
    + [("strict_preserve_uncompressed", True)],
    "compress_prompt_llmlingua2": [
        ("context", REQUIRED), ("rate", 0.5), ("target_token", -1),
        ("use_context_level_filter", False), ("use_token_level_filter", True),
        *_LLMLINGUA2_ONLY, ("force_context_ids", []), *_WORD_OPTIONS],
    "structured_compress_prompt": _PROMPT + _LLMLINGUA + [("strict_preserve_uncompressed", True)],
    "compress_json": [
        ("json_data", REQUIRED), ("json_config", REQUIRED), ("instruction", ""),
        ("question", ""), ("rate", 0.5), ("target_token", -1), ("iterative_size", 200),
        ("use_sentence_level_filter", False), ("use_keyvalue_level_filter", False),
        ("use_token_level_filter", True), ("keep_split", False), ("keep_first_sentence", 0),
        ("keep_last_sentence", 0), ("keep_sentence_number", 0), ("high_priority_bonus", 100),
        ("context_budget", "+100"), ("token_budget_ratio", 1.4),
        ("condition_in_question", "none"), ("reorder_keyvalue", "original"),
        ("condition_compare", False), ("rank_method", "llmlingua")],
    "get_token_length": [("text", REQUIRED), ("add_special_tokens", True),
                         ("use_oai_tokenizer", False)],
    "get_ppl": [("text", REQUIRED), ("granularity", "sentence"), ("input_ids", None),
                ("attention_mask", None), ("past_key_values", None), ("return_kv", False),
                ("end", None), ("condition_mode", "none"), ("condition_pos_id", 0)],
    "get_condition_ppl": [("text", REQUIRED), ("question", REQUIRED),
                          ("condition_in_question", "none"), ("granularity", "sentence")],
    "control_context_budget": [
        ("context", REQUIRED), ("context_tokens_length", REQUIRED), ("target_token", REQUIRED),
        ("force_context_ids", None), ("force_context_number", None), ("question", ""),
        ("condition_in_question", "none"), ("reorder_context", "original"),
        ("dynamic_context_compression_ratio", 0.0), ("rank_method", "longllmlingua"),
        ("context_budget", "+100"), *_SEGS, ("strict_preserve_uncompressed", True)],
    "control_sentence_budget": [
        ("context", REQUIRED), ("target_token", REQUIRED), ("keep_first_sentence", 0),
        ("keep_last_sentence", 0), ("keep_sentence_number", 0), ("high_priority_bonus", 100),
        ("token_budget_ratio", 1.4), ("question", ""), ("condition_in_question", "none"),
        ("rank_method", "longllmlingua"), *_SEGS],
    "iterative_compress_prompt": [
        ("context", REQUIRED), ("target_token", REQUIRED), ("iterative_size", 200),
        ("keep_split", False), ("split_token_id", 13), ("start", 0), ("dynamic_ratio", None),
        ("condition_compare", False), ("segments_info", None)],
    "recover": [("original_prompt", REQUIRED), ("compressed_prompt", REQUIRED),
                ("response", REQUIRED)],
    "get_rank_results": [("context", REQUIRED), ("question", REQUIRED), ("rank_method", REQUIRED),
                         ("condition_in_question", REQUIRED),
                         ("context_tokens_length", REQUIRED)],
    "segment_structured_context": [("context", REQUIRED), ("global_rate", REQUIRED)],
}

# Defaults that differ on purpose: the default model and device are Mistral's and "auto";
# a required llmlingua parameter may have a default here.
DELIBERATE_DEFAULTS = {("__init__", "model_name"), ("__init__", "device_map")}
