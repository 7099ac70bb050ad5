"""`python -m gradlab`: the gradlab command line."""

from gradlab.cli import main

raise SystemExit(main())
