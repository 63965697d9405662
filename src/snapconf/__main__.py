import sys

from snapconf.cli import main

sys.exit(main())
