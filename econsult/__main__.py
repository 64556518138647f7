import sys

from econsult.cli import main

sys.exit(main())
