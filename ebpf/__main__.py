"""``python -m ebpf``: the command line (:mod:`ebpf.cli`)."""

import sys

from ebpf.cli import main

if __name__ == "__main__":
    sys.exit(main())
