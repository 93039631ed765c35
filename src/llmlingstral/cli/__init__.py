"""The ``llmlingstral`` command line.

* :mod:`.program`: the parser with every command, :func:`main` and the exit codes it maps
  errors to (the ``llmlingstral`` script; ``python -m llmlingstral.cli`` runs it too).
* :mod:`.compress`: ``llmlingstral compress``, one prompt from a file or stdin.
* :mod:`.compress_batch`: ``llmlingstral compress-batch``, a JSONL file of records; the
  resumable job it runs is :mod:`llmlingstral.execution.jsonl_job`.
* :mod:`.models`: ``llmlingstral models``, the presets and whether each is here.
* :mod:`.arguments`: the options compress and compress-batch share.
* :mod:`.inputs`: reading the input text and cutting it into documents.

``serve`` and the training commands are registered by :mod:`llmlingstral.serve.runner` and
:mod:`llmlingstral.training.cli`, beside the code they run. Building the parser imports no
torch.
"""

from .program import build_parser, main

__all__ = ["build_parser", "main"]
