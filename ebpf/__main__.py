"""``python -m ebpf``: the command line (:mod:`ebpf.cli`)."""

import sys

from ebpf.cli import main

sys.exit(main())
