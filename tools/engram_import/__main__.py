import sys

from .importer import main

sys.exit(main())
