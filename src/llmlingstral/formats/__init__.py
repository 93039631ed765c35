"""Prompt formats compressed through any compressor: structured (tagged) prompts and JSON.

Formats depend on :class:`.protocol.SegmentCompressor`, never on the ``PromptCompressor``
class.
"""
