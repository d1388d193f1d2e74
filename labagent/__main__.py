"""`python3 -m labagent` and the zipapp's entry point."""
import sys

from labagent.cli import main

sys.exit(main())
