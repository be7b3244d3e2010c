"""Entry point of the bundled application: the same `warpaint` command.

PyInstaller freezes this script; with no arguments it opens the editor, as the
installed `warpaint` command does.
"""

import multiprocessing
import sys

from warpaint.app.cli import main

if __name__ == "__main__":
    # Data-loader workers and DDP spawn processes re-enter the frozen executable.
    multiprocessing.freeze_support()
    sys.exit(main())
