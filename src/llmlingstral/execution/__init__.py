"""Running many prompts together; each prompt still gets its one-by-one result.

* :mod:`.batch`: ``PromptCompressor.compress_prompts`` and ``compress_requests``, the
  entry for many prompts; it hands each method's prompts to the strategy below.
* :mod:`.requests`: one prompt as a request (its keywords over the call's) and its outcome.
* :mod:`.shared_scores`: LLMLingua-2 and SecurityLingua: the word scores of every prompt
  computed in shared forward passes.
* :mod:`.lockstep`: LLMLingua and LongLLMLingua: the token-level steps of several prompts
  advance together.
* :mod:`.step_scores`: one lockstep step: every prompt's next chunk, scored in one call per
  scorer.
* :mod:`.jsonl_job`: the job behind ``llmlingstral compress-batch``: a JSONL file of
  records, compressed batch by batch, resumably.

The command-line front ends are in :mod:`llmlingstral.cli`.
"""
