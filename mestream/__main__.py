import sys

from mestream.cli import main

sys.exit(main())
