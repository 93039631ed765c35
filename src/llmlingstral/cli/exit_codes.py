"""The exit codes of the ``llmlingstral`` command (documented in its reference page)."""

EXIT_OK = 0
EXIT_FAILURE = 1  # anything unexpected
EXIT_BAD_INPUT = 2  # bad arguments or input
EXIT_NO_FILE = 3  # input missing or unreadable (not UTF-8 text)
EXIT_NO_MODEL = 4  # model unavailable
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe
