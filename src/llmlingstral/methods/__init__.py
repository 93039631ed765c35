"""Compression methods: LLMLingua, LongLLMLingua, LLMLingua-2, SecurityLingua."""
